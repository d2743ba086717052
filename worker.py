"""The Huey worker: a thin edge that rings core.engine; run it with `huey_consumer worker.huey -w 1`."""

from __future__ import annotations

import logging
import os
import socket
import threading

import redis
from huey import RedisHuey, crontab
from huey.signals import SIGNAL_INTERRUPTED

from core import retention
from core.config import load_settings
from core.db import Database
from core.engine import Engine
from core.phantombuster import build_client
from core.reconciler import reconcile as reconcile_once

settings = load_settings()
huey = RedisHuey("leadrelay", url=settings.effective_redis_url, utc=True, results=False)
log = logging.getLogger("leadrelay.worker")

_engine: Engine | None = None
_engine_lock = threading.Lock()


class HueyScheduler:
    """The engine's follow-ups, as Huey tasks."""

    def wake(self, delay: float = 0.0) -> None:
        if delay > 0:
            dispatch.schedule(delay=delay)
        else:
            dispatch()

    def check_run(self, run_id: int, delay: float) -> None:
        check_run.schedule((run_id,), delay=max(0.0, delay))

    def complete(self, container_id: str) -> None:
        complete_container(container_id)


def engine() -> Engine:
    """The process's engine, built on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            client = build_client(
                settings.effective_pb_base_url,
                settings.effective_pb_api_key,
                settings.effective_agent_id,
                timeout=settings.phantombuster_timeout_seconds,
                max_retries=settings.phantombuster_max_retries,
                retry_after_cap=settings.phantombuster_retry_after_cap_seconds,
            )
            worker_id = f"worker:{socket.gethostname()}:{os.getpid()}"
            _engine = Engine(
                Database(settings.effective_database_url), client, settings, HueyScheduler(), worker_id=worker_id
            )
        return _engine


@huey.task(retries=5, retry_delay=2)
def dispatch() -> int | None:
    """Launch the next queued run if the slot is free."""
    return engine().dispatch()


@huey.task(retries=5, retry_delay=2)
def complete_container(container_id: str) -> str:
    """A completion webhook arrived for this container: confirm it and hand the slot on."""
    return engine().complete_container(container_id)


@huey.task(retries=5, retry_delay=2)
def check_run(run_id: int) -> str:
    """Polling fallback for a run whose webhook may never come."""
    return engine().check_run(run_id)


@huey.task(retries=5, retry_delay=2)
def stop_run(run_id: int) -> bool:
    """Stop a run in flight on PhantomBuster (its job was cancelled)."""
    return engine().stop_run(run_id)


@huey.task()
def reconcile() -> list[str]:
    """One reconciler pass."""
    return reconcile_once(engine()).actions


@huey.periodic_task(crontab(minute="17"))
def clean_up_old_jobs() -> dict[str, int]:
    """Delete finished jobs past their retention period, hourly."""
    eng = engine()
    with eng.db.write() as session:
        return retention.clean_up(session, settings.retention_completed_days, settings.retention_failed_days)


@huey.signal(SIGNAL_INTERRUPTED)
def _hand_back(signal: str, task: object, *args: object, **kwargs: object) -> None:
    # A graceful stop interrupted this task: put it back so the next worker does it.
    huey.enqueue(task)


def _ticker(stop: threading.Event) -> None:
    client = redis.Redis.from_url(settings.effective_redis_url, socket_timeout=2)
    interval = settings.reconcile_interval_seconds
    while not stop.wait(interval):
        try:
            # One tick per interval whatever the number of worker processes.
            if client.set("leadrelay:reconcile-tick", "1", nx=True, px=max(1, int(interval * 900))):
                reconcile()
        except redis.RedisError as exc:
            log.warning("reconciler tick skipped: %s", exc)


_stop_ticker = threading.Event()


@huey.on_startup()
def _start_ticker() -> None:
    if not getattr(_start_ticker, "started", False):
        _start_ticker.started = True  # type: ignore[attr-defined]
        threading.Thread(target=_ticker, args=(_stop_ticker,), name="reconcile-ticker", daemon=True).start()
        reconcile()


def ring(task_name: str = "dispatch", *args: object) -> bool:
    """Enqueue a task from an edge; False when the queue is unreachable (the reconciler will catch up)."""
    try:
        {"dispatch": dispatch, "stop_run": stop_run, "reconcile": reconcile}[task_name](*args)
    except redis.RedisError as exc:
        log.warning(
            "could not enqueue %s (%s); the reconciler picks the work up within %.0f s",
            task_name,
            exc,
            settings.reconcile_interval_seconds,
        )
        return False
    return True
