"""Fault tests with real processes: killed workers, a wiped Redis, two workers, dropped and repeated webhooks."""

from __future__ import annotations

import collections
import random
import signal
import time

import pytest
from sqlalchemy import func, select

from core.models import AuditEvent, Run, WebhookDelivery
from tests.support import factories
from tests.support.stack import Stack

pytestmark = pytest.mark.slow

FAST_RUNS = {"run_seconds": [0.1, 0.3], "max_parallelism": 10}


@pytest.fixture
def stack(tmp_path, database_url, redis_server):
    s = Stack(tmp_path, database_url, redis_server)
    yield s
    s.stop()


def make_job(stack: Stack, runs: int, companies: int = 10) -> int:
    per_company = max(1, runs // companies)
    with stack.db.write() as s:
        owner = factories.user(s)
        return factories.job(s, owner, {f"Company {c}": per_company for c in range(companies)}, batch_size=1).id


def launches_per_run(record: dict) -> collections.Counter:
    return collections.Counter(
        (launch.get("userCustomMetadata") or {}).get("leadrelay_run") for launch in record["launches"]
    )


def assert_all_runs_succeeded_once(stack: Stack, job_id: int) -> dict:
    with stack.db.read() as s:
        runs = list(s.scalars(select(Run).where(Run.job_id == job_id)))
    statuses = collections.Counter(run.status for run in runs)
    assert statuses == {"success": len(runs)}, statuses
    record = stack.record()
    per_run = launches_per_run(record)
    doubled = {run_id: n for run_id, n in per_run.items() if n > 1}
    assert not doubled, f"runs launched twice: {doubled}"
    assert set(per_run) == {str(run.id) for run in runs}
    assert record["max_concurrent"] == 1
    return record


def wait_until(condition, timeout: float = 60.0) -> None:
    """Wait for a condition with a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_sigkill_worker_at_random_moments(stack):
    """SIGKILL the worker 50 times during a 100-run job: no run lost, none launched twice, the job completes."""
    stack.start(faults={**FAST_RUNS, "seed": 11})
    job_id = make_job(stack, 100)
    rng = random.Random(2026)
    kills = 0
    deadline = time.monotonic() + 900
    while kills < 50 and stack.job(job_id).finished_at is None:
        assert time.monotonic() < deadline
        time.sleep(rng.uniform(0.2, 1.6))  # the fault itself: a kill at a random moment, not a wait for a condition
        stack.kill("worker", signal.SIGKILL)
        kills += 1
        stack.start_worker()
    job = stack.wait_job(job_id, timeout=300)
    assert kills >= 50, f"the job finished after only {kills} kills"
    assert job.status == "completed" and job.completed_leads == 100
    assert_all_runs_succeeded_once(stack, job_id)


def test_redis_wiped_mid_job(stack):
    """Kill the Redis-compatible server and restart it with its data gone: every run still ends."""
    stack.start(faults={**FAST_RUNS, "seed": 12})
    job_id = make_job(stack, 20)
    wait_until(lambda: stack.job(job_id).completed_batches >= 2)  # mid-job
    stack.redis.kill()
    time.sleep(2.0)  # the fault itself: the queue server stays down for two seconds
    stack.redis.restart(wipe=True)
    job = stack.wait_job(job_id, timeout=180)
    assert job.status == "completed" and job.completed_leads == 20
    assert_all_runs_succeeded_once(stack, job_id)


def test_two_workers_never_two_runs(stack):
    stack.start(faults={**FAST_RUNS, "seed": 13}, workers=2)
    job_id = make_job(stack, 30)
    job = stack.wait_job(job_id, timeout=180)
    assert job.status == "completed"
    assert_all_runs_succeeded_once(stack, job_id)


def test_every_webhook_dropped_runs_end_by_polling(stack):
    stack.start(faults={**FAST_RUNS, "webhook_drop_rate": 1.0, "seed": 14})
    job_id = make_job(stack, 10)
    job = stack.wait_job(job_id, timeout=120)
    assert job.status == "completed" and job.completed_leads == 10
    assert_all_runs_succeeded_once(stack, job_id)
    with stack.db.read() as s:
        assert s.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_each_webhook_ten_times_one_effect(stack):
    stack.start(faults={**FAST_RUNS, "webhook_duplicates": 10, "seed": 15})
    job_id = make_job(stack, 10)
    job = stack.wait_job(job_id, timeout=120)
    assert job.status == "completed"
    assert_all_runs_succeeded_once(stack, job_id)

    def all_copies_arrived() -> bool:
        with stack.db.read() as s:
            return s.scalar(select(func.sum(WebhookDelivery.duplicates))) == 90

    wait_until(all_copies_arrived)
    with stack.db.read() as s:
        deliveries = list(s.scalars(select(WebhookDelivery)))
        ends = collections.Counter(
            run_id for (run_id,) in s.execute(select(AuditEvent.run_id).where(AuditEvent.action == "run_success"))
        )
    assert len(deliveries) == 10 and all(d.duplicates == 9 for d in deliveries)
    assert len(ends) == 10 and set(ends.values()) == {1}


def test_graceful_stop_hands_back_work(stack):
    """SIGTERM is the graceful stop: the worker exits cleanly mid-job and the next one carries on."""
    stack.start(faults={**FAST_RUNS, "seed": 16})
    job_id = make_job(stack, 20)
    for _ in range(5):
        stack.wait_worker_ready()
        time.sleep(0.5)  # the fault itself: a graceful stop half a second into the worker's life
        proc = stack.procs["worker"]
        stack.kill("worker", signal.SIGTERM)
        assert proc.returncode == 0, stack.log("worker")[-2000:]
        stack.start_worker()
    job = stack.wait_job(job_id, timeout=120)
    assert job.status == "completed" and job.completed_leads == 20
    assert_all_runs_succeeded_once(stack, job_id)
