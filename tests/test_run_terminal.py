"""`python -m core run` (what `make run` starts): a line per job and run event, nothing secret, and Ctrl-C stopping
Streamlit, the webhook server and the worker first and the Redis-compatible server last, with no traceback."""

from __future__ import annotations

import contextlib
import csv
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from core import jobs
from core.config import DEV_STATUS_TOKEN, DEV_WEBHOOK_SECRET, SANDBOX_API_KEY
from core.models import AuditEvent, Lead, Run, utcnow
from core.processes import EventFeed, event_lines, redact
from tests.support import factories
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[1]
STARTED = re.compile(r"\| started (\w+) \(pid (\d+)\)")


class Terminal:
    """`python -m core run` in its own process group, as a shell runs a foreground job; its output kept."""

    def __init__(self, tmp: Path, **extra: str) -> None:
        self.ports = {name: free_port() for name in ("STREAMLIT_PORT", "WEBHOOK_PORT", "SANDBOX_PORT", "REDIS_PORT")}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PHANTOMBUSTER_", "DATABASE_URL", "REDIS_URL"))}
        env.update({k: str(v) for k, v in self.ports.items()})
        env.update(
            DATA_DIR=str(tmp / "data"),
            PUBLIC_BASE_URL=f"http://127.0.0.1:{self.ports['WEBHOOK_PORT']}",
            SANDBOX_FAULTS='{"run_seconds": [0.2, 0.5], "seed": 3}',
            RECONCILE_INTERVAL_SECONDS="1",
            **extra,
        )
        self.env = env
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "core", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_line(self, pattern: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if re.search(pattern, line):
                    return line
            if self.proc.poll() is not None and not any(re.search(pattern, x) for x in self.lines):
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}:\n{self.text[-4000:]}")

    def pids(self) -> dict[str, int]:
        return {m.group(1): int(m.group(2)) for line in list(self.lines) if (m := STARTED.search(line))}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "core", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )

    def _ours(self, pid: int) -> bool:
        # A pid may have been reused since: only a process started with this terminal's data dir is ours.
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return False
        return f"DATA_DIR={self.env['DATA_DIR']}".encode() in environ

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for pid in self.pids().values():  # nothing left behind when a test fails half-way
            if self._ours(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def watch_deaths(pids: dict[str, int], stop: threading.Event) -> dict[str, float]:
    """When each process ended, seen from outside every 5 ms (a zombie counts as ended)."""
    ended: dict[str, float] = {}

    def loop() -> None:
        while not stop.is_set() and len(ended) < len(pids):
            for name, pid in pids.items():
                if name not in ended and _dead(pid):
                    ended[name] = time.monotonic()
            time.sleep(0.005)

    threading.Thread(target=loop, daemon=True).start()
    return ended


@pytest.fixture
def terminal(tmp_path):
    made: list[Terminal] = []

    def start(**extra: str) -> Terminal:
        made.append(Terminal(tmp_path, **extra))
        return made[-1]

    yield start
    for t in made:
        t.close()


@pytest.mark.slow
def test_the_terminal_shows_job_and_run_events_and_ctrl_c_stops_redis_last(terminal, tmp_path):
    term = terminal()
    term.wait_line(r"started web \(pid")
    url = f"http://127.0.0.1:{term.ports['STREAMLIT_PORT']}/_stcore/health"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).text.strip() == "ok":
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    leads = tmp_path / "leads.csv"
    with open(leads, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["First Name", "Last Name", "Company", "LinkedIn URL"])
        for i in range(6):
            writer.writerow([f"P{i}", "N", "Acme" if i < 3 else "Beta AS", f"https://www.linkedin.com/in/term-{i}"])
    result = term.cli("import", str(leads), "--owner", "analyst", "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    job = int(result.stdout.split()[1])
    term.wait_line(rf"events  \| job #{job} \(Acme, Beta AS\) queued: 6 leads in 4 run\(s\)")
    term.wait_line(rf"events  \| job #{job} run 1/4 \(Acme\) launched: 2 leads")
    term.wait_line(rf"events  \| job #{job} run 4/4 \(Beta AS\) finished: 1 enriched, 0 failed")
    term.wait_line(rf"events  \| job #{job} \(Acme, Beta AS\) completed: 6 enriched, 0 failed")

    pids = term.pids()
    assert set(pids) == {"redis", "sandbox", "webhook", "worker", "web"}
    stop = threading.Event()
    ended = watch_deaths(pids, stop)
    pressed = time.monotonic()
    os.killpg(term.proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the foreground group gets SIGINT
    assert term.proc.wait(90) == 0
    deadline = time.monotonic() + 5
    while len(ended) < len(pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    order = sorted(ended, key=ended.get)
    assert set(ended) == set(pids), term.text[-3000:]
    first = max(ended[n] for n in ("web", "webhook", "worker"))
    assert first < ended["sandbox"] < ended["redis"], (order, {n: round(t - pressed, 3) for n, t in ended.items()})
    term.wait_line(r"leadrelay\| stopped redis \(exit 0\)", 5)
    assert "Traceback" not in term.text and "ConnectionError" not in term.text, term.text[-3000:]
    for secret in (DEV_WEBHOOK_SECRET, DEV_STATUS_TOKEN, SANDBOX_API_KEY):
        assert secret not in term.text
    assert re.search(r"/batches/(?!\*\*\*)", term.text) is None


@pytest.mark.slow
def test_a_process_that_cannot_start_stops_the_others_in_order(terminal):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        term = terminal(STREAMLIT_PORT=str(taken.getsockname()[1]))
        assert term.proc.wait(90) != 0
    text = term.text
    assert "web ended by itself" in text and "stopped redis (exit 0)" in text
    assert text.index("stopped worker") < text.index("stopped sandbox") < text.index("stopped redis")
    assert "Traceback" not in text


def test_event_lines_say_what_happened_to_which_job_and_company(db):
    with db.write() as s:
        ana = factories.user(s, "ana")
        job = factories.job(s, ana, {"Acme": 3, "Beta AS": 1}, batch_size=3)
        s.add(AuditEvent(actor="worker", action="job_created", job_id=job.id, details={"to_send": 4, "runs": 2}))
    feed = EventFeed(db)
    assert feed.poll() == []  # only what happens from start-up on
    with db.write() as s:
        runs = list(s.query(Run).filter_by(job_id=job.id).order_by(Run.seq))
        s.add(AuditEvent(actor="worker", action="phantom_launched", job_id=job.id, run_id=runs[0].id, details={}))
        s.add(
            AuditEvent(
                actor="worker",
                action="run_failed",
                job_id=job.id,
                run_id=runs[1].id,
                details={"reason": "The agent's\nsession expired: see https://x/y?token=abc123"},
            )
        )
        s.add(AuditEvent(actor="worker", action="slot_handed_over", job_id=job.id, details={}))
        s.execute(update(Lead).where(Lead.job_id == job.id).values(status="success"))
        s.execute(update(Run).where(Run.job_id == job.id).values(status="success", ended_at=utcnow()))
        jobs.refresh_progress(s, job.id)
    assert feed.poll() == [
        f"job #{job.id} run 1/2 (Acme) launched: 3 leads",
        f"job #{job.id} run 2/2 (Beta AS) failed: The agent's session expired: see https://x/y?token=***",
        f"job #{job.id} (Acme, Beta AS) completed: 4 enriched, 0 failed",
    ]
    with db.read() as s:
        assert event_lines(s, 10**9) == ([], 10**9)
    assert redact("GET /batches/AbC-12_x.csv?secret=s3") == "GET /batches/***.csv?secret=***"
