"""Clocks and timer schedulers for the simulator: asyncio-backed for the server, manual for deterministic tests."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable
from typing import Protocol


class Handle(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Runs a callback after a delay in seconds."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle: ...


class _Timer:
    """A cancellable callback, also the handle given back by both schedulers below."""

    __slots__ = ("callback", "cancelled", "inner")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False
        self.inner: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self.inner is not None:
            self.inner.cancel()

    def fire(self) -> None:
        if not self.cancelled:
            self.callback()


class AsyncioScheduler:
    """Schedules on the running asyncio loop, or from another thread on the loop given to `bind`."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the server's loop so calls from other threads land on it."""
        self.loop = loop

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        timer = _Timer(callback)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and (self.loop is None or running is self.loop):
            timer.inner = running.call_later(max(0.0, delay), timer.fire)
            return timer
        if self.loop is None:
            raise RuntimeError("AsyncioScheduler needs a running loop or bind(loop) first")
        loop = self.loop

        def arm() -> None:
            if not timer.cancelled:
                timer.inner = loop.call_later(max(0.0, delay), timer.fire)

        loop.call_soon_threadsafe(arm)
        return timer


class ManualTime:
    """A clock (call it for epoch seconds) and scheduler that move only when `advance` is called."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self._queue: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()

    def __call__(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        timer = _Timer(callback)
        with self._lock:
            heapq.heappush(self._queue, (self.now + max(0.0, delay), next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer that falls due, in order."""
        with self._lock:
            target = self.now + seconds
            while self._queue and self._queue[0][0] <= target:
                due, _, timer = heapq.heappop(self._queue)
                self.now = max(self.now, due)
                timer.fire()
            self.now = target

    @property
    def pending(self) -> int:
        """Timers not yet fired nor cancelled."""
        with self._lock:
            return sum(1 for _, _, t in self._queue if not t.cancelled)
