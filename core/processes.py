"""The processes `make run` starts: their command lines, the supervisor that stops them in order, the event lines."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import Database
from core.models import AuditEvent, Job, Run
from core.redis_server import command as redis_command


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One long-running process: a name for the log prefix and its command line."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    # The others start once this port answers (the queue server), so none of them starts by failing to connect.
    ready_port: int | None = None

    @property
    def cmd(self) -> str:
        return shlex.join(self.argv)


def worker_argv(python: str = sys.executable, shutdown_timeout: int = 30) -> list[str]:
    """The Huey consumer: one worker thread, SIGTERM as the graceful stop, interrupted tasks after the timeout."""
    return [python, "-m", "huey.bin.huey_consumer", "worker.huey", "-w", "1", "-k", "thread", "-g", "TERM",
            "-t", str(shutdown_timeout), "-q"]  # fmt: skip


def process_specs(settings: Settings, python: str = sys.executable) -> list[ProcessSpec]:
    """Redis-compatible server (when REDIS_URL is unset), sandbox (when no API key), webhook server, worker, UI."""
    specs: list[ProcessSpec] = []
    if settings.embedded_redis:
        specs.append(
            ProcessSpec(
                "redis",
                redis_command(settings.redis_port, settings.data_dir / "redis", settings.host),
                ready_port=settings.redis_port,
            )
        )
    if settings.sandbox_mode:
        specs.append(
            ProcessSpec(
                "sandbox",
                [
                    python,
                    "-m",
                    "sandbox",
                    "--host",
                    settings.host,
                    "--port",
                    str(settings.sandbox_port),
                    "--agent-id",
                    settings.effective_agent_id,
                    "--webhook-url",
                    settings.webhook_url,
                ],
            )
        )
    specs.append(ProcessSpec("webhook", [python, "webhook_server.py"]))
    specs.append(ProcessSpec("worker", worker_argv(python)))
    specs.append(
        ProcessSpec(
            "web",
            [
                python,
                "-m",
                "streamlit",
                "run",
                "streamlit_app.py",
                "--server.port",
                str(settings.streamlit_port),
                "--server.address",
                settings.host,
            ],
        )
    )
    return specs


# -- the supervisor: one terminal, every process's lines, Ctrl-C stopping them in order ---------------------------

# Who stops first: what uses the queue server and the sandbox, then the sandbox, and the queue server last, so
# no process is left talking to a server that is already gone (that was 40 lines of ConnectionError).
STOP_STAGES: tuple[tuple[str, ...], ...] = (("web", "webhook", "worker"), ("sandbox",), ("redis",))
# How long a stage may take before its processes are killed; the worker finishes its task first (-t 30).
STOP_TIMEOUTS = {"worker": 40.0}
DEFAULT_STOP_TIMEOUT = 10.0
_SECRETS = re.compile(r"((?:secret|key|token|password)=)[^&\s\"']+|(/batches/)[A-Za-z0-9_\-]+", re.IGNORECASE)


def redact(line: str) -> str:
    """A line with secrets in query strings and batch URL tokens masked."""
    return _SECRETS.sub(lambda m: (m.group(1) or m.group(2)) + "***", line)


@dataclass
class Supervised:
    """One running process and when it ended."""

    spec: ProcessSpec
    proc: subprocess.Popen[bytes]
    reader: threading.Thread
    exited_at: float | None = None


@dataclass
class Supervisor:
    """Starts the processes, prefixes their output, prints the event feed, and stops them stage by stage."""

    specs: Sequence[ProcessSpec]
    cwd: Path
    env: Mapping[str, str]
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    feed: Callable[[], list[str]] | None = None
    feed_interval: float = 1.0
    running: dict[str, Supervised] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _hurry: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _out_gone: bool = False

    def say(self, name: str, text: str) -> None:
        stamp = datetime.now(UTC).astimezone().strftime("%H:%M:%S")
        with self._lock:
            if self._out_gone:
                return
            try:
                self.out.write(f"{stamp} {name:<8}| {text}\n")
                self.out.flush()
            except (BrokenPipeError, ValueError):
                # The terminal or pipe reading us is gone (`make run | tee` after Ctrl-C): stopping matters more.
                self._out_gone = True

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._stop.is_set():
            self._hurry.set()  # a second Ctrl-C: kill what is left, still in order
        self._stop.set()

    def _pipe(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line:
                self.say(name, redact(line))
        stream.close()

    def _start(self, spec: ProcessSpec) -> None:
        env = {**self.env, "PYTHONUNBUFFERED": "1", **(spec.env or {})}
        # Its own session: the terminal's Ctrl-C reaches the supervisor only, which then stops each in its turn.
        proc = subprocess.Popen(
            spec.argv, cwd=self.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        assert proc.stdout is not None
        reader = threading.Thread(target=self._pipe, args=(spec.name, proc.stdout), daemon=True)
        reader.start()
        self.running[spec.name] = Supervised(spec, proc, reader)
        self.say("leadrelay", f"started {spec.name} (pid {proc.pid})")
        if spec.ready_port is not None:
            self._wait_port(spec, proc)

    def _wait_port(self, spec: ProcessSpec, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None and not self._stop.is_set():
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", spec.ready_port or 0)) == 0:
                    return
            time.sleep(0.05)

    def _exited(self) -> Supervised | None:
        for item in self.running.values():
            if item.proc.poll() is not None:
                return item
        return None

    def run(self) -> int:
        """Run until Ctrl-C (or SIGTERM) or until a process ends by itself; returns the exit code for the shell."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        failed: Supervised | None = None
        try:
            for spec in self.specs:
                if self._stop.is_set():
                    break
                self._start(spec)
            while not self._stop.wait(self.feed_interval):
                for line in self.feed() if self.feed else []:
                    self.say("events", line)
                failed = self._exited()
                if failed is not None:
                    self.say(
                        "leadrelay", f"{failed.spec.name} ended by itself (exit {failed.proc.returncode}); stopping"
                    )
                    break
            self.stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0 if failed is None else (failed.proc.returncode or 1)

    def stop_all(self) -> None:
        """Stop stage after stage (SIGTERM, then SIGKILL after the stage's timeout); print how each ended."""
        self.say("leadrelay", "stopping: web, webhook and worker first, the queue server last")
        staged = [name for stage in STOP_STAGES for name in stage]
        stages = [*STOP_STAGES, tuple(n for n in self.running if n not in staged)]
        for stage in stages:
            items = [self.running[n] for n in stage if n in self.running]
            for item in items:
                self._signal(item, signal.SIGKILL if self._hurry.is_set() else signal.SIGTERM)
            started = time.monotonic()
            timeout = max((STOP_TIMEOUTS.get(i.spec.name, DEFAULT_STOP_TIMEOUT) for i in items), default=0.0)
            while any(i.proc.poll() is None for i in items):
                if self._hurry.is_set() or time.monotonic() - started > timeout:
                    for item in items:
                        self._signal(item, signal.SIGKILL)
                time.sleep(0.02)
            for item in items:
                item.reader.join(5)
                code = item.proc.returncode
                how = f"exit {code}" if code >= 0 else f"on {signal.Signals(-code).name}"
                self.say("leadrelay", f"stopped {item.spec.name} ({how})")

    @staticmethod
    def _signal(item: Supervised, sig: int) -> None:
        if item.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(item.proc.pid, sig)


# -- the event feed: a line per job and run event, read from the audit log ---------------------------------------


def _one_line(text: object, limit: int = 160) -> str:
    return redact(" ".join(str(text).split()))[:limit]


def _event_line(event: AuditEvent, job: Job | None, run: Run | None) -> str | None:
    d = event.details or {}
    what = f"job #{event.job_id}"
    if run is not None and job is not None:
        what += f" run {run.seq}/{job.total_batches} ({_one_line(run.company or 'no company', 60)})"
    elif job is not None:
        what += f" ({_one_line(job.companies or 'no company', 80)})"
    action = event.action
    if action == "job_created":
        return f"{what} queued: {d.get('to_send', 0)} leads in {d.get('runs', 0)} run(s)"
    if action in ("phantom_launched", "run_adopted"):
        count = run.lead_count if run else 0
        return f"{what} launched: {count} lead{'' if count == 1 else 's'}"
    if action == "run_success":
        return f"{what} finished: {d.get('enriched', 0)} enriched, {d.get('failed', 0)} failed"
    if action in ("run_failed", "run_timed_out"):
        word = "timed out" if action == "run_timed_out" else "failed"
        return f"{what} {word}: {_one_line(d.get('reason') or 'no reason given')}"
    if action == "run_cancelled":
        return f"{what} cancelled"
    if action == "run_retry_scheduled":
        return f"{what} will be tried again: {_one_line(d.get('reason') or 'no reason given')}"
    if action == "run_requeued":
        return f"{what} back in the queue: {_one_line(d.get('reason') or '')}"
    if action == "job_completed":
        return f"{what} completed: {d.get('completed', 0)} enriched, {d.get('failed', 0)} failed"
    if action == "job_failed":
        return f"{what} failed: {_one_line((job.error_message if job else None) or 'no lead could be enriched')}"
    if action == "job_cancelled":
        return f"{what} cancelled"
    if action in ("queue_paused", "queue_resumed"):
        return f"queue {action.removeprefix('queue_')} by an admin"
    return None


def event_lines(session: Session, after_id: int, limit: int = 200) -> tuple[list[str], int]:
    """The lines for audit events after `after_id` (job and run events only), and the newest id read."""
    events = list(
        session.scalars(select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id).limit(limit))
    )
    if not events:
        return [], after_id
    job_ids = {e.job_id for e in events if e.job_id is not None}
    run_ids = {e.run_id for e in events if e.run_id is not None}
    jobs = {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(job_ids)))} if job_ids else {}
    runs = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(run_ids)))} if run_ids else {}
    lines = []
    for event in events:
        job = jobs.get(event.job_id) if event.job_id is not None else None
        run = runs.get(event.run_id) if event.run_id is not None else None
        line = _event_line(event, job, run)
        if line is not None:
            lines.append(line)
    return lines, events[-1].id


class EventFeed:
    """Reads the audit log's new job and run events once a second for the terminal (from start-up on)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.last_id: int | None = None
        self.problem: str | None = None

    def poll(self) -> list[str]:
        try:
            with self.db.read() as session:
                if self.last_id is None:
                    self.last_id = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0
                    return []
                lines, self.last_id = event_lines(session, self.last_id)
        except SQLAlchemyError as exc:
            # Shown once, not per second: the feed tries again and says so when it reads again.
            problem = f"cannot read the audit log ({type(exc).__name__}); events are not shown meanwhile"
            first, self.problem = self.problem is None, problem
            return [problem] if first else []
        if self.problem is not None:
            self.problem = None
            lines.insert(0, "the audit log is readable again")
        return lines
