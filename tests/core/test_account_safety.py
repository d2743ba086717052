"""The LinkedIn account kept safe, against the sandbox over real HTTP: a dead session stops the queue, not the jobs;
a set-up PhantomBuster refuses pauses; execution time used up and LinkedIn slowing down block until they clear."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import accounts, notifications, notify_prefs, queue_controls, waiting
from core.engine import Engine
from core.models import AccountLaunch, Job, Lead, Run, User, utcnow
from core.notify_tables import AlertState, OutboxMessage
from core.reconciler import Reconciler
from core.wait_reasons import Reason
from tests.support import factories
from tests.support.doorbell import QueueDoorbell
from tests.support.servers import ServerThread
from webhook_server import create_app


class Rig:
    def __init__(self, db, settings, sandbox, base_url: str) -> None:
        self.db, self.sb, self.bell = db, sandbox, QueueDoorbell()
        self.settings = settings.model_copy(update={"expected_run_seconds": 0.2, "public_base_url": base_url})
        self.engine = Engine(db, sandbox.client(sleep=lambda _: None), self.settings, self.bell, worker_id="w")
        self.reconciler = Reconciler(db, self.engine, self.bell, self.settings, worker_id="w")

    def drain(self, done, timeout: float = 30.0) -> None:
        self.bell.drain(self.engine, self.reconciler, done, timeout)

    def account(self):
        with self.db.read() as s:
            return accounts.current(s, self.settings)

    def counts(self) -> dict[str, int]:
        with self.db.read() as s:
            return dict(s.execute(select(Lead.status, func.count()).group_by(Lead.status)).all())

    def launches(self) -> int:
        return len(self.sb.record()["launches"])


@pytest.fixture
def rig(db, settings, sandbox_process) -> Iterator[Rig]:
    sandbox_process.reset(run_seconds=[0.05, 0.1], max_parallelism=10, seed=41)
    with ServerThread(create_app(settings, db, QueueDoorbell())) as server:
        yield Rig(db, settings, sandbox_process, server.url)


def _three_analysts(rig: Rig) -> tuple[list[int], User]:
    with rig.db.write() as s:
        root = factories.user(s, "root", "admin")
        ids = [
            factories.job(s, factories.user(s, name), {f"{name.title()} AS": 4}, batch_size=2).id
            for name in ("ana", "ole", "kari")
        ]
    return ids, root


@pytest.mark.parametrize("code", [83, 84, 85, 87])
def test_a_dead_session_costs_one_run_no_lead_and_waits_for_the_admin(rig, code):
    rig.sb.set_faults(exit_codes={str(code): 1.0})
    job_ids, root = _three_analysts(rig)
    rig.engine.dispatch()
    rig.drain(lambda: rig.account().paused_kind == accounts.Hold.SESSION)
    for _ in range(3):  # more passes and rings: nothing else launches on a dead session
        rig.reconciler.run_once()
        while rig.bell.run_next(rig.engine, rig.reconciler):
            pass
    assert rig.launches() == 1, "more than one run was spent on the expired session"
    assert rig.counts() == {"pending": 12}, "a lead failed (or was used up) on a dead session"
    account = rig.account()
    assert f"exit {code}" in account.paused_reason
    with rig.db.read() as s:
        assert s.scalar(select(func.count()).select_from(AccountLaunch)) == 0  # nothing counted against today
        runs = {r.status for r in s.scalars(select(Run))}
        reasons = waiting.for_jobs(s, rig.settings, job_ids, utcnow())
    assert runs == {"pending"}
    assert {w.reason for w in reasons.values()} == {Reason.SESSION_PAUSED}  # what every analyst is told

    rig.sb.set_faults(exit_codes={})
    queue_controls.session_renewed(rig.db, rig.bell, rig.settings, root)
    rig.drain(lambda: rig.counts() == {"success": 12})
    account = rig.account()
    assert account.paused_kind is None and account.ramp_started_at is not None
    assert account.ramp_start_share == rig.settings.account_reconnect_share  # a lower volume, ramping back


def test_a_launch_refused_as_a_configuration_error_pauses_with_its_reason(rig, sandbox_process):
    _job_ids, root = _three_analysts(rig)
    rig.engine.client = sandbox_process.client(agent_id="9999", sleep=lambda _: None)
    rig.engine.dispatch()
    account = rig.account()
    assert account.paused_kind == accounts.Hold.CONFIGURATION
    assert "PhantomBuster refused the launch" in account.paused_reason
    rig.reconciler.run_once()
    while rig.bell.run_next(rig.engine, rig.reconciler):
        pass
    assert rig.launches() == 0 and rig.counts() == {"pending": 12}
    with rig.db.read() as s:
        assert {r.status for r in s.scalars(select(Run))} == {"pending"}
        assert s.scalar(select(func.count()).where(Job.status == "failed")) == 0
    rig.engine.client = sandbox_process.client(sleep=lambda _: None)
    queue_controls.resume_account(rig.db, rig.bell, rig.settings, root)
    rig.drain(lambda: rig.counts() == {"success": 12})


def test_execution_time_used_up_blocks_until_the_reset(rig):
    rig.sb.set_faults(execution_time_end_rate=1.0)
    job_ids, _root = _three_analysts(rig)
    rig.engine.dispatch()
    rig.drain(lambda: rig.account().blocked_kind == accounts.Hold.EXECUTION_TIME)
    account = rig.account()
    assert account.blocked_until is not None and account.blocked_until > utcnow() + timedelta(hours=1)
    rig.reconciler.run_once()
    while rig.bell.run_next(rig.engine, rig.reconciler):
        pass
    assert rig.launches() == 1 and rig.counts() == {"pending": 12}
    with rig.db.read() as s:
        reason = waiting.for_jobs(s, rig.settings, job_ids, utcnow())[job_ids[1]]
    assert reason.reason == Reason.EXECUTION_TIME and reason.clears_at == account.blocked_until


def test_linkedin_slowing_the_account_down_backs_off_for_hours(rig):
    rig.sb.set_faults(rate_limited_rate=1.0)
    _three_analysts(rig)
    rig.engine.dispatch()
    rig.drain(lambda: rig.account().blocked_kind == accounts.Hold.RATE_LIMITED)
    account = rig.account()
    assert account.blocked_until >= utcnow() + timedelta(hours=rig.settings.rate_limit_backoff_hours - 0.1)
    assert rig.launches() == 1


def test_a_dead_session_tells_the_admins_and_each_waiting_owner_once_and_a_renewal_closes_it(rig):
    rig.sb.set_faults(exit_codes={"84": 1.0})
    job_ids, root = _three_analysts(rig)
    with rig.db.read() as s:
        people = {u.name: u for u in s.scalars(select(User))}
    for name in ("root", "ana", "ole"):  # kari saved no channel: nothing to send her
        notify_prefs.save(
            rig.db,
            rig.settings,
            people[name],
            email=f"{name}@example.com",
            on_completed=True,
            on_failed=True,
            on_needs_admin=True,
        )
    rig.engine.dispatch()
    rig.drain(lambda: rig.account().paused_kind == accounts.Hold.SESSION)
    rig.reconciler.run_once()  # another pass while paused tells nobody again
    with rig.db.read() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        alert = s.get(AlertState, notifications.ACCOUNT_PAUSED)
    assert sorted((r.event, r.user_id) for r in rows) == sorted(
        [("account_paused", root.id), ("job_needs_admin", people["ana"].id), ("job_needs_admin", people["ole"].id)]
    )
    assert {r.job_id for r in rows if r.event == "job_needs_admin"} == set(job_ids[:2])
    assert "exit 84" in rows[0].payload["reason"]
    assert alert is not None and alert.is_open

    rig.sb.set_faults(exit_codes={})
    queue_controls.session_renewed(rig.db, rig.bell, rig.settings, root)
    with rig.db.read() as s:
        assert not s.get(AlertState, notifications.ACCOUNT_PAUSED).is_open  # the next pause is told again
