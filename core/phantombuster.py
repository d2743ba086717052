"""PhantomBuster API v2 client: one method per endpoint, retries with jitter, a circuit breaker, typed answers."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core import result_files
from core.circuit_breaker import CircuitBreaker
from core.errors import PhantomBusterBusy, PhantomBusterError
from core.phantombuster_answers import (
    FINAL_STATUSES,
    SESSION_EXIT_CODES,
    AgentInfo,
    Container,
    OrgInfo,
    Resources,
    RunningContainer,
    is_session_problem,
)
from core.scraper_rows import ScraperRow, parse_rows

log = logging.getLogger(__name__)

_FRIENDLY = {
    400: "PhantomBuster rejected the request",
    401: "PhantomBuster refused the API key: check PHANTOMBUSTER_API_KEY",
    402: "The PhantomBuster plan limit is reached: upgrade the plan or wait for the reset",
    403: "PhantomBuster forbids this action for the API key",
    404: "PhantomBuster does not know this agent: check PHANTOMBUSTER_AGENT_ID",
}
__all__ = [
    "FINAL_STATUSES",
    "SESSION_EXIT_CODES",
    "AgentInfo",
    "CircuitBreaker",
    "Container",
    "OrgInfo",
    "PhantomBusterClient",
    "Resources",
    "RunningContainer",
    "build_client",
    "is_session_problem",
    "parse_result_object",
    "scraper_launch_argument",
]


def scraper_launch_argument(
    spreadsheet_url: str, *, column_name: str, csv_name: str, number_of_adds: int
) -> dict[str, Any]:
    """The bonus argument of a Profile Scraper launch: the batch CSV's URL and column, a result file of the run's
    own (so nothing is skipped as already processed) and the per-launch cap. Merged over the saved argument, so
    the saved session (sessionCookie or identities) stays in force."""
    return {
        "spreadsheetUrl": spreadsheet_url,
        "columnName": column_name,
        "csvName": csv_name,
        "numberOfAddsPerLaunch": number_of_adds,
    }


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
        storage_hosts: tuple[str, ...] = result_files.STORAGE_HOSTS,
        max_result_file_bytes: int = result_files.MAX_RESULT_FILE_BYTES,
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
        self.storage_hosts = storage_hosts
        self.max_result_file_bytes = max_result_file_bytes

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
        """GET containers/fetch-result-object: the profiles, or None when there is no result object.

        A result object that links to the result files (`{csvUrl, jsonUrl}`) is followed: the rows come from
        the file (see `rows_from_result_object`).
        """
        data = self._request("GET", "containers/fetch-result-object", params={"id": container_id})
        raw = data.get("resultObject") if isinstance(data, dict) else None
        return self.result_object_items(raw)

    def result_object_items(self, raw: Any) -> list[dict[str, Any]] | None:
        """A result object (from the API or a webhook payload) as row dicts, following file links."""
        decoded = _decode(raw)
        links = result_files.file_links(decoded)
        if links is not None:
            return result_files.fetch_rows(
                self.http, links, hosts=self.storage_hosts, max_bytes=self.max_result_file_bytes
            )
        return parse_result_object(decoded)

    def rows_from_result_object(self, raw: Any) -> list[ScraperRow] | None:
        """A result object (from the API or a webhook payload) as typed rows; None when there is none."""
        items = self.result_object_items(raw)
        return None if items is None else parse_rows(items)

    def fetch_result_rows(self, container_id: str) -> list[ScraperRow] | None:
        """The container's result as typed rows, whatever shape the result object had (rows or file links)."""
        items = self.fetch_result_object(container_id)
        return None if items is None else parse_rows(items)

    def fetch_agent(self) -> AgentInfo:
        """GET agents/fetch for the configured agent."""
        data = self._request("GET", "agents/fetch", params={"id": self.agent_id})
        if not isinstance(data, dict) or not data.get("id"):
            raise PhantomBusterError("PhantomBuster sent an agent without an id.", retryable=True)
        return AgentInfo.from_json(data)

    def fetch_org(self) -> OrgInfo:
        """GET orgs/fetch: the workspace, with its time zone."""
        data = self._request("GET", "orgs/fetch")
        return OrgInfo.from_json(data if isinstance(data, dict) else {})

    def running_containers(self) -> list[RunningContainer]:
        """GET orgs/fetch-running-containers, this agent's only (oldest first, as PhantomBuster lists them)."""
        data = self._request("GET", "orgs/fetch-running-containers")
        items = data.get("containers", []) if isinstance(data, dict) else []
        found = [RunningContainer.from_json(c) for c in items if isinstance(c, dict)]
        return [c for c in found if c.agent_id == self.agent_id]

    def running_count(self) -> int:
        """GET agents/fetch-all for this agent: its `nbContainersRunning` (0 when PhantomBuster lists nothing)."""
        data = self._request("GET", "agents/fetch-all", params={"agentIds": self.agent_id})
        items = data if isinstance(data, list) else []
        for item in items:
            if isinstance(item, dict) and str(item.get("id")) == self.agent_id:
                count = item.get("nbContainersRunning")
                return int(count) if isinstance(count, int | float) and not isinstance(count, bool) else 0
        return 0

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


_UNREADABLE = object()


def _decode(raw: Any) -> Any:
    """The resultObject JSON-decoded when it is a string (None for null or empty, a marker when not JSON)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            log.warning("resultObject is not valid JSON; treated as empty")
            return _UNREADABLE
    return raw


def parse_result_object(raw: Any) -> list[dict[str, Any]] | None:
    """Turn PhantomBuster's JSON-encoded resultObject (untrusted) into a list of profile dicts, or None.

    File links (`{csvUrl, jsonUrl}`) are not rows: the client follows them (`result_object_items`).
    """
    raw = _decode(raw)
    if raw is None or raw is _UNREADABLE:
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
    storage_hosts: tuple[str, ...] = result_files.STORAGE_HOSTS,
) -> PhantomBusterClient:
    """A client with a pooled httpx.Client, timeouts always on."""
    http = httpx.Client(
        base_url=base_url.rstrip("/") + "/",
        timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
    )
    return PhantomBusterClient(
        http,
        api_key=api_key,
        agent_id=agent_id,
        max_retries=max_retries,
        retry_after_cap=retry_after_cap,
        storage_hosts=storage_hosts,
    )
