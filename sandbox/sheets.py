"""Downloading a launch's input spreadsheet (a CSV URL), as the phantom does at container start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import httpx

# done(text, error): exactly one of them is None.
Done = Callable[[str | None, str | None], None]
MAX_REDIRECTS = 5  # the store script's needle client follows up to 5 redirects


class SheetFetcher(Protocol):
    """Fetches a CSV over HTTP and calls `done` once with its text or an error sentence."""

    def fetch(self, url: str, done: Done, *, timeout: float, max_bytes: int) -> None: ...


class StaticSheetFetcher:
    """For in-process tests: URL -> CSV text (or an int HTTP status to fail with), answered at once."""

    def __init__(self, sheets: dict[str, str | int] | None = None) -> None:
        self.sheets: dict[str, str | int] = dict(sheets or {})
        self.fetched: list[str] = []

    def fetch(self, url: str, done: Done, *, timeout: float, max_bytes: int) -> None:
        self.fetched.append(url)
        answer = self.sheets.get(url, 404)
        if isinstance(answer, int):
            done(None, f"{url} is not available, HTTP code: {answer}")
        elif len(answer.encode()) > max_bytes:
            done(None, f"{url} is too big (more than {max_bytes} bytes)")
        else:
            done(answer, None)


class HttpSheetFetcher:
    """Downloads with httpx.AsyncClient from tasks on the server's asyncio loop (timeouts and a size cap)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the server's loop so downloads started from timers or other threads land on it."""
        self.loop = loop

    def fetch(self, url: str, done: Done, *, timeout: float, max_bytes: int) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and (self.loop is None or running is self.loop):
            self._spawn(url, done, timeout, max_bytes)
        elif self.loop is not None:
            self.loop.call_soon_threadsafe(self._spawn, url, done, timeout, max_bytes)
        else:
            raise RuntimeError("HttpSheetFetcher needs a running loop or bind(loop) first")

    def _spawn(self, url: str, done: Done, timeout: float, max_bytes: int) -> None:
        task = asyncio.get_running_loop().create_task(self._download(url, done, timeout, max_bytes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _download(self, url: str, done: Done, timeout: float, max_bytes: int) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=True, max_redirects=MAX_REDIRECTS)
        try:
            text = await asyncio.wait_for(self._get(url, timeout, max_bytes), timeout)
        except TimeoutError:
            done(None, f"Could not download specified URL, socket hang up, HTTP code: can't get status code ({url})")
        except _Refused as exc:
            done(None, str(exc))
        except httpx.HTTPError as exc:
            done(None, f"Could not download {url}: {type(exc).__name__}")
        else:
            done(text, None)

    async def _get(self, url: str, timeout: float, max_bytes: int) -> str:
        assert self._client is not None
        async with self._client.stream("GET", url, timeout=timeout) as response:
            if response.status_code >= 400:
                raise _Refused(f"{url} is not available, HTTP code: {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise _Refused(f"{url} is too big (more than {max_bytes} bytes)")
        return bytes(body).decode("utf-8-sig", errors="replace")

    async def aclose(self) -> None:
        """Cancel downloads in flight and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class _Refused(Exception):
    """The download got an answer the phantom does not accept (HTTP error, too big)."""
