"""The Huey worker: a thin edge serving the doorbell with core's engine; run it with `huey_consumer worker.huey -w 1`."""

from __future__ import annotations

import logging
import os
import socket
import threading
from functools import cache

import redis
from huey import crontab
from huey.signals import SIGNAL_INTERRUPTED

from core import agent_check, notify_outbox, retention, stall_watch
from core.config import load_settings
from core.db import Database
from core.doorbell import HueyDoorbell, build_huey
from core.engine import Engine
from core.models import utcnow
from core.phantombuster import PhantomBusterClient, build_client
from core.reconciler import Reconciler

settings = load_settings()
huey = build_huey(settings)
doorbell = HueyDoorbell(huey)
log = logging.getLogger("leadrelay.worker")
WORKER_ID = f"worker:{socket.gethostname()}:{os.getpid()}"


class WorkerSide:
    """What the doorbell's tasks do in this process: the engine's steps and the reconciler's pass."""

    def __init__(self) -> None:
        client = _client()
        self.db = Database(settings.effective_database_url)
        self.engine = Engine(self.db, client, settings, doorbell, worker_id=WORKER_ID)
        self.reconciler = Reconciler(self.db, self.engine, doorbell, settings, worker_id=WORKER_ID)

    def dispatch(self) -> int | None:
        return self.engine.dispatch()

    def check(self, run_id: int, ticket: int | None = None) -> str:
        return self.engine.check(run_id, ticket)

    def handle_delivery(self, container_id: str) -> str:
        return self.engine.handle_delivery(container_id)

    def stop(self, run_id: int) -> str:
        return self.engine.stop(run_id)

    def reconcile(self) -> list[str]:
        return self.reconciler.run_once().actions


def _client() -> PhantomBusterClient:
    return build_client(
        settings.effective_pb_base_url,
        settings.effective_pb_api_key,
        settings.effective_agent_id,
        timeout=settings.phantombuster_timeout_seconds,
        max_retries=settings.phantombuster_max_retries,
        retry_after_cap=settings.phantombuster_retry_after_cap_seconds,
    )


def _check_the_agent() -> None:
    """With a real key, refuse to start on an agent that would scrape the wrong people or never wake the worker."""
    if settings.sandbox_mode:
        return
    client = _client()
    try:
        reason = agent_check.refusal(client, settings.public_base_url, webhook_secrets=settings.webhook_secrets)
    finally:
        client.http.close()
    if reason:
        raise SystemExit(f"The worker does not start: {reason}")


@cache
def worker_side() -> WorkerSide:
    """This process's engine and reconciler, built on first use (importing the module connects nothing)."""
    return WorkerSide()


_check_the_agent()
doorbell.serve(worker_side)


@huey.periodic_task(crontab(minute="17"), name="clean_up_old_jobs")
def clean_up_old_jobs() -> dict[str, int]:
    """Delete finished jobs past their retention period, hourly."""
    with worker_side().db.write() as session:
        return retention.clean_up(session, settings.retention_completed_days, settings.retention_failed_days)


@huey.periodic_task(crontab(minute="*"), name="watch_for_stalls")
def watch_for_stalls() -> list[str]:
    """Tell the admins once when queued work stops moving or webhooks stop arriving (every minute)."""
    with worker_side().db.write() as session:
        return stall_watch.watch(session, settings, utcnow())


def _send_notifications(stop: threading.Event) -> None:
    # Its own thread, not a Huey task: a slow mail server must never hold up the one task thread runs depend on.
    # Every worker process drains the same outbox; claims keep each message to one sender at a time.
    while True:
        try:
            notify_outbox.drain(worker_side().db, settings, WORKER_ID, stop=stop)
        except Exception:
            log.exception("sending notifications failed; the next round tries again")
        if stop.wait(settings.notify_poll_seconds):
            return


_stop_notifications = threading.Event()


@huey.on_shutdown()
def _stop_sending() -> None:
    # A graceful stop claims nothing new; a message being sent now is finished, or its lease lets another send it.
    _stop_notifications.set()


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
                doorbell.run_reconcile_task()
        except redis.RedisError as exc:
            log.warning("reconciler tick skipped: %s", exc)


_stop_ticker = threading.Event()


@huey.on_startup()
def _start_ticker() -> None:
    if not getattr(_start_ticker, "started", False):
        _start_ticker.started = True  # type: ignore[attr-defined]
        threading.Thread(target=_ticker, args=(_stop_ticker,), name="reconcile-ticker", daemon=True).start()
        threading.Thread(
            target=_send_notifications, args=(_stop_notifications,), name="notification-sender", daemon=True
        ).start()
        try:
            worker_side().reconcile()
        except Exception:
            log.exception("the start-up reconciler pass failed; the next tick tries again")
