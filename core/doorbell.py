"""The doorbell: the one way anything asks the worker to act, rung after the caller's own commit (Huey underneath).

SQL rows are the truth and the doorbell only says "look now": a ring that is lost (queue server down, worker killed)
costs a delay, never work, because the reconciler finds the same work from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import redis
from huey import Huey, RedisHuey

from core.config import Settings

log = logging.getLogger(__name__)

# Retries of a task whose body raised (a bug or an outage): Huey runs it again a few times, then the reconciler.
TASK_RETRIES = 3
TASK_RETRY_DELAY = 2


class Doorbell(Protocol):
    """What can be asked of the worker."""

    def dispatch(self, delay: float = 0.0) -> None:
        """Launch the next queued run if the slot is free."""

    def check(self, run_id: int, ticket: int, delay: float = 0.0) -> None:
        """Ask PhantomBuster about a run in flight (only the newest ticket of a run does anything)."""

    def delivery(self, container_id: str) -> None:
        """A webhook arrived for this container."""

    def stop(self, run_id: int) -> None:
        """Stop a run in flight (its job was cancelled)."""

    def reconcile(self) -> None:
        """Run one reconciler pass now."""


class WorkerSide(Protocol):
    """What the worker process does when the doorbell rings (the engine and the reconciler)."""

    def dispatch(self) -> object: ...

    def check(self, run_id: int, ticket: int | None = None) -> str: ...

    def handle_delivery(self, container_id: str) -> str: ...

    def stop(self, run_id: int) -> str: ...

    def reconcile(self) -> list[str]: ...


def build_huey(settings: Settings) -> RedisHuey:
    """The Huey instance every process shares through the Redis-compatible server (results are not kept)."""
    return RedisHuey("leadrelay", url=settings.effective_redis_url, utc=True, results=False)


class HueyDoorbell:
    """Rings by enqueueing Huey tasks; the worker process tells it what each ring does with `serve`.

    Every process builds one from the same settings, so producers (pages, webhook server, command line) and the
    consumer register the very same task names without importing the worker.
    """

    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._worker: Callable[[], WorkerSide] | None = None

        def side() -> WorkerSide:
            if self._worker is None:
                raise RuntimeError("this process only rings the doorbell; the worker process serves it")
            return self._worker()

        @huey.task(retries=TASK_RETRIES, retry_delay=TASK_RETRY_DELAY, name="dispatch")
        def dispatch() -> None:
            side().dispatch()

        @huey.task(retries=TASK_RETRIES, retry_delay=TASK_RETRY_DELAY, name="check_run")
        def check_run(run_id: int, ticket: int | None) -> str:
            return side().check(run_id, ticket)

        @huey.task(retries=TASK_RETRIES, retry_delay=TASK_RETRY_DELAY, name="webhook_delivery")
        def webhook_delivery(container_id: str) -> str:
            return side().handle_delivery(container_id)

        @huey.task(retries=TASK_RETRIES, retry_delay=TASK_RETRY_DELAY, name="stop_run")
        def stop_run(run_id: int) -> str:
            return side().stop(run_id)

        @huey.task(name="reconcile")
        def reconcile() -> list[str]:
            return side().reconcile()

        self._dispatch, self._check, self._delivery = dispatch, check_run, webhook_delivery
        self._stop, self._reconcile = stop_run, reconcile

    def serve(self, worker: Callable[[], WorkerSide]) -> None:
        """In the worker process: where the tasks find the engine and the reconciler (built on first use)."""
        self._worker = worker

    def _ring(self, what: str, send: object) -> None:
        try:
            send()  # type: ignore[operator]
        except redis.RedisError as exc:
            # Not swallowed: the rows are committed and the reconciler's next pass does the same work.
            log.warning("could not ring the worker (%s: %s); the reconciler picks the work up", what, exc)

    def dispatch(self, delay: float = 0.0) -> None:
        if delay > 0:
            self._ring("dispatch", lambda: self._dispatch.schedule(delay=delay))
        else:
            self._ring("dispatch", lambda: self._dispatch())

    def check(self, run_id: int, ticket: int, delay: float = 0.0) -> None:
        if delay > 0:
            self._ring("check", lambda: self._check.schedule((run_id, ticket), delay=delay))
        else:
            self._ring("check", lambda: self._check(run_id, ticket))

    def delivery(self, container_id: str) -> None:
        self._ring("webhook delivery", lambda: self._delivery(container_id))

    def stop(self, run_id: int) -> None:
        self._ring("stop", lambda: self._stop(run_id))

    def reconcile(self) -> None:
        self._ring("reconcile", lambda: self._reconcile())

    def run_reconcile_task(self) -> None:
        """Enqueue a reconciler pass (the worker's ticker does this once per interval)."""
        self._reconcile()
