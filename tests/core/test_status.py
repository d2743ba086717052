"""What the slot is doing, as the slot lane, the status API and metrics read it: only what PhantomBuster confirmed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from core import status
from core.lifecycle import slot
from core.models import Run, RunStatus, utcnow
from tests.support import factories


def _queued(db, companies: dict[str, int]) -> list[int]:
    with db.write() as s:
        job = factories.job(s, factories.user(s, "ana"), companies, batch_size=2)
        return list(s.scalars(select(Run.id).where(Run.job_id == job.id).order_by(Run.id)))


def test_idle_paused_and_blocked_each_say_why(db):
    now = utcnow()
    with db.read() as s:
        assert status.slot_view(s, now).state == "idle"
    with db.write() as s:
        slot.block(s, 60, "PhantomBuster answered 429; trying again in a minute.", now=now)
    with db.read() as s:
        view = status.slot_view(s, now)
        later = status.slot_view(s, now + timedelta(seconds=61))
    assert (view.state, view.reason) == ("blocked", "PhantomBuster answered 429; trying again in a minute.")
    assert later.state == "idle"  # a block clears by itself
    with db.write() as s:
        slot.set_paused(s, True, "maintenance")
    with db.read() as s:
        assert (status.slot_view(s, now).state, status.slot_view(s, now).reason) == ("paused", "maintenance")


def test_a_run_holding_the_slot_is_launching_until_phantombuster_confirms_it(db, settings):
    run_id = _queued(db, {"Acme": 2})[0]
    now = utcnow()
    with db.write() as s:
        slot.acquire(s, holder="w", run_id=run_id, ttl=60, now=now)
        s.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status=RunStatus.LAUNCHING, launch_requested_at=now, launch_unanswered_at=now)
        )
    with db.read() as s:
        view = status.slot_view(s, now + timedelta(seconds=4))
    assert (view.state, view.run_id, view.company) == ("launching", run_id, "Acme")
    assert "not confirmed the launch" in view.reason and view.elapsed_seconds == 4.0
    with db.write() as s:
        s.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status=RunStatus.PHANTOM_LAUNCHED, container_id="c-9", launched_at=now + timedelta(seconds=5))
        )
    with db.read() as s:
        view = status.slot_view(s, now + timedelta(seconds=20))
        answer = status.phantom_status(s, settings, now + timedelta(seconds=20))
        counts = status.runs_by_status(s)
    assert (view.state, view.container_id, view.elapsed_seconds, view.reason) == ("running", "c-9", 15.0, None)
    assert answer["is_processing"] and answer["current_company"] == "Acme"
    assert answer["current_job_duration"] == 15 and answer["slot"]["state"] == "running"
    assert counts == {RunStatus.PHANTOM_LAUNCHED: 1}


def test_the_status_answer_lists_queued_jobs_in_order_with_their_estimates(db, settings):
    _queued(db, {"Acme": 2, "Beta": 2, "Gamma": 2})
    now = utcnow()
    with db.read() as s:
        answer = status.phantom_status(s, settings, now)
    assert answer["is_processing"] is False and answer["queue_length"] == 3
    assert answer["estimates_measured"] is False  # no run measured yet: a first guess, and it says so
    (job,) = answer["jobs"]
    assert job["position"] == 1 and job["runs_left"] == 3
    low, high = job["band"]
    assert low <= job["estimated_completion"] <= high and job["estimated_completion"].endswith("Z")
    assert answer["today"]["sent"] == 0 and answer["today"]["left"] > 0
