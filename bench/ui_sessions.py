"""Live refresh at scale: 1, 10 and 30 browser sessions on the Task Manager while jobs run, against one Streamlit.

A real stack (sandbox, webhook server, worker, Streamlit, as in tests/browser/harness.py) on a fresh SQLite
database; one Debian Chromium under Playwright with one browser context (cookie jar) per analyst, each signed in
as a different analyst and left on the Task Manager. Every analyst has a job running or queued (the sandbox runs
them one at a time). Every `--every` seconds the bench changes each analyst's job in the database (its companies
text, which only this bench writes) and each page records, with a MutationObserver, when the new text shows.

Per phase (60 s each by default) it prints the Streamlit server process's CPU (its utime + stime from /proc over
the phase, as a share of one core, and per session), the median and p95 time from the database commit to the
page showing the change (a change never shown within 15 s counts as 15 s), and the machine's busy cores. The 1-session
phase is the baseline of the ratios. After the last phase py-spy samples the Streamlit server for `--profile`
seconds (outside the measured window) and the busiest functions are printed. The last line is one JSON object.
Goal: 30 sessions with p95_ms <= 4000 and server_cpu_share <= 0.5 of one core.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update

from core.db import Database
from core.models import Job, User
from core.schema import migrate
from tests.browser.harness import PASSWORD, AppServer, browser
from tests.support import factories
from tests.support.services import RedisServer, free_port

TICK = os.sysconf("SC_CLK_TCK")
NEVER_MS = 15_000.0
OBSERVER = """
() => {
  window.__want = null; window.__seen = {};
  const check = () => {
    const want = window.__want;
    if (want && !(want in window.__seen) && document.body.textContent.includes(want)) {
      window.__seen[want] = Date.now();
    }
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true});
  window.__check = check;
}
"""


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (children not included), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


def _frame(text: str) -> str:
    """'function (path/file.py:12)' as 'function (path/file.py)'."""
    name, _, where = text.partition(" (")
    return f"{name} ({where.split(':')[0].rstrip(')')})"


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def _sign_in(page: Any, url: str, name: str) -> None:
    """The harness's sign-in with the context's (long) timeout: 30 pages on 2 shared cores render slowly."""
    page.goto(url)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text(f"Signed in as {name}").wait_for()
    page.wait_for_function("document.cookie.includes('leadrelay_session=')")


class Bench:
    """The stack, the analysts, their running jobs and the signed-in pages."""

    def __init__(
        self, where: Path, sessions: int, servers: int = 1, streamlit_env: dict[str, str] | None = None
    ) -> None:
        db_path = where / "ui.db"
        db = Database(f"sqlite:///{db_path}")
        migrate(db)
        db.dispose()
        self.redis = RedisServer(where / "redis")
        # Runs of a few seconds each, one at a time: the cards' progress moves while the bench watches.
        self.server = AppServer(where, f"sqlite:///{db_path}", self.redis, expected_run_seconds=3)
        self.server.stack.env.update(streamlit_env or {})
        self.server.start(faults={"run_seconds": [2.0, 4.0], "seed": 1})
        # Further Streamlit servers on the same database, as behind a proxy with sticky sessions (each browser
        # session stays on one server, so the bench simply gives each session one server's address).
        self.urls = [self.server.url]
        self.pids = [self.server.stack.procs["streamlit"].pid]
        for i in range(1, servers):
            port = free_port()
            argv = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                    "--server.address", "127.0.0.1", "--server.headless", "true",
                    "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]  # fmt: skip
            self.pids.append(self.server.stack._spawn(f"streamlit{i}", argv, port).pid)
            self.urls.append(f"http://127.0.0.1:{port}")
        self.names = [f"analyst{i:02d}" for i in range(sessions)]
        with self.server.stack.db.write() as s:
            for name in self.names:
                user = factories.user(s, name)
                # 200 runs of ~3 s each, one at a time: every job is still running or queued when the bench ends.
                factories.job(s, user, {f"Company {name}": 400}, batch_size=2, file_name=f"{name}.xlsx")
        self.job_ids = self._job_ids()
        self.pages: list[tuple[str, Any]] = []
        self.round = 0

    def _job_ids(self) -> dict[str, int]:
        with self.server.stack.db.read() as s:
            rows = s.execute(select(User.name, Job.id).join(Job, Job.owner_id == User.id)).all()
        return {name: job_id for name, job_id in rows}

    def open_sessions(self, chromium: Any, upto: int) -> None:
        """Sign in further analysts (one browser context each) until `upto` pages are on the Task Manager."""
        while len(self.pages) < upto:
            name = self.names[len(self.pages)]
            context = chromium.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(180_000)
            page = context.new_page()
            _sign_in(page, self.urls[len(self.pages) % len(self.urls)], name)
            page.get_by_role("link", name="Task Manager", exact=True).click()
            page.get_by_role("heading", name="Task Manager").first.wait_for()
            page.evaluate(OBSERVER)
            self.pages.append((name, page))

    def change_and_watch(self, timeout_ms: float = NEVER_MS) -> list[float]:
        """Change every watched analyst's job once; the milliseconds until each page showed it."""
        self.round += 1
        tokens = {name: f"probe {self.round:04d} {name}" for name, _ in self.pages}
        for name, page in self.pages:
            page.evaluate("t => { window.__want = t; }", tokens[name])
        with self.server.stack.db.write() as s:
            for name, _ in self.pages:
                s.execute(update(Job).where(Job.id == self.job_ids[name]).values(companies=tokens[name]))
        committed = time.time() * 1000
        seen: dict[str, float] = {}
        while len(seen) < len(self.pages) and time.time() * 1000 - committed < timeout_ms:
            time.sleep(0.25)
            for name, page in self.pages:
                if name not in seen:
                    at = page.evaluate("t => window.__seen[t] || null", tokens[name])
                    if at:
                        seen[name] = max(0.0, at - committed)
        return [seen.get(name, timeout_ms) for name, _ in self.pages]

    def phase(self, seconds: float, every: float) -> dict[str, Any]:
        """Watch the open sessions for `seconds`: server CPU share, latencies, machine load."""
        cpu0 = [proc_cpu_seconds(pid) for pid in self.pids]
        (busy0, total0), t0 = machine_busy(), time.monotonic()
        latencies: list[float] = []
        missed = 0
        while time.monotonic() - t0 < seconds:
            started = time.monotonic()
            got = self.change_and_watch()
            latencies += got
            missed += sum(1 for ms in got if ms >= NEVER_MS)
            time.sleep(max(0.0, every - (time.monotonic() - started)))
        elapsed = time.monotonic() - t0
        cpus = [proc_cpu_seconds(pid) - before for pid, before in zip(self.pids, cpu0, strict=True)]
        busy1, total1 = machine_busy()
        n = len(self.pages)
        share = max(cpus) / elapsed
        return {
            "sessions": n,
            "seconds": round(elapsed, 1),
            "samples": len(latencies),
            "missed": missed,
            "p50_ms": round(statistics.median(latencies)),
            "p95_ms": round(p95(latencies)),
            "server_cpu_share": round(share, 3),
            "cpu_per_session": round(sum(cpus) / elapsed / n, 4),
            "servers": len(self.pids),
            "all_servers_cpu": round(sum(cpus) / elapsed, 3),
            "machine_busy_cores": round((busy1 - busy0) / (total1 - total0) * os.cpu_count(), 2),
        }

    def profile(self, seconds: float, where: Path) -> list[tuple[str, float]]:
        """py-spy on the Streamlit server: the share of samples in which each of our and Streamlit's functions is
        on the stack (inclusive), busiest first."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        out = where / "streamlit.collapsed"
        result = subprocess.run(
            [spy, "record", "-p", str(self.pids[0]), "-d", str(int(seconds)), "-r", "50", "-f", "raw",
             "-o", str(out), "--nonblocking"],
            capture_output=True, text=True, timeout=seconds + 60,
        )  # fmt: skip
        if result.returncode != 0 or not out.exists():
            print(f"py-spy failed: {result.stderr.strip()[-300:]}", flush=True)
            return []
        inclusive: collections.Counter[str] = collections.Counter()
        leaf: collections.Counter[str] = collections.Counter()
        total = 0
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            total += int(count)
            frames = [_frame(f) for f in stack.split(";") if " (" in f]
            for frame in set(frames):
                inclusive[frame] += int(count)
            if frames:
                leaf["self: " + frames[-1]] += int(count)
        if not total:
            return []
        # The thread and script-runner entry frames are on nearly every stack: they say nothing.
        telling = [(f, n) for f, n in inclusive.most_common(200) if n / total < 0.85]
        return [(f, round(n / total, 3)) for f, n in [*leaf.most_common(12), *telling[:28]]]

    def stop(self) -> None:
        self.server.stop()
        self.redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,10,30", help="the phases, comma-separated")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between database changes")
    parser.add_argument("--profile", type=float, default=20.0, help="py-spy seconds after the last phase (0: none)")
    parser.add_argument("--servers", type=int, default=1, help="Streamlit servers, sessions spread over them")
    parser.add_argument(
        "--streamlit-env", action="append", default=[], help="KEY=VALUE for the servers (e.g. a Streamlit option)"
    )
    args = parser.parse_args()
    phases = [int(n) for n in args.sessions.split(",")]
    where = Path(tempfile.mkdtemp(prefix="leadrelay-ui-sessions-"))
    extra = dict(item.split("=", 1) for item in args.streamlit_env)
    bench = Bench(where, max(phases), servers=args.servers, streamlit_env=extra)
    results: list[dict[str, Any]] = []
    top: list[tuple[str, float]] = []
    try:
        with browser() as chromium:
            for n in phases:
                opened = time.monotonic()
                cpu0 = [proc_cpu_seconds(pid) for pid in bench.pids]
                try:
                    bench.open_sessions(chromium, n)
                except Exception as exc:  # a saturated server: the phase is reported as failed, with its CPU
                    spent = time.monotonic() - opened
                    cpus = [proc_cpu_seconds(pid) - c for pid, c in zip(bench.pids, cpu0, strict=True)]
                    first_line = str(exc).splitlines()[0][:160]
                    print(f"{n:>2} sessions: only {len(bench.pages)} could sign in ({first_line}); server CPU "
                          f"{max(cpus) / spent:.2f} of a core meanwhile", flush=True)  # fmt: skip
                    results.append(
                        {"sessions": n, "opened": len(bench.pages), "error": first_line, "p95_ms": None,
                         "p50_ms": None, "missed": None, "samples": 0, "server_cpu_share": round(max(cpus) / spent, 3),
                         "cpu_per_session": round(sum(cpus) / spent / max(1, len(bench.pages)), 4),
                         "servers": len(bench.pids), "all_servers_cpu": round(sum(cpus) / spent, 3)}
                    )  # fmt: skip
                    break
                print(f"{n:>2} sessions signed in and on the Task Manager in {time.monotonic() - opened:.0f} s")
                time.sleep(3)  # let every new page settle into its refresh cycle
                r = bench.phase(args.seconds, args.every)
                results.append(r)
                print(
                    f"{n:>2} sessions: server CPU {r['server_cpu_share']:.2f} of a core "
                    f"({r['cpu_per_session']:.3f} per session), change-to-page p50 {r['p50_ms']} ms, "
                    f"p95 {r['p95_ms']} ms over {r['samples']} changes ({r['missed']} never shown in 15 s); "
                    f"machine busy {r['machine_busy_cores']} of {os.cpu_count()} cores",
                    flush=True,
                )
            if args.profile > 0:
                top = bench.profile(args.profile, where)
                print(
                    f"py-spy of server 1, {len(bench.pages)} sessions: share of samples (self: at the top of the stack)"
                )
                for frame, share in top:
                    print(f"  {share:6.1%}  {frame}")
    finally:
        bench.stop()
        shutil.rmtree(where, ignore_errors=True)
    base, last = results[0], results[-1]
    summary = {
        "sessions": last["sessions"],
        "p95_ms": last["p95_ms"],
        "p50_ms": last["p50_ms"],
        "server_cpu_share": last["server_cpu_share"],
        "cpu_per_session": last["cpu_per_session"],
        "missed": last["missed"],
        "servers": last["servers"],
        "all_servers_cpu": last["all_servers_cpu"],
        "streamlit_env": extra,
        "baseline_sessions": base["sessions"],
        "baseline_p95_ms": base["p95_ms"],
        "baseline_cpu_per_session": base["cpu_per_session"],
        "cpu_per_session_ratio": round(last["cpu_per_session"] / base["cpu_per_session"], 2)
        if base["cpu_per_session"]
        else None,
        "p95_ratio": round(last["p95_ms"] / base["p95_ms"], 2) if base["p95_ms"] and last["p95_ms"] else None,
        "phases": results,
        "profile_top": top[:20],
        "goal_met": last["sessions"] >= 30
        and last["p95_ms"] is not None
        and last["p95_ms"] <= 4000
        and last["server_cpu_share"] <= 0.5,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
