"""The worker process: with a real key it refuses to start on an agent LeadRelay cannot use, saying what to change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.config import SANDBOX_AGENT_ID, SANDBOX_API_KEY, WEBHOOK_PATH

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = "https://leadrelay.example.com"
SECRET = "a-long-and-random-webhook-secret"


def _start_worker(sandbox, tmp_path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # A "real" key: the sandbox answers in PhantomBuster's place, so the start-up check runs against it.
        "PHANTOMBUSTER_API_KEY": SANDBOX_API_KEY,
        "PHANTOMBUSTER_BASE_URL": sandbox.api_url,
        "PHANTOMBUSTER_AGENT_ID": SANDBOX_AGENT_ID,
        "PHANTOMBUSTER_WEBHOOK_SECRET": SECRET,
        "PUBLIC_BASE_URL": PUBLIC,
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
    }
    return subprocess.run(
        [sys.executable, "-c", "import worker"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _save_agent(sandbox, **fields) -> None:
    client = sandbox.client()
    client._request("POST", "agents/save", json={"id": SANDBOX_AGENT_ID, **fields})
    client.http.close()


def test_the_worker_refuses_a_badly_configured_agent_and_starts_on_a_good_one(sandbox_process, tmp_path):
    sandbox_process.reset()
    try:
        _check(sandbox_process, tmp_path)
    finally:  # the session's sandbox is shared: give its agent back as it was
        _save_agent(sandbox_process, maxRetryNumber=0, notifications={"webhook": ""})


def _check(sandbox_process, tmp_path) -> None:
    _save_agent(sandbox_process, maxRetryNumber=2, notifications={"webhook": "https://elsewhere.example.com/hook"})
    refused = _start_worker(sandbox_process, tmp_path)
    assert refused.returncode != 0
    assert "The worker does not start" in refused.stderr and "retr" in refused.stderr.lower()
    assert "elsewhere.example.com" in refused.stderr or PUBLIC in refused.stderr
    assert SECRET not in refused.stderr

    good = f"{PUBLIC}{WEBHOOK_PATH}?secret={SECRET}"
    _save_agent(sandbox_process, maxRetryNumber=0, notifications={"webhook": good})
    started = _start_worker(sandbox_process, tmp_path)
    assert started.returncode == 0, started.stderr
