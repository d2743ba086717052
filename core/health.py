"""System health for the Admin page: worker heartbeat, last webhook, queue server and PhantomBuster, cached briefly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy.orm import Session

from core import agent_check, heartbeat
from core.config import Settings
from core.errors import ConfigError, LeadRelayError
from core.lifecycle import inbox
from core.models import utcnow
from core.phantombuster import Resources, build_client

PROBE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Probe:
    """One outside service's answer: reachable or not, in words, and how long it took."""

    ok: bool
    detail: str
    millis: float


@dataclass(frozen=True, slots=True)
class Quota:
    """PhantomBuster execution time (seconds) left and allowed this month, and the plan's name."""

    monthly_left: float | None
    monthly_plan: float | None
    plan_name: str | None


@dataclass(frozen=True, slots=True)
class Outside:
    """The network probes, cached together."""

    queue_server: Probe
    phantombuster: Probe
    quota: Quota | None
    agent: Probe


@dataclass(frozen=True, slots=True)
class Health:
    """What the Admin page shows about the system's health."""

    worker_at: datetime | None
    worker_ok: bool
    last_webhook_at: datetime | None
    queue_server: Probe
    phantombuster: Probe
    quota: Quota | None
    agent: Probe
    checked_at: datetime


def _timed(probe: Callable[[], str]) -> Probe:
    start = time.perf_counter()
    try:
        detail = probe()
    except (redis.RedisError, LeadRelayError, OSError) as exc:
        message = exc.message if isinstance(exc, LeadRelayError) else str(exc) or type(exc).__name__
        return Probe(False, message[:300], (time.perf_counter() - start) * 1000)
    return Probe(True, detail, (time.perf_counter() - start) * 1000)


def ping_queue_server(url: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> Probe:
    """PING the Redis-compatible server with a short timeout."""

    def probe() -> str:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return "answers PING"

    return _timed(probe)


def ask_phantombuster(
    settings: Settings, timeout: float = PROBE_TIMEOUT_SECONDS
) -> tuple[Probe, Resources | None, Probe]:
    """Ask PhantomBuster (or the sandbox) for `orgs/fetch-resources` and check the agent, with short timeouts."""
    client = build_client(
        settings.effective_pb_base_url,
        settings.effective_pb_api_key,
        settings.effective_agent_id,
        timeout=timeout,
        max_retries=0,
    )
    found: list[Resources] = []

    def resources() -> str:
        found.append(client.fetch_resources())
        return "sandbox answers" if settings.sandbox_mode else "answers"

    def agent() -> str:
        problems = agent_check.check_agent(client, settings.public_base_url, webhook_secrets=settings.webhook_secrets)
        if problems:
            raise ConfigError(agent_check.describe(problems))
        return "the agent is set up for LeadRelay"

    try:
        reached = _timed(resources)
        agent_probe = _timed(agent) if reached.ok else Probe(False, "not checked: PhantomBuster did not answer", 0.0)
    finally:
        client.http.close()
    return reached, (found[0] if found else None), agent_probe


_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, Outside]] = {}


def _outside(settings: Settings) -> Outside:
    """The two network probes, shared by every page view for HEALTH_CACHE_SECONDS."""
    key = f"{settings.effective_redis_url}|{settings.effective_pb_base_url}"
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < settings.health_cache_seconds:
            return hit[1]
    queue_probe = ping_queue_server(settings.effective_redis_url)
    pb_probe, resources, agent_probe = ask_phantombuster(settings)
    quota = (
        Quota(resources.monthly_remaining, resources.plan_monthly_execution_time, resources.plan_name)
        if resources
        else None
    )
    value = Outside(queue_probe, pb_probe, quota, agent_probe)
    with _cache_lock:
        _cache[key] = (time.monotonic(), value)
    return value


def clear_cache() -> None:
    """Forget cached probes (tests, or an admin's 'check now')."""
    with _cache_lock:
        _cache.clear()


def check(session: Session, settings: Settings, now: datetime | None = None) -> Health:
    """The health summary: two primary-key reads here, the network probes from the short cache."""
    now = now or utcnow()
    beat = heartbeat.last(session, "worker")
    stale_after = max(3 * settings.reconcile_interval_seconds, 30.0)
    outside = _outside(settings)
    return Health(
        worker_at=beat.at if beat else None,
        worker_ok=beat is not None and (now - beat.at).total_seconds() <= stale_after,
        last_webhook_at=inbox.last_received_at(session),
        queue_server=outside.queue_server,
        phantombuster=outside.phantombuster,
        quota=outside.quota,
        agent=outside.agent,
        checked_at=now,
    )
