"""A real LeadRelay stack for end-to-end tests: sandbox, webhook server and worker processes on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis as redis_lib

from core.db import Database
from core.models import Job
from core.processes import worker_argv
from tests.support.services import RedisServer, free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    """Starts and stops the project's processes against one database and Redis-compatible server."""

    def __init__(self, tmp_path: Path, database_url: str, redis: RedisServer, **settings: Any) -> None:
        self.tmp = tmp_path
        self.redis = redis
        self.database_url = database_url
        self.sandbox_port = free_port()
        self.webhook_port = free_port()
        self.env = {
            **os.environ,
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "SANDBOX_PORT": str(self.sandbox_port),
            "WEBHOOK_PORT": str(self.webhook_port),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.webhook_port}",
            "RECONCILE_INTERVAL_SECONDS": "1",
            "LAUNCH_LEASE_SECONDS": "4",
            "EXPECTED_RUN_SECONDS": "1",
            "BUSY_BACKOFF_SECONDS": "1",
            "PHANTOMBUSTER_TIMEOUT_SECONDS": "3",
            "LOG_LEVEL": "WARNING",
        }
        for key in ("PHANTOMBUSTER_API_KEY", "PHANTOMBUSTER_BASE_URL", "PHANTOMBUSTER_WEBHOOK_SECRET"):
            self.env.pop(key, None)
        self.env.update({k.upper(): str(v) for k, v in settings.items()})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.db = Database(database_url)
        self.sandbox = httpx.Client(base_url=f"http://127.0.0.1:{self.sandbox_port}", timeout=10)

    # -- processes -----------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], port: int | None = None) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        if port is not None:
            wait_port(port, 20, proc)
        return proc

    def start_sandbox(self, faults: dict[str, Any] | None = None) -> None:
        from core.config import DEV_WEBHOOK_SECRET, SANDBOX_AGENT_ID, WEBHOOK_PATH

        url = f"http://127.0.0.1:{self.webhook_port}{WEBHOOK_PATH}?secret={DEV_WEBHOOK_SECRET}"
        argv = [
            sys.executable,
            "-m",
            "sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.sandbox_port),
            "--agent-id",
            SANDBOX_AGENT_ID,
            "--webhook-url",
            url,
        ]
        self._spawn("sandbox", argv, self.sandbox_port)
        if faults:
            self.set_faults(faults)

    def start_webhook_server(self) -> None:
        self._spawn("webhook", [sys.executable, "webhook_server.py"], self.webhook_port)

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        argv = worker_argv(sys.executable, shutdown_timeout=10)
        return self._spawn(name, argv)

    def wait_worker_ready(self, name: str = "worker", timeout: float = 30.0) -> None:
        """Wait until the worker's startup reconcile has run (its heartbeat names its pid): signals are handled."""
        from core.models import Heartbeat

        pid = self.procs[name].pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.db.read() as session:
                beat = session.get(Heartbeat, "worker")
                if beat is not None and str(beat.details.get("worker_id", "")).endswith(f":{pid}"):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"worker {name} (pid {pid}) did not start in {timeout} s:\n{self.log(name)[-2000:]}")

    def start(self, faults: dict[str, Any] | None = None, workers: int = 1) -> Stack:
        # Tests share one Redis-compatible server: start each stack with an empty queue.
        client = redis_lib.Redis.from_url(self.redis.url)
        client.flushall()
        client.close()
        self.start_sandbox(faults)
        self.start_webhook_server()
        for i in range(workers):
            self.start_worker("worker" if i == 0 else f"worker{i}")
        return self

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)
        self.sandbox.close()
        self.db.dispose()

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- sandbox control -----------------------------------------------------------------------------

    def set_faults(self, faults: dict[str, Any]) -> None:
        self.sandbox.post("/__sandbox/faults", json=faults).raise_for_status()

    def record(self) -> dict[str, Any]:
        response = self.sandbox.get("/__sandbox/record")
        response.raise_for_status()
        return response.json()

    # -- app side ------------------------------------------------------------------------------------

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "core", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def job(self, job_id: int) -> Job:
        with self.db.read() as session:
            job = session.get(Job, job_id)
            assert job is not None
            return job

    def wait_job(self, job_id: int, timeout: float = 60.0) -> Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job.finished_at is not None:
                return job
            time.sleep(0.2)
        raise TimeoutError(
            f"job {job_id} did not finish in {timeout} s: {self.job(job_id).percentage}%\n"
            f"worker log:\n{self.log('worker')[-3000:]}"
        )
