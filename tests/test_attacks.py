"""The holes found by attacking the running system, tried again on real processes (sandbox, webhook server, worker).

Each prints the figure its issue asked for: PhantomBuster calls per run under 20 webhooks, the time a container
PhantomBuster forgot takes to end, a late launch adopted once.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import select

from core.config import DEV_WEBHOOK_SECRET, WEBHOOK_PATH
from core.models import Job, Run
from tests.support import factories
from tests.support.stack import Stack
from tests.test_faults import assert_all_runs_succeeded_once, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path, database_url, redis_server):
    s = Stack(tmp_path, database_url, redis_server)
    yield s
    s.stop()


def _job(stack: Stack, companies: dict[str, int], batch_size: int = 2) -> int:
    with stack.db.write() as s:
        owner = factories.user(s)
        return factories.job(s, owner, companies, batch_size=batch_size).id


def _run(stack: Stack, job_id: int, seq: int = 1) -> Run:
    with stack.db.read() as s:
        return s.scalar(select(Run).where(Run.job_id == job_id, Run.seq == seq))


def _webhook(stack: Stack, body: dict) -> int:
    url = f"http://127.0.0.1:{stack.webhook_port}{WEBHOOK_PATH}?secret={DEV_WEBHOOK_SECRET}"
    return httpx.post(url, content=json.dumps(body), timeout=10).status_code


def _fetches(stack: Stack, container_id: str) -> int:
    return sum(
        1
        for c in stack.record()["calls"]
        if c["path"].endswith("containers/fetch") and c.get("containerId") == container_id
    )


def test_twenty_webhooks_for_a_running_container_add_no_check_chain(stack):
    # Six seconds of running, no webhook of PhantomBuster's own: the run ends by the check chain alone.
    stack.start(faults={"run_seconds": [6, 6], "webhook_drop_rate": 1.0, "max_parallelism": 10, "seed": 31})
    job_id = _job(stack, {"Acme": 2})
    wait_until(lambda: _run(stack, job_id).container_id is not None)
    container = _run(stack, job_id).container_id
    for n in range(20):  # twenty deliveries over two seconds while PhantomBuster still runs it
        assert _webhook(stack, {"containerId": container, "exitCode": 0, "runDuration": n}) == 200
        time.sleep(0.1)  # the attack's pace, not a wait for a condition
    job = stack.wait_job(job_id, timeout=60)
    assert job.status == "completed"
    calls = _fetches(stack, container)
    print(f"\ncontainers/fetch calls for one 6-second run under 20 webhooks: {calls}")
    # About one check a second while it runs (EXPECTED_RUN_SECONDS=1 here), plus at most one per second of webhooks.
    assert calls <= 12, calls


def test_a_container_phantombuster_forgot_ends_within_a_reconcile_interval(stack):
    stack.start(faults={"run_seconds": [30, 30], "max_parallelism": 10, "seed": 32})
    job_id = _job(stack, {"Acme": 2})
    wait_until(lambda: _run(stack, job_id).container_id is not None)
    lost = _run(stack, job_id).container_id
    stack.sandbox.post("/__sandbox/reset").raise_for_status()  # PhantomBuster forgets every container
    forgotten = time.monotonic()
    stack.set_faults({"run_seconds": [0.2, 0.4], "max_parallelism": 10})
    wait_until(lambda: _run(stack, job_id).container_id != lost, timeout=30)
    took = time.monotonic() - forgotten
    print(f"\na run whose container PhantomBuster forgot left it after {took:.1f} s")
    assert took <= 5.0, took
    job = stack.wait_job(job_id, timeout=60)
    assert job.status == "completed" and job.completed_leads == 2
    assert "Traceback" not in stack.log("worker")


def test_a_launch_processed_late_is_adopted_once(stack):
    # PhantomBuster holds the first launch 6 s before processing it; the client gives up after 3 s.
    stack.start(
        faults={
            "run_seconds": [0.2, 0.4], "max_parallelism": 10, "seed": 33,
            "hang_seconds": 6, "hang_endpoints": ["agents/launch"], "hang_count": 1, "hang_mode": "before",
        }
    )  # fmt: skip
    job_id = _job(stack, {"Acme": 2, "Beta": 2})
    job = stack.wait_job(job_id, timeout=90)
    assert job.status == "completed" and job.completed_leads == 4
    assert_all_runs_succeeded_once(stack, job_id)
    assert stack.record()["max_concurrent"] == 1


def test_a_forged_first_webhook_changes_nothing_and_is_not_kept(stack):
    stack.start(faults={"run_seconds": [3, 3], "max_parallelism": 10, "seed": 34})
    job_id = _job(stack, {"Acme": 2})
    wait_until(lambda: _run(stack, job_id).container_id is not None)
    container = _run(stack, job_id).container_id
    forged = {"containerId": container, "exitCode": 1, "exitMessage": "killed", "resultObject": "forged"}
    assert _webhook(stack, forged) == 200
    status = httpx.get(
        f"http://127.0.0.1:{stack.webhook_port}/api/phantom_buster/status",
        headers={"Authorization": "Bearer dev-status-token"},
        timeout=10,
    ).json()
    assert status["slot"]["state"] == "running" and status["is_processing"]
    run = _run(stack, job_id)
    assert run.status == "phantom_launched" and run.webhook_payload is None
    job = stack.wait_job(job_id, timeout=60)
    run = _run(stack, job_id)
    assert job.status == "completed" and run.status == "success"
    assert run.webhook_payload["exitCode"] == 0 and run.webhook_payload["resultObject"] != "forged"
    with stack.db.read() as s:
        assert s.get(Job, job_id).completed_leads == 2
