"""The engine and reconciler against the sandbox over real HTTP: launches, completions, crashes at each step."""

from __future__ import annotations

import heapq
import itertools
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from core import jobs, slot
from core.engine import Engine
from core.models import Job, Lead, Run, utcnow
from core.reconciler import reconcile
from tests.support import factories

ROOT = Path(__file__).resolve().parents[2]


class QueueScheduler:
    """A tiny in-process consumer: follow-ups are queued with their due time and drained in order."""

    def __init__(self) -> None:
        self.tasks: list[tuple[float, int, str, tuple]] = []
        self._seq = itertools.count()

    def _add(self, delay: float, name: str, *args: object) -> None:
        heapq.heappush(self.tasks, (time.monotonic() + delay, next(self._seq), name, args))

    def wake(self, delay: float = 0.0) -> None:
        self._add(delay, "dispatch")

    def check_run(self, run_id: int, delay: float) -> None:
        self._add(min(delay, 0.3), "check", run_id)

    def complete(self, container_id: str) -> None:
        self._add(0, "complete", container_id)

    def drain(self, engine: Engine, done, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "engine did not finish in time"
            if not self.tasks or self.tasks[0][0] > time.monotonic():
                time.sleep(0.02)
                if not self.tasks:
                    reconcile(engine)
                continue
            _, _, name, args = heapq.heappop(self.tasks)
            {"dispatch": engine.dispatch, "check": engine.check_run, "complete": engine.complete_container}[name](*args)


@pytest.fixture
def rig(db, settings, sandbox_process):
    sandbox_process.reset(run_seconds=[0.05, 0.1], max_parallelism=10, seed=3)
    s = settings.model_copy(update={"launch_lease_seconds": 60.0, "expected_run_seconds": 0.2})
    sched = QueueScheduler()
    engine = Engine(db, sandbox_process.client(sleep=lambda _: None), s, sched, worker_id="test-worker")
    return engine, sched, sandbox_process


def _job_done(db, job_id):
    def done() -> bool:
        with db.read() as s:
            return s.get(Job, job_id).finished_at is not None

    return done


def test_job_runs_one_at_a_time_to_completion(rig, db):
    engine, sched, sb = rig
    with db.write() as s:
        owner = factories.user(s)
        job_id = factories.job(s, owner, {"Acme": 4, "Beta": 3, "Gamma": 2}, batch_size=2).id
    assert engine.dispatch() is not None
    sched.drain(engine, _job_done(db, job_id))
    with db.read() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.completed_leads, job.total_batches) == ("completed", 9, 5)
        assert all(lead.profile for lead in s.scalars(select(Lead).where(Lead.job_id == job_id)))
    record = sb.record()
    assert record["max_concurrent"] == 1 and len(record["launches"]) == 5


def test_crash_after_claim_before_launch_relaunches_once(rig, db):
    engine, sched, sb = rig
    with db.write() as s:
        owner = factories.user(s)
        job_id = factories.job(s, owner, {"Acme": 2}, batch_size=2).id
        plan = engine.claim_next(s, utcnow(), "worker")  # the worker dies right after this commit
    assert plan is not None
    with db.write() as s:  # the lease expires
        slot.fence(s, plan.token, expires_at=utcnow() - timedelta(seconds=1))
    reconcile(engine)
    sched.drain(engine, _job_done(db, job_id))
    assert len(sb.record()["launches"]) == 1


def test_crash_after_launch_before_record_adopts_container(rig, db):
    engine, sched, sb = rig
    with db.write() as s:
        owner = factories.user(s)
        job_id = factories.job(s, owner, {"Acme": 2}, batch_size=2).id
        plan = engine.claim_next(s, utcnow(), "worker")
    # The launch reaches PhantomBuster, then the worker dies before recording the container.
    engine.client.launch(
        {"profileUrls": plan.urls}, metadata={"leadrelay_run": str(plan.run_id), "leadrelay_fence": str(plan.token)}
    )
    with db.write() as s:
        slot.fence(s, plan.token, expires_at=utcnow() - timedelta(seconds=1))
    reconcile(engine)
    sched.drain(engine, _job_done(db, job_id))
    record = sb.record()
    assert len(record["launches"]) == 1, "the run was launched twice"
    with db.read() as s:
        assert s.get(Job, job_id).completed_leads == 2


def test_stale_holder_cannot_write(rig, db):
    engine, _sched, _sb = rig
    with db.write() as s:
        owner = factories.user(s)
        factories.job(s, owner, {"Acme": 2}, batch_size=2)
        plan = engine.claim_next(s, utcnow(), "worker")
    with db.write() as s:
        slot.fence(s, plan.token, expires_at=utcnow() - timedelta(seconds=1))
        assert slot.take_over(s, holder="other", token=plan.token, ttl=60) is not None
    engine.record_launched(plan, "999", "worker")  # the old holder's write is refused
    with db.read() as s:
        run = s.get(Run, plan.run_id)
        assert run.status == "launching" and run.container_id is None


def test_dropped_webhooks_end_by_polling_and_failures_are_explained(rig, db):
    engine, sched, sb = rig
    sb.reset(run_seconds=[0.05, 0.1], exit_codes={"87": 1.0}, seed=4)
    with db.write() as s:
        owner = factories.user(s)
        job_id = factories.job(s, owner, {"Acme": 2}, batch_size=2).id
    engine.dispatch()
    sched.drain(engine, _job_done(db, job_id))
    with db.read() as s:
        job = s.get(Job, job_id)
        run = s.scalar(select(Run).where(Run.job_id == job_id))
    assert job.status == "failed" and run.status == "failed" and run.attempts == 1
    assert "LinkedIn session cookie expired" in (job.error_message or "")


def test_retryable_failure_is_retried_then_dead_lettered(rig, db):
    engine, sched, sb = rig
    sb.reset(run_seconds=[0.05, 0.1], agent_timeout_rate=1.0, seed=5)
    with db.write() as s:
        owner = factories.user(s)
        job_id = factories.job(s, owner, {"Acme": 1}, batch_size=1).id
        s.execute(update(Run).values(not_before=None))
    engine.dispatch()
    # Retries wait a backoff; make it pass at once for the test.
    deadline = time.monotonic() + 30
    while not _job_done(db, job_id)():
        with db.write() as s:
            s.execute(update(Run).where(Run.status == "pending").values(not_before=None))
        sched.drain(engine, lambda: not sched.tasks or _job_done(db, job_id)(), timeout=10)
        reconcile(engine)
        assert time.monotonic() < deadline
    with db.read() as s:
        run = s.scalar(select(Run).where(Run.job_id == job_id))
    assert run.status == "failed" and run.attempts == engine.settings.max_run_attempts and run.dead_reason
    assert len(sb.record()["launches"]) == engine.settings.max_run_attempts


def test_run_past_sequential_queue_timeout_is_stopped_and_timed_out(rig, db):
    engine, _sched, sb = rig
    sb.reset(run_seconds=[30, 30], seed=6)
    # model_copy skips validation: a one-second timeout keeps the test short.
    engine.settings = engine.settings.model_copy(update={"sequential_queue_timeout": 1, "max_run_attempts": 1})
    with db.write() as s:
        owner = factories.user(s)
        job_id = factories.job(s, owner, {"Acme": 2}, batch_size=2).id
    engine.dispatch()
    time.sleep(1.2)
    actions = reconcile(engine).actions
    assert any("timed out" in action for action in actions), actions
    with db.read() as s:
        run = s.scalar(select(Run).where(Run.job_id == job_id))
        job = s.get(Job, job_id)
    assert run.status == "timed_out" and "within 1 second," in (run.dead_reason or "")
    assert job.status == "failed" and job.failed_leads == 2
    calls = [c["path"] for c in sb.record()["calls"]]
    assert any(path.endswith("agents/stop") for path in calls)
    with db.read() as s:
        assert slot.get(s).run_id is None


def test_cancel_stops_the_run_in_flight(rig, db):
    engine, sched, sb = rig
    sb.reset(run_seconds=[20, 20], seed=8)
    with db.write() as s:
        owner = factories.user(s)
        job_id = factories.job(s, owner, {"Acme": 2, "Beta": 2}, batch_size=2).id
    run_id = engine.dispatch()
    with db.write() as s:
        assert jobs.cancel_job(s, owner, job_id) == run_id
    assert engine.stop_run(run_id)

    def run_ended() -> bool:
        with db.read() as s:
            return s.get(Run, run_id).status not in ("phantom_launched", "webhook_received")

    sched.drain(engine, run_ended, timeout=20)
    with db.read() as s:
        runs = {r.id: r.status for r in s.scalars(select(Run).where(Run.job_id == job_id))}
        leads = set(s.scalars(select(Lead.status).where(Lead.job_id == job_id)))
        assert s.get(Job, job_id).status == "cancelled" and slot.get(s).run_id is None
    assert set(runs.values()) == {"cancelled"} and leads == {"cancelled"}
    assert any(c["path"].endswith("agents/stop") for c in sb.record()["calls"])
    assert len(sb.record()["launches"]) == 1
