"""What the engine's steps share: the run read at once, its next check planned (one ticket live), delays measured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from core import jobs, run_steps
from core.errors import PhantomBusterError
from core.models import Run, RunStatus
from tests.support import factories
from tests.support.doorbell import QueueDoorbell

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _job_with_a_run_in_flight(db, settings) -> tuple[int, int]:
    with db.write() as s:
        ana = factories.user(s, "ana")
        job = factories.job(s, ana, {"Acme": 2})
        run_id = s.scalar(select(Run.id).where(Run.job_id == job.id))
        s.execute(update(Run).where(Run.id == run_id).values(status=RunStatus.PHANTOM_LAUNCHED, container_id="c-1"))
    return job.id, run_id


def test_a_check_planned_twice_leaves_only_the_last_ticket_live(db, settings):
    _job_id, run_id = _job_with_a_run_in_flight(db, settings)
    bell = QueueDoorbell()
    assert run_steps.check_later(db, bell, lambda: NOW, run_id, None, 5.0) == "waiting"
    unreachable = PhantomBusterError("PhantomBuster did not answer.", retryable=True)
    assert run_steps.check_later(db, bell, lambda: NOW, run_id, unreachable, 8.0) == "unreachable"
    assert [args for _, args in bell.rung] == [(run_id, 1), (run_id, 2)]
    snapshot = run_steps.read_run(db, run_id)
    assert snapshot.check_ticket == 2  # the engine drops a check whose ticket is older
    with db.read() as s:
        assert s.get(Run, run_id).next_check_at.replace(tzinfo=UTC) == NOW + timedelta(seconds=8)


def test_a_run_no_longer_in_flight_gets_no_check(db, settings):
    _job_id, run_id = _job_with_a_run_in_flight(db, settings)
    with db.write() as s:
        s.execute(update(Run).where(Run.id == run_id).values(status=RunStatus.SUCCESS))
    bell = QueueDoorbell()
    assert run_steps.check_later(db, bell, lambda: NOW, run_id, None, 5.0) == "not_in_flight"
    assert bell.rung == []
    assert run_steps.check_later(db, bell, lambda: NOW, 99_999, None, 5.0) == "not_in_flight"


def test_the_snapshot_says_when_the_job_was_cancelled(db, settings):
    job_id, run_id = _job_with_a_run_in_flight(db, settings)
    assert run_steps.read_run(db, run_id).job_cancelled is False
    with db.write() as s:
        ana = factories.user(s, "root", "admin")
        jobs.cancel_job(s, ana, job_id)
    snapshot = run_steps.read_run(db, run_id)
    assert snapshot.job_cancelled and snapshot.container_id == "c-1" and snapshot.status == RunStatus.PHANTOM_LAUNCHED
    assert run_steps.read_run(db, 99_999) is None


def test_check_delays_follow_the_expected_run_time_within_bounds(db, settings):
    quick = settings.model_copy(update={"expected_run_seconds": 0.2})
    slow = settings.model_copy(update={"expected_run_seconds": 600.0})
    assert run_steps.first_check_delay(db, quick) == 1.0  # never sooner than a second
    assert run_steps.first_check_delay(db, slow) == 900.0
    assert run_steps.recheck_delay(db, quick) == 1.0
    assert run_steps.recheck_delay(db, slow) == 30.0  # a long run is still looked at every 30 s
