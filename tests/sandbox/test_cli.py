"""`python -m sandbox` serves the API with the given key, agent and webhook, and logs no query strings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.sandbox.conftest import Receiver, wait_for
from tests.support.services import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_the_sandbox(receiver: Receiver, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "sandbox.log"
    faults = json.dumps({"run_seconds": [0.05, 0.05], "seed": 3})
    argv = [
        sys.executable,
        "-m",
        "sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--api-key",
        "k1",
        "--agent-id",
        "4000000000000009",
        "--webhook-url",
        receiver.url,
        "--faults",
        faults,
        "--timezone",
        "Europe/Oslo",
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    try:
        wait_port(port, proc=proc)
        base = f"http://127.0.0.1:{port}"
        r = httpx.post(
            f"{base}/api/v2/agents/launch",
            params={"key": "k1"},
            json={"id": "4000000000000009", "bonusArgument": {"spreadsheetUrl": "https://www.linkedin.com/in/a-b"}},
        )
        assert r.status_code == 200, r.text
        cid = r.json()["containerId"]
        body = wait_for(lambda: receiver.for_container(cid))[0]["body"]
        assert body["agentId"] == "4000000000000009" and body["exitCode"] == 0
        assert httpx.get(f"{base}/__sandbox/faults").json()["run_seconds"] == [0.05, 0.05]
        org = httpx.get(f"{base}/api/v2/orgs/fetch", headers={"X-Phantombuster-Key": "k1"}).json()
        assert org["timezone"] == "Europe/Oslo"
    finally:
        proc.terminate()
        proc.wait(10)
    time.sleep(0.05)
    text = log.read_text()
    assert "k1" not in text and "secret" not in text


def test_cli_rejects_bad_faults() -> None:
    argv = [sys.executable, "-m", "sandbox", "--port", str(free_port()), "--faults", '{"nope": 1}']
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "nope" in done.stderr
