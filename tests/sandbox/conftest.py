"""Fixtures for the sandbox tests: the sandbox and a receiver (webhooks, input CSVs), each served by uvicorn.

Every answer the sandbox gives these tests goes through the contract checker (tests/contract/oas.py): a response
outside PhantomBuster's published schemas fails the test that got it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.app import create_app
from sandbox.simulator import Simulator
from tests.contract.oas import ContractTransport
from tests.support.servers import ServerThread

AGENT_ID = "4000000000000001"
API_KEY = "sandbox-key"
FAST = {"run_seconds": [0.05, 0.1], "start_delay_seconds": 0.02, "seed": 7}


@dataclass
class Receiver:
    """Captures webhook POSTs (`status` and `delay` shape its answers) and serves input CSVs at /sheets/<name>."""

    url: str = ""
    base: str = ""
    hits: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    on_hit: Callable[[dict[str, Any]], None] | None = None
    sheets: dict[str, tuple[int, str]] = field(default_factory=dict)
    sheet_gets: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.hits.clear()
        self.status, self.delay, self.on_hit = 200, 0.0, None
        self.sheets.clear()
        self.sheet_gets.clear()

    def sheet(self, urls: list[str], column: str = "profileUrl", *, status: int = 200, text: str | None = None) -> str:
        """Serve a CSV of `urls` under a header `column` (or `text` as is); returns its URL."""
        if text is None:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow([column, "fullName"])
            writer.writerows([u, f"Lead {i}"] for i, u in enumerate(urls))
            text = out.getvalue()
        name = uuid.uuid4().hex
        self.sheets[name] = (status, text)
        return f"{self.base}/sheets/{name}.csv?token=t0k3n"

    def for_container(self, container_id: str) -> list[dict[str, Any]]:
        return [h for h in self.hits if h["body"].get("containerId") == container_id]


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    async def hook(request: Request) -> Response:
        raw = await request.body()
        hit = {
            "at": time.time(),
            "query": dict(request.query_params),
            "body": json.loads(raw),
            "content_type": request.headers.get("content-type"),
        }
        if rec.on_hit is not None:
            await asyncio.to_thread(rec.on_hit, hit)
        rec.hits.append(hit)
        if rec.delay:
            await asyncio.sleep(rec.delay)
        return JSONResponse({"ok": True}, status_code=rec.status)

    async def sheet(request: Request) -> Response:
        name = request.path_params["name"].removesuffix(".csv")
        rec.sheet_gets.append(name)
        status, text = rec.sheets.get(name, (404, "not found"))
        return Response(text, status_code=status, media_type="text/csv")

    routes = [Route("/hook", hook, methods=["POST"]), Route("/sheets/{name}", sheet, methods=["GET"])]
    with ServerThread(Starlette(routes=routes)) as server:
        rec.url = f"{server.url}/hook?secret=s3cr3t"
        rec.base = server.url
        yield rec


@dataclass
class Sandbox:
    """A running sandbox: its simulator, base URL and an authenticated client."""

    sim: Simulator
    url: str
    http: httpx.Client
    receiver: Receiver

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(f"/api/v2/{path}", params=params)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(f"/api/v2/{path}", json=body)

    def launch(
        self, urls: list[str] | None = None, *, csv_name: str | None = None, adds: int | None = None, **extra: Any
    ) -> httpx.Response:
        """Launch on a CSV of `urls` served by the receiver, the way LeadRelay launches: spreadsheetUrl,
        columnName and a csvName of the launch's own (unless `csv_name` is given)."""
        urls = urls if urls is not None else ["https://www.linkedin.com/in/jane-doe-42"]
        bonus: dict[str, Any] = {
            "spreadsheetUrl": self.receiver.sheet(urls),
            "columnName": "profileUrl",
            "csvName": csv_name or f"run-{uuid.uuid4().hex[:8]}",
        }
        if adds is not None:
            bonus["numberOfAddsPerLaunch"] = adds
        return self.post("agents/launch", {"id": AGENT_ID, "bonusArgument": bonus, **extra})

    def launch_one(self, url: str, **bonus: Any) -> httpx.Response:
        """Launch on one profile URL given as spreadsheetUrl."""
        return self.post("agents/launch", {"id": AGENT_ID, "bonusArgument": {"spreadsheetUrl": url, **bonus}})

    def result(self, container_id: str) -> Any:
        """The container's result object, parsed (None when null)."""
        raw = self.get("containers/fetch-result-object", id=container_id).json()["resultObject"]
        return None if raw is None else json.loads(raw)

    def output(self, container_id: str) -> str:
        response = self.get("containers/fetch-output", id=container_id)
        return "" if response.status_code == 204 else response.json()["output"]

    def faults(self, **knobs: Any) -> dict[str, Any]:
        response = self.http.post("/__sandbox/faults", json=knobs)
        assert response.status_code == 200, response.text
        return response.json()

    def record(self) -> dict[str, Any]:
        return self.http.get("/__sandbox/record").json()

    def container(self, container_id: str, **flags: str) -> dict[str, Any]:
        response = self.get("containers/fetch", id=container_id, **flags)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_ended(self, container_id: str, timeout: float = 5.0) -> dict[str, Any]:
        return wait_for(
            lambda: (c := self.container(container_id))["status"] in ("finished", "launch error") and c, timeout
        )


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture(scope="session")
def sandbox_server(receiver: Receiver) -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(api_key=API_KEY, faults=FAST)
    with ServerThread(create_app(sim)) as server:
        yield sim, server.url


@pytest.fixture
def sandbox(sandbox_server: tuple[Simulator, str], receiver: Receiver) -> Iterator[Sandbox]:
    """The shared sandbox, reset to the fast startup faults with one agent whose webhook is the receiver."""
    sim, url = sandbox_server
    sim.reset()
    with sim.lock:
        sim.agents.clear()
    sim.add_agent(AGENT_ID, webhook_url=receiver.url)
    receiver.clear()
    transport = ContractTransport(check_requests=False, raise_on_violation=True)
    headers = {"X-Phantombuster-Key": API_KEY}
    with httpx.Client(base_url=url, headers=headers, timeout=5.0, transport=transport) as http:
        yield Sandbox(sim, url, http, receiver)
    sim.reset()
