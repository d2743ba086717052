"""A circuit breaker for PhantomBuster calls: opens after failures in a row, probes once after a cooldown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from core.errors import CircuitOpen


class CircuitBreaker:
    """Opens after `threshold` failures in a row and lets one call through after `cooldown` seconds."""

    def __init__(self, threshold: int = 5, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None and self._clock() - self._opened_at < self.cooldown

    def before_call(self) -> None:
        with self._lock:
            blocked = self._opened_at is not None and (self._clock() - self._opened_at < self.cooldown or self._probing)
            if self._opened_at is not None and not blocked:
                self._probing = True  # after the cooldown, only one call probes
        if blocked:
            raise CircuitOpen(
                "PhantomBuster failed several times in a row; calls pause for a moment and resume by themselves.",
                retryable=True,
                retry_after=self.cooldown,
            )

    def record(self, ok: bool) -> None:
        with self._lock:
            self._probing = False
            if ok:
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._failures >= self.threshold:
                self._opened_at = self._clock()
