"""Slot idle gap: 200 short runs driven by webhooks through the real stack, against the seeds' 3-second polling.

Prints p50/p99 of the gap between one run's end and the next launch accepted (both read from the sandbox's
record, so one clock), for LeadRelay and for a polling loop over the same sandbox; the last line is JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import auth, job_store
from core.config import SANDBOX_AGENT_ID, SANDBOX_API_KEY
from core.db import Database
from core.phantombuster import PhantomBusterClient
from core.schema import migrate
from tests.support.services import RedisServer
from tests.support.stack import Stack


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def gaps(launches: list[dict]) -> list[float]:
    ordered = sorted(launches, key=lambda launch: launch["accepted_at"])
    return [(b["accepted_at"] - a["ended_at"]) * 1000 for a, b in itertools.pairwise(ordered)]


def preview(n: int) -> SimpleNamespace:
    leads = [
        SimpleNamespace(
            row_number=i + 2,
            linkedin_url=f"https://www.linkedin.com/in/bench-{i}",
            company=f"Company {i}",
            first_name=None,
            last_name=None,
            full_name=None,
            email=None,
            country=None,
            values={},
        )
        for i in range(n)
    ]
    parsed = SimpleNamespace(file_name="bench.csv", file_size=0, content_hash="bench", sheet_name=None, columns=[])
    return SimpleNamespace(parsed=parsed, leads=leads, mapping={}, counts={"rows": n})


def run_ours(tmp: Path, runs: int, run_seconds: list[float]) -> list[float]:
    redis = RedisServer(tmp / "redis")
    url = f"sqlite:///{tmp / 'bench.db'}"
    db = Database(url)
    migrate(db)
    with db.write() as s:
        owner = auth.create_user(s, "bench", "bench-password", "analyst")
    stack = Stack(tmp, url, redis, expected_run_seconds=max(run_seconds))
    stack.start(faults={"run_seconds": run_seconds, "seed": 1})
    try:
        with db.write() as s:
            job = job_store.create_job(s, owner=owner, preview=preview(runs), batch_size=1)
            job_id = job.id
        stack.wait_job(job_id, timeout=runs * (max(run_seconds) + 2) + 60)
        record = stack.record()
        assert record["max_concurrent"] == 1, record["max_concurrent"]
        return gaps(record["launches"])
    finally:
        stack.stop()
        redis.stop()
        db.dispose()


def run_polling(tmp: Path, runs: int, run_seconds: list[float], interval: float) -> list[float]:
    """The seeds' way: launch, poll containers/fetch every `interval` seconds, launch the next when finished."""
    stack = Stack(tmp, f"sqlite:///{tmp / 'unused.db'}", SimpleNamespace(url="redis://127.0.0.1:1/0"))
    stack.start_sandbox({"run_seconds": run_seconds, "seed": 1})
    http = httpx.Client(base_url=f"http://127.0.0.1:{stack.sandbox_port}/api/v2/", timeout=10)
    client = PhantomBusterClient(http, api_key=SANDBOX_API_KEY, agent_id=SANDBOX_AGENT_ID)
    try:
        for i in range(runs):
            cid = client.launch({"profileUrls": [f"https://www.linkedin.com/in/poll-{i}"]}, metadata={})
            while True:
                time.sleep(interval)
                if client.fetch_container(cid).ended:
                    break
        return gaps(stack.record()["launches"])
    finally:
        http.close()
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--polling-runs", type=int, default=200)
    parser.add_argument("--poll-interval", type=float, default=3.0)
    args = parser.parse_args()
    run_seconds = [0.05, 0.15]
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        started = time.monotonic()
        ours = run_ours(Path(a), args.runs, run_seconds)
        print(
            f"webhook-driven: {args.runs} runs in {time.monotonic() - started:.1f} s; "
            f"gap p50 {statistics.median(ours):.1f} ms, p99 {percentile(ours, 99):.1f} ms"
        )
        started = time.monotonic()
        polled = run_polling(Path(b), args.polling_runs, run_seconds, args.poll_interval)
        print(
            f"polling every {args.poll_interval:g} s: {args.polling_runs} runs in {time.monotonic() - started:.1f} s; "
            f"gap p50 {statistics.median(polled):.1f} ms, p99 {percentile(polled, 99):.1f} ms"
        )
    result = {
        "runs": args.runs,
        "gap_p50_ms": round(statistics.median(ours), 1),
        "gap_p99_ms": round(percentile(ours, 99), 1),
        "polling_runs": args.polling_runs,
        "polling_gap_p50_ms": round(statistics.median(polled), 1),
        "polling_gap_p99_ms": round(percentile(polled, 99), 1),
        "ratio": round(statistics.median(polled) / max(statistics.median(ours), 0.001), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
