"""An in-process doorbell for engine tests: rings are queued with their due time and run in order by `drain`."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any

from core.engine import Engine
from core.reconciler import Reconciler


class QueueDoorbell:
    """Implements core.doorbell.Doorbell with a heap instead of Huey; delays are shortened to `max_delay`."""

    def __init__(self, max_delay: float = 0.3) -> None:
        self.max_delay = max_delay
        self.tasks: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self.rung: list[tuple[str, tuple[Any, ...]]] = []
        self._seq = itertools.count()

    def _add(self, delay: float, name: str, *args: Any) -> None:
        self.rung.append((name, args))
        heapq.heappush(self.tasks, (time.monotonic() + min(delay, self.max_delay), next(self._seq), name, args))

    def dispatch(self, delay: float = 0.0) -> None:
        self._add(delay, "dispatch")

    def check(self, run_id: int, ticket: int, delay: float = 0.0) -> None:
        self._add(delay, "check", run_id, ticket)

    def delivery(self, container_id: str) -> None:
        self._add(0.0, "delivery", container_id)

    def stop(self, run_id: int) -> None:
        self._add(0.0, "stop", run_id)

    def reconcile(self) -> None:
        self._add(0.0, "reconcile")

    def run_next(self, engine: Engine, reconciler: Reconciler) -> bool:
        """Run the first due ring; False when none is due."""
        if not self.tasks or self.tasks[0][0] > time.monotonic():
            return False
        _, _, name, args = heapq.heappop(self.tasks)
        handlers: dict[str, Callable[..., object]] = {
            "dispatch": engine.dispatch,
            "check": engine.check,
            "delivery": engine.handle_delivery,
            "stop": engine.stop,
            "reconcile": reconciler.run_once,
        }
        handlers[name](*args)
        return True

    def drain(self, engine: Engine, reconciler: Reconciler, done: Callable[[], bool], timeout: float = 30.0) -> None:
        """Run rings (and, when none is queued, reconciler passes) until `done()` or the deadline."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "the engine did not get there in time"
            if not self.run_next(engine, reconciler):
                if not self.tasks:
                    reconciler.run_once()
                time.sleep(0.02)
