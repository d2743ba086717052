"""The processes `make run` starts, as command lines built from the settings."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass

from core.config import Settings
from core.redis_server import command as redis_command


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One long-running process: a name for the log prefix and its command line."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None

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
            ProcessSpec("redis", redis_command(settings.redis_port, settings.data_dir / "redis", settings.host))
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
