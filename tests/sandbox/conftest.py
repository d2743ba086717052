"""Fixtures for the sandbox tests: the sandbox and a webhook receiver, each served by uvicorn in a thread."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.app import create_app
from sandbox.simulator import Simulator

AGENT_ID = "4000000000000001"
API_KEY = "sandbox-key"
FAST = {"run_seconds": [0.05, 0.1], "start_delay_seconds": 0.02, "seed": 7}


class ServerThread:
    """A uvicorn server for `app` on a free loopback port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@dataclass
class Receiver:
    """Captures webhook POSTs; `status` and `delay` shape its answers."""

    url: str = ""
    hits: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    on_hit: Callable[[dict[str, Any]], None] | None = None

    def clear(self) -> None:
        self.hits.clear()
        self.status, self.delay, self.on_hit = 200, 0.0, None

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

    with ServerThread(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as server:
        rec.url = f"{server.url}/hook?secret=s3cr3t"
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

    def launch(self, urls: list[str] | None = None, **extra: Any) -> httpx.Response:
        urls = urls if urls is not None else ["https://www.linkedin.com/in/jane-doe-42"]
        return self.post("agents/launch", {"id": AGENT_ID, "bonusArgument": {"profileUrls": urls}, **extra})

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
    with httpx.Client(base_url=url, headers={"X-Phantombuster-Key": API_KEY}, timeout=5.0) as http:
        yield Sandbox(sim, url, http, receiver)
    sim.reset()
