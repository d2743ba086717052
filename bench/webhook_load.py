"""Webhook load: PhantomBuster deliveries at a fixed rate on loopback against the real webhook server, and a baseline.

The webhook server runs as its own process (SQLite in a temp dir, the embedded Redis-compatible server); the load
comes from another process: an open-loop asyncio client over a few raw keep-alive HTTP/1.1 connections that sends
request i at t0 + i/rate and measures latency from that scheduled time to the full response, so queueing behind a
slow answer counts (no coordinated omission). The same load then hits a trivial Starlette/uvicorn endpoint (no
database, no queue) to show our overhead. Prints p50/p99/max, errors and lost deliveries; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import DEV_WEBHOOK_SECRET, SANDBOX_AGENT_ID, WEBHOOK_PATH

GOAL_P99_MS = 50.0
BASELINE_PATH = "/baseline"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`, 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# -- load generator (its own process) ---------------------------------------------------------------------------


def payload(container_id: str) -> bytes:
    """PhantomBuster's completion webhook body for one container."""
    body = {
        "agentId": SANDBOX_AGENT_ID,
        "agentName": "LinkedIn Profile Scraper",
        "containerId": container_id,
        "script": "LinkedIn Profile Scraper.js",
        "scriptOrg": "phantombuster",
        "branch": "master",
        "launchDuration": 412,
        "runDuration": 18_250,
        "resultObject": "[]",
        "exitMessage": "finished",
        "exitCode": 0,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def request_bytes(port: int, target: str, body: bytes) -> bytes:
    """One keep-alive HTTP/1.1 POST."""
    head = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> tuple[int, bool]:
    """Send one request and read its full response; returns (status, keep the connection)."""
    writer.write(data)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
        return status, headers.get("connection", "").lower() != "close"
    await reader.read()  # no length: the body ends with the connection
    return status, False


async def generate(
    port: int, target: str, rate: float, seconds: float, warmup: float, connections: int, timeout: float, prefix: str
) -> dict[str, Any]:
    """Send warmup + measured requests at `rate` per second; latencies of the measured ones only."""
    loop = asyncio.get_running_loop()
    warm_n, total = round(rate * warmup), round(rate * (warmup + seconds))
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lag = [0.0]

    async def produce() -> None:
        t0 = loop.time() + 0.05
        for i in range(total):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lag[0] = max(lag[0], loop.time() - due)
            queue.put_nowait((i, due))
        for _ in range(connections):
            queue.put_nowait(None)

    async def consume() -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while (item := await queue.get()) is not None:
            i, due = item
            data = request_bytes(port, target, payload(f"{prefix}{i:09d}"))
            try:
                if conn is None:
                    conn = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
                status, keep = await asyncio.wait_for(roundtrip(*conn, data), timeout)
                outcome = str(status)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                outcome, keep = type(exc).__name__, False
            if i >= warm_n:
                latencies.append((loop.time() - due) * 1000)
                statuses[outcome] += 1
            if not keep and conn is not None:
                conn[1].close()
                with contextlib.suppress(OSError):
                    await conn[1].wait_closed()
                conn = None
        if conn is not None:
            conn[1].close()

    started = time.monotonic()
    await asyncio.gather(produce(), *(consume() for _ in range(connections)))
    errors = sum(n for status, n in statuses.items() if status != "200")
    return {
        "sent_total": total,
        "sent": total - warm_n,
        "elapsed_s": round(time.monotonic() - started - warmup, 2),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p90_ms": round(percentile(latencies, 90), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "p999_ms": round(percentile(latencies, 99.9), 2),
        "max_ms": round(max(latencies, default=0.0), 2),
        "errors": errors,
        "outcomes": dict(statuses),
        "max_send_lag_ms": round(lag[0] * 1000, 2),
    }


# -- the baseline server (its own process) ----------------------------------------------------------------------


def serve_baseline(port: int) -> None:
    """A trivial endpoint that reads the body and answers 200, under the webhook server's uvicorn settings."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def ok(request: Request) -> Response:
        await request.body()
        return JSONResponse({"ok": True, "duplicate": False})

    app = Starlette(routes=[Route(BASELINE_PATH, ok, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


# -- orchestration ----------------------------------------------------------------------------------------------


def run_load(args: argparse.Namespace, port: int, target: str, prefix: str) -> dict[str, Any]:
    """Run the load generator as a separate process and return its JSON summary."""
    argv = [sys.executable, __file__, "--generate", "--port", str(port), "--target", target, "--prefix", prefix]
    argv += ["--rate", str(args.rate), "--seconds", str(args.seconds), "--warmup", str(args.warmup)]
    argv += ["--connections", str(args.connections), "--timeout", str(args.timeout)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=args.seconds + args.warmup + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spawn(argv: list[str], env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    """Start a server process logging to `log` and wait until it listens on `port`."""
    from tests.support.services import wait_port

    with log.open("ab") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port, 30, proc)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server process, killing it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _num(value: float) -> float | int:
    """A whole float as an int, for a tidier JSON line."""
    return int(value) if float(value).is_integer() else value


def line(name: str, r: dict[str, Any]) -> str:
    """One human-readable summary line."""
    return (
        f"{name:>9}: sent {r['sent']} in {r['elapsed_s']} s  p50 {r['p50_ms']} ms  p90 {r['p90_ms']} ms  "
        f"p99 {r['p99_ms']} ms  p99.9 {r['p999_ms']} ms  max {r['max_ms']} ms  errors {r['errors']} "
        f"{r['outcomes']}  send lag max {r['max_send_lag_ms']} ms"
    )


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Webhook server run, then baseline run; returns the summary."""
    from sqlalchemy import func, select

    from core.db import Database
    from core.models import WebhookDelivery
    from core.schema import migrate
    from tests.support.services import RedisServer, free_port

    with tempfile.TemporaryDirectory(prefix="leadrelay-bench-") as name:
        tmp = Path(name)
        redis = RedisServer(tmp / "redis")
        try:
            url = f"sqlite:///{tmp / 'bench.db'}"
            db = Database(url)
            migrate(db)
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("PHANTOMBUSTER_")}
            env.update(
                DATABASE_URL=url,
                REDIS_URL=redis.url,
                WEBHOOK_PORT=str(port),
                DATA_DIR=str(tmp / "data"),
                LOG_LEVEL="WARNING",
            )
            server = spawn([sys.executable, "webhook_server.py"], env, tmp / "webhook.log", port)
            try:
                ours = run_load(args, port, f"{WEBHOOK_PATH}?secret={DEV_WEBHOOK_SECRET}", "8")
            finally:
                stop(server)
            with db.read() as session:
                rows = session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0
            db.dispose()
            log_tail = (tmp / "webhook.log").read_text(errors="replace")[-1500:]
        finally:
            redis.stop()
        base_port = free_port()
        baseline_server = spawn(
            [sys.executable, __file__, "--serve-baseline", "--port", str(base_port)],
            dict(os.environ),
            tmp / "baseline.log",
            base_port,
        )
        try:
            base = run_load(args, base_port, BASELINE_PATH, "9")
        finally:
            stop(baseline_server)
    lost = ours["sent_total"] - rows
    print(line("webhook", ours))
    print(f"{'':>9}  rows in webhook_deliveries {rows} of {ours['sent_total']} sent (incl. {args.warmup} s warmup)")
    if log_tail.strip():
        print(f"{'':>9}  webhook server log tail:\n{log_tail}")
    print(line("baseline", base))
    ratio = round(ours["p99_ms"] / base["p99_ms"], 2) if base["p99_ms"] else None
    return {
        "rate": _num(args.rate),
        "seconds": _num(args.seconds),
        "sent": ours["sent"],
        "p50_ms": ours["p50_ms"],
        "p99_ms": ours["p99_ms"],
        "max_ms": ours["max_ms"],
        "errors": ours["errors"],
        "lost": lost,
        "baseline_p50_ms": base["p50_ms"],
        "baseline_p99_ms": base["p99_ms"],
        "baseline_max_ms": base["max_ms"],
        "baseline_errors": base["errors"],
        "ratio_p99": ratio,
        "goal_met": ours["p99_ms"] < GOAL_P99_MS and ours["errors"] == 0 and lost == 0,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, or one of its helper processes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second (default 500)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured duration (default 30)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds at the same rate before measuring")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="8", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline:
        serve_baseline(args.port)
        return 0
    if args.generate:
        result = asyncio.run(
            generate(
                args.port,
                args.target,
                args.rate,
                args.seconds,
                args.warmup,
                args.connections,
                args.timeout,
                args.prefix,
            )
        )
        print(json.dumps(result))
        return 0
    print(json.dumps(bench(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
