"""PhantomBuster API v2 client: one method per endpoint, retries with jitter, a circuit breaker, typed answers."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core.errors import CircuitOpen, PhantomBusterBusy, PhantomBusterError

log = logging.getLogger(__name__)

FINAL_STATUSES = ("finished", "launch error")

_FRIENDLY = {
    400: "PhantomBuster rejected the request",
    401: "PhantomBuster refused the API key: check PHANTOMBUSTER_API_KEY",
    402: "The PhantomBuster plan limit is reached: upgrade the plan or wait for the reset",
    403: "PhantomBuster forbids this action for the API key",
    404: "PhantomBuster does not know this agent: check PHANTOMBUSTER_AGENT_ID",
}


def _ms(value: Any) -> datetime | None:
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


@dataclass(frozen=True, slots=True)
class Container:
    """One PhantomBuster container (a run of the agent) as `containers/fetch` reports it."""

    id: str
    status: str
    created_at: datetime | None = None
    launched_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    end_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "finished" and self.exit_code == 0 and self.end_type in (None, "finished")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Container:
        exit_code = data.get("exitCode")
        meta = data.get("userCustomMetadata")
        return cls(
            id=str(data.get("id", "")),
            status=str(data.get("status", "unknown")),
            created_at=_ms(data.get("createdAt")),
            launched_at=_ms(data.get("launchedAt")),
            ended_at=_ms(data.get("endedAt")),
            exit_code=exit_code if isinstance(exit_code, int) else None,
            end_type=data.get("endType") if isinstance(data.get("endType"), str) else None,
            metadata=meta if isinstance(meta, dict) else {},
        )


@dataclass(frozen=True, slots=True)
class Resources:
    """What `orgs/fetch-resources` says of the execution time used and allowed (units as PhantomBuster gives them)."""

    daily_execution_time: float | None
    monthly_execution_time: float | None
    plan_daily_execution_time: float | None
    plan_monthly_execution_time: float | None
    plan_name: str | None
    raw: dict[str, Any]

    @property
    def monthly_remaining(self) -> float | None:
        if self.plan_monthly_execution_time is None or self.monthly_execution_time is None:
            return None
        return max(0.0, self.plan_monthly_execution_time - self.monthly_execution_time)


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


class PhantomBusterClient:
    """A thin typed client over an `httpx.Client` whose base URL is the API root (…/api/v2)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        api_key: str,
        agent_id: str,
        max_retries: int = 4,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        retry_after_cap: float = 30.0,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        t = http.timeout
        if None in (t.connect, t.read, t.write, t.pool):
            raise ValueError(
                "the httpx.Client given to PhantomBusterClient must have timeouts (connect, read, write and pool)"
            )
        self.http = http
        self.agent_id = agent_id
        self._headers = {"X-Phantombuster-Key": api_key, "Accept": "application/json"}
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self.breaker = breaker or CircuitBreaker()
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"PhantomBusterClient(base_url={str(self.http.base_url)!r}, agent_id={self.agent_id!r})"

    # -- endpoints -----------------------------------------------------------------------------------

    def launch(self, bonus_argument: dict[str, Any], *, metadata: dict[str, str], max_instance_count: int = 1) -> str:
        """POST agents/launch; returns the container id. Raises PhantomBusterBusy on maxParallelismReached."""
        body = {
            "id": self.agent_id,
            "bonusArgument": bonus_argument,
            "maxInstanceCount": max_instance_count,
            "userCustomMetadata": metadata,
        }
        data = self._request("POST", "agents/launch", json=body, idempotent=False)
        container_id = data.get("containerId") if isinstance(data, dict) else None
        if container_id in (None, ""):
            raise PhantomBusterError("PhantomBuster accepted the launch but sent no container id.", retryable=False)
        return str(container_id)

    def fetch_container(self, container_id: str) -> Container:
        """GET containers/fetch."""
        data = self._request("GET", "containers/fetch", params={"id": container_id})
        if not isinstance(data, dict) or "status" not in data:
            raise PhantomBusterError("PhantomBuster sent a container without a status.", retryable=True)
        return Container.from_json(data)

    def fetch_result_object(self, container_id: str) -> list[dict[str, Any]] | None:
        """GET containers/fetch-result-object; the JSON-encoded result parsed into a list of profiles, or None."""
        data = self._request("GET", "containers/fetch-result-object", params={"id": container_id})
        raw = data.get("resultObject") if isinstance(data, dict) else None
        return parse_result_object(raw)

    def fetch_output(self, container_id: str) -> str:
        """GET containers/fetch-output (console text; empty when PhantomBuster answers 204)."""
        data = self._request("GET", "containers/fetch-output", params={"id": container_id, "mode": "json"})
        out = data.get("output") if isinstance(data, dict) else None
        return out if isinstance(out, str) else ""

    def fetch_agent(self) -> dict[str, Any]:
        """GET agents/fetch for the configured agent."""
        data = self._request("GET", "agents/fetch", params={"id": self.agent_id})
        return data if isinstance(data, dict) else {}

    def recent_containers(self, limit: int = 25) -> list[Container]:
        """GET containers/fetch-all for the agent, newest first."""
        data = self._request(
            "GET", "containers/fetch-all", params={"agentId": self.agent_id, "limit": limit, "mode": "all"}
        )
        items = data.get("containers", []) if isinstance(data, dict) else []
        return [Container.from_json(c) for c in items if isinstance(c, dict)]

    def stop_agent(self) -> None:
        """POST agents/stop: aborts every running container of the agent."""
        self._request("POST", "agents/stop", json={"id": self.agent_id}, idempotent=True)

    def fetch_resources(self) -> Resources:
        """GET orgs/fetch-resources."""
        data = self._request("GET", "orgs/fetch-resources")
        data = data if isinstance(data, dict) else {}
        plan = data.get("plan") if isinstance(data.get("plan"), dict) else {}

        def num(v: Any) -> float | None:
            return float(v) if isinstance(v, int | float) else None

        return Resources(
            daily_execution_time=num(data.get("dailyExecutionTime")),
            monthly_execution_time=num(data.get("monthlyExecutionTime")),
            plan_daily_execution_time=num(plan.get("dailyExecutionTime")),
            plan_monthly_execution_time=num(plan.get("monthlyExecutionTime")),
            plan_name=plan.get("name") if isinstance(plan.get("name"), str) else data.get("planName"),
            raw=data,
        )

    # -- transport -----------------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None, idempotent: bool = True
    ) -> Any:
        attempt = 0
        # The breaker decides whether a call may start; the retries of a call that started belong to it.
        self.breaker.before_call()
        while True:
            try:
                response = self.http.request(method, path, params=params, json=json, headers=self._headers)
            except httpx.TransportError as exc:
                # A launch may have reached PhantomBuster before the connection broke: only retry it when
                # the request was never sent.
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                error = PhantomBusterError(
                    f"PhantomBuster could not be reached ({type(exc).__name__}).",
                    code="unreachable" if not sent else "no_answer",
                    retryable=idempotent or not sent,
                )
                retry_after = None
            else:
                if response.status_code < 400:
                    self.breaker.record(True)
                    if response.status_code == 204 or not response.content:
                        return {}
                    try:
                        return response.json()
                    except ValueError:
                        raise PhantomBusterError(
                            "PhantomBuster answered with something that is not JSON.", retryable=False
                        ) from None
                error = self._error_from(response, idempotent=idempotent, path=path)
                if isinstance(error, PhantomBusterBusy):
                    self.breaker.record(True)
                    raise error
                retry_after = error.retry_after
            if not error.retryable or attempt >= self.max_retries:
                if error.retryable or (error.status_code or 0) >= 500:
                    self.breaker.record(False)
                else:
                    self.breaker.record(True)
                raise error
            attempt += 1
            self._sleep(self._delay(attempt, retry_after))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        # Full jitter: a random wait between 0 and the exponential ceiling.
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    @staticmethod
    def _error_from(response: httpx.Response, *, idempotent: bool, path: str = "") -> PhantomBusterError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
        slug = details.get("detailedErrorSlug")
        text = body.get("error") or body.get("message") or details.get("message") or ""
        text = str(text)[:300]
        status = response.status_code
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if status == 429 and (slug == "maxParallelismReached" or "parallel" in text.lower()):
            return PhantomBusterBusy(
                "PhantomBuster is already running this agent (maxParallelismReached); the run waits for the slot.",
                status_code=429,
                retryable=True,
                retry_after=retry_after,
            )
        if status == 429:
            return PhantomBusterError(
                "PhantomBuster asked us to slow down (429).",
                code="rate_limited",
                status_code=429,
                retryable=True,
                retry_after=retry_after,
            )
        if status >= 500:
            return PhantomBusterError(
                f"PhantomBuster had an internal error ({status}).",
                code="server_error",
                status_code=status,
                retryable=idempotent,
                retry_after=retry_after,
            )
        friendly = _FRIENDLY.get(status, f"PhantomBuster refused the request ({status})")
        if status == 404 and path.startswith("containers/"):
            friendly = "PhantomBuster does not know this container (it may have been deleted, or the id is wrong)"
        message = f"{friendly}: {text}" if text else f"{friendly}."
        return PhantomBusterError(message, code=f"http_{status}", status_code=status, retryable=False)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def parse_result_object(raw: Any) -> list[dict[str, Any]] | None:
    """Turn PhantomBuster's JSON-encoded resultObject (untrusted) into a list of profile dicts, or None."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            log.warning("resultObject is not valid JSON; treated as empty")
            return None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        return None
    return [item for item in raw if isinstance(item, dict)]


def build_client(
    base_url: str,
    api_key: str,
    agent_id: str,
    *,
    timeout: float = 15.0,
    max_retries: int = 4,
    retry_after_cap: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> PhantomBusterClient:
    """A client with a pooled httpx.Client, timeouts always on."""
    http = httpx.Client(
        base_url=base_url.rstrip("/") + "/",
        timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
        transport=transport,
    )
    return PhantomBusterClient(
        http, api_key=api_key, agent_id=agent_id, max_retries=max_retries, retry_after_cap=retry_after_cap
    )
