"""Webhook delivery for the sandbox: an httpx sender for the server and a collecting one for in-process tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

# report(container_id, status_code, error): called once per attempt.
Report = Callable[[str, int | None, str | None], None]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook to send: `copies` concurrent POSTs of `payload` to `url` after `delay` seconds."""

    url: str
    payload: dict[str, Any]
    container_id: str
    delay: float = 0.0
    copies: int = 1
    timeout: float = 10.0
    retries: int = 0
    retry_delay: float = 1.0


class WebhookSender(Protocol):
    """Sends deliveries and reports each attempt's outcome."""

    def send(self, delivery: Delivery, report: Report) -> None: ...


class CollectingSender:
    """Keeps every delivery in memory and reports each copy as a 200 at once (delays are ignored)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    def send(self, delivery: Delivery, report: Report) -> None:
        for _ in range(delivery.copies):
            self.deliveries.append(delivery)
            report(delivery.container_id, 200, None)


class HttpWebhookSender:
    """POSTs webhooks as JSON with httpx.AsyncClient from tasks on the server's asyncio loop."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the server's loop so sends from other threads land on it."""
        self.loop = loop

    def send(self, delivery: Delivery, report: Report) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and (self.loop is None or running is self.loop):
            self._spawn(delivery, report)
        elif self.loop is not None:
            self.loop.call_soon_threadsafe(self._spawn, delivery, report)
        else:
            raise RuntimeError("HttpWebhookSender needs a running loop or bind(loop) first")

    def _spawn(self, delivery: Delivery, report: Report) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, report))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery, report: Report) -> None:
        if delivery.delay > 0:
            await asyncio.sleep(delivery.delay)
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        await asyncio.gather(*(self._post(self._client, delivery, report) for _ in range(delivery.copies)))

    @staticmethod
    async def _post(client: httpx.AsyncClient, delivery: Delivery, report: Report) -> None:
        for attempt in range(delivery.retries + 1):
            try:
                response = await client.post(delivery.url, json=delivery.payload, timeout=delivery.timeout)
            except httpx.HTTPError as exc:
                report(delivery.container_id, None, type(exc).__name__)
            else:
                report(delivery.container_id, response.status_code, None)
                if response.status_code < 300:
                    return
            if attempt < delivery.retries:
                await asyncio.sleep(delivery.retry_delay)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (up to `timeout`) for the webhooks in flight."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def aclose(self) -> None:
        """Cancel webhooks still in flight and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
