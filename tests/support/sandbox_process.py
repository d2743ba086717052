"""The PhantomBuster sandbox as a real subprocess on a free port, with its control routes and a client factory."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.config import SANDBOX_AGENT_ID, SANDBOX_API_KEY
from core.phantombuster import PhantomBusterClient
from tests.support.services import free_port, unavailable, wait_port

ROOT = Path(__file__).resolve().parents[2]
# The agent `python -m sandbox` starts with: a Profile Scraper with a session cookie, no retries, no webhook.
DEFAULT_AGENT: dict[str, Any] = {
    "name": "LinkedIn Profile Scraper",
    "script": "LinkedIn Profile Scraper.js",
    "argument": {"sessionCookie": "sandbox-session-cookie"},
    "maxRetryNumber": 0,
    "maxParallelism": None,
    "launchType": "manually",
    "notifications": {"webhook": ""},
}


class SandboxProcess:
    """`python -m sandbox` on a free loopback port; `reset`, `record` and `client` drive and inspect it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", str(self.port), "--agent-id", SANDBOX_AGENT_ID],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(self.port, 20, self.proc)
        except BaseException:
            self.proc.kill()
            self.proc.wait(5)
            raise
        self.control = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    @property
    def api_url(self) -> str:
        """The API root the client's base URL points at."""
        return f"http://127.0.0.1:{self.port}/api/v2/"

    def reset(self, **faults: object) -> None:
        """Forget containers, result files and the record, restore the startup faults and the agent's startup
        settings (tests reconfigure it with agents/save), then apply `faults`."""
        self.control.post("/__sandbox/reset").raise_for_status()
        self.save_agent(DEFAULT_AGENT)
        if faults:
            self.set_faults(**faults)

    def save_agent(self, settings: dict[str, Any]) -> None:
        """POST agents/save for the sandbox agent (`settings` without the id)."""
        body = {"id": SANDBOX_AGENT_ID, **settings}
        response = self.control.post("/api/v2/agents/save", json=body, headers={"X-Phantombuster-Key": SANDBOX_API_KEY})
        response.raise_for_status()

    def set_faults(self, **faults: object) -> None:
        """Merge fault knobs into the current configuration."""
        self.control.post("/__sandbox/faults", json=faults).raise_for_status()

    def sheet(self, urls: list[str], column: str = "profileUrl") -> str:
        """Host a CSV of `urls` on the sandbox (/__sandbox/sheets); returns the URL a launch's spreadsheetUrl
        takes. The sandbox downloads it over HTTP at container start, as PhantomBuster would."""
        text = column + "\n" + "".join(u + "\n" for u in urls)
        response = self.control.post("/__sandbox/sheets", content=text.encode())
        response.raise_for_status()
        return str(response.json()["url"])

    def finish(self, container_id: str | None = None) -> list[str]:
        """End running containers now with their planned outcome."""
        response = self.control.post("/__sandbox/finish", json={"containerId": container_id} if container_id else {})
        response.raise_for_status()
        return response.json()["finished"]

    def record(self) -> dict[str, Any]:
        """Every API call, launch and rejected launch the sandbox saw since the last reset."""
        response = self.control.get("/__sandbox/record")
        response.raise_for_status()
        return response.json()

    def client(
        self,
        *,
        timeout: float | httpx.Timeout = 5.0,
        api_key: str = SANDBOX_API_KEY,
        agent_id: str = SANDBOX_AGENT_ID,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        **kwargs: Any,
    ) -> PhantomBusterClient:
        """A PhantomBusterClient on the sandbox; `sleep` defaults to not sleeping at all."""
        http = httpx.Client(base_url=self.api_url, timeout=timeout, transport=transport)
        return PhantomBusterClient(
            http, api_key=api_key, agent_id=agent_id, sleep=(lambda _: None) if sleep is None else sleep, **kwargs
        )

    def stop(self) -> None:
        """Close the control client and terminate the process."""
        self.control.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[SandboxProcess]:
    """One sandbox process for the session; tests call `reset(...)` first."""
    try:
        sb = SandboxProcess()
    except Exception as exc:
        unavailable(f"the sandbox could not start: {exc}")
    yield sb
    sb.stop()
