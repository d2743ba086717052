"""The PhantomBuster client against the sandbox over real HTTP: retries, Retry-After, breaker, timeouts, errors,
Profile Scraper rows, result files and the typed answers."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from core.config import SANDBOX_AGENT_ID, SANDBOX_API_KEY
from core.errors import CircuitOpen, PhantomBusterBusy, PhantomBusterError
from core.phantombuster import (
    SESSION_EXIT_CODES,
    CircuitBreaker,
    PhantomBusterClient,
    is_session_problem,
    parse_result_object,
    scraper_launch_argument,
)
from tests.support.sandbox_process import SandboxProcess, sandbox_process
from tests.support.services import free_port

__all__ = ["sandbox_process"]  # the session fixture, imported so pytest finds it here

URLS = ["https://www.linkedin.com/in/ada-lovelace", "https://www.linkedin.com/in/alan-turing"]
SLOW_RUN = {"run_seconds": [60, 60], "start_delay_seconds": 0.0}


class Sleeps(list[float]):
    """A `sleep` that records the delays it is asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def statuses(sb: SandboxProcess, endpoint: str) -> list[int]:
    """HTTP statuses the sandbox answered on `endpoint`, in order."""
    return [c["status"] for c in sb.record()["calls"] if c["path"] == f"/api/v2/{endpoint}"]


def launch(client: PhantomBusterClient, urls: list[str] = URLS, *, sb: SandboxProcess | None = None) -> str:
    """Launch the agent on `urls` the way the engine will: a CSV URL, its column, a result file of its own
    (without `sb`, a URL nothing serves: for launches that never reach PhantomBuster)."""
    sheet = sb.sheet(urls) if sb is not None else "http://127.0.0.1:9/batch.csv"
    argument = scraper_launch_argument(sheet, column_name="profileUrl", csv_name="run-1", number_of_adds=len(urls))
    return client.launch(argument, metadata={"runId": "1"}, max_instance_count=1)


@pytest.fixture
def sb(sandbox_process: SandboxProcess) -> SandboxProcess:
    sandbox_process.reset(seed=11)
    return sandbox_process


# -- 429 rate limiting -------------------------------------------------------------------------------------


def test_429_with_retry_after_is_retried_after_that_many_seconds(sb: SandboxProcess) -> None:
    sb.set_faults(burst_429=2, burst_429_endpoints=["agents/fetch"], burst_429_retry_after_seconds=7)
    sleeps = Sleeps()
    agent = sb.client(sleep=sleeps, retry_after_cap=30).fetch_agent()
    assert agent.id == SANDBOX_AGENT_ID
    assert sleeps == [7.0, 7.0]
    assert statuses(sb, "agents/fetch") == [429, 429, 200]


def test_429_retry_after_is_capped(sb: SandboxProcess) -> None:
    sb.set_faults(burst_429=1, burst_429_endpoints=["agents/fetch"], burst_429_retry_after_seconds=600)
    sleeps = Sleeps()
    sb.client(sleep=sleeps, retry_after_cap=30).fetch_agent()
    assert sleeps == [30.0]


def test_429_without_retry_after_backs_off_with_full_jitter(sb: SandboxProcess) -> None:
    sb.set_faults(burst_429=8, burst_429_endpoints=["agents/fetch"])
    sleeps = Sleeps()
    base, cap = 0.25, 2.0
    sb.client(sleep=sleeps, max_retries=8, backoff_base=base, backoff_cap=cap).fetch_agent()
    ceilings = [min(cap, base * 2**attempt) for attempt in range(1, 9)]
    assert len(sleeps) == 8
    assert all(0.0 <= s <= ceiling for s, ceiling in zip(sleeps, ceilings, strict=True)), (sleeps, ceilings)
    assert len(set(sleeps)) > 1 and sleeps != ceilings  # random waits, not a fixed schedule
    assert statuses(sb, "agents/fetch") == [429] * 8 + [200]


def test_429_streak_longer_than_max_retries_raises_retryable(sb: SandboxProcess) -> None:
    sb.set_faults(burst_429=10, burst_429_endpoints=["agents/fetch"], burst_429_retry_after_seconds=1)
    sleeps = Sleeps()
    with pytest.raises(PhantomBusterError) as info:
        sb.client(sleep=sleeps, max_retries=3).fetch_agent()
    assert (info.value.code, info.value.status_code, info.value.retryable) == ("rate_limited", 429, True)
    assert info.value.retry_after == 1.0
    assert sleeps == [1.0, 1.0, 1.0]
    assert statuses(sb, "agents/fetch") == [429] * 4


def test_rate_limited_launch_is_retried_because_it_was_not_processed(sb: SandboxProcess) -> None:
    sb.set_faults(burst_429=1, burst_429_endpoints=["agents/launch"], burst_429_retry_after_seconds=2, **SLOW_RUN)
    sleeps = Sleeps()
    container_id = launch(sb.client(sleep=sleeps), sb=sb)
    record = sb.record()
    assert sleeps == [2.0]
    assert [launch["containerId"] for launch in record["launches"]] == [container_id]
    assert [r["reason"] for r in record["rejected_launches"]] == ["rateLimited"]


# -- maxParallelismReached ---------------------------------------------------------------------------------


def test_max_parallelism_reached_is_busy_at_once_without_retry(sb: SandboxProcess) -> None:
    sb.set_faults(max_parallelism=1, retry_after_seconds=5, **SLOW_RUN)
    sleeps = Sleeps()
    client = sb.client(sleep=sleeps)
    first = launch(client, sb=sb)
    with pytest.raises(PhantomBusterBusy) as info:
        launch(client, sb=sb)
    assert (info.value.code, info.value.status_code, info.value.retry_after) == ("max_parallelism_reached", 429, 5.0)
    assert sleeps == []
    record = sb.record()
    assert [launch["containerId"] for launch in record["launches"]] == [first]
    assert [r["reason"] for r in record["rejected_launches"]] == ["maxParallelismReached"]
    assert statuses(sb, "agents/launch") == [200, 429]
    assert not client.breaker.is_open


# -- 5xx and the circuit breaker ----------------------------------------------------------------------------


def test_5xx_streak_on_idempotent_get_is_retried_then_succeeds(sb: SandboxProcess) -> None:
    sleeps = Sleeps()
    client = sb.client(sleep=sleeps, max_retries=3)
    container_id = launch(client, sb=sb)
    sb.set_faults(error_500_count=3, error_500_endpoints=["containers/fetch"])
    assert client.fetch_container(container_id).id == container_id
    assert statuses(sb, "containers/fetch") == [500, 500, 500, 200]
    assert len(sleeps) == 3


def test_5xx_streak_longer_than_max_retries_raises_then_opens_and_closes_the_breaker(sb: SandboxProcess) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=30.0, clock=clock)
    sleeps = Sleeps()
    client = sb.client(sleep=sleeps, max_retries=2, breaker=breaker)
    container_id = launch(client, sb=sb)
    sb.set_faults(error_500_count=1000, error_500_endpoints=["containers/fetch"])

    for _ in range(2):
        with pytest.raises(PhantomBusterError) as info:
            client.fetch_container(container_id)
        assert not isinstance(info.value, CircuitOpen)
        assert (info.value.code, info.value.status_code, info.value.retryable) == ("server_error", 500, True)
    assert statuses(sb, "containers/fetch") == [500] * 6
    assert len(sleeps) == 4
    assert breaker.is_open

    calls_before = len(sb.record()["calls"])
    with pytest.raises(CircuitOpen) as opened:
        client.fetch_container(container_id)
    assert opened.value.retryable and opened.value.retry_after == 30.0
    with pytest.raises(CircuitOpen):
        client.fetch_agent()
    assert len(sb.record()["calls"]) == calls_before  # no HTTP call while open

    clock.now += 30.0  # cooled down: one call goes through; it fails, so the breaker opens again at once
    assert not breaker.is_open
    with pytest.raises(PhantomBusterError) as again:
        client.fetch_container(container_id)
    assert not isinstance(again.value, CircuitOpen)
    assert breaker.is_open
    with pytest.raises(CircuitOpen):
        client.fetch_container(container_id)

    clock.now += 30.0  # cooled down again and PhantomBuster is healthy: the call succeeds and closes it
    sb.set_faults(error_500_count=0)
    assert client.fetch_container(container_id).id == container_id
    assert not breaker.is_open
    assert client.fetch_agent().id == SANDBOX_AGENT_ID


def test_500_after_launch_was_processed_is_not_retried(sb: SandboxProcess) -> None:
    sb.set_faults(error_500_count=1, error_500_endpoints=["agents/launch"], error_500_mode="after", **SLOW_RUN)
    sleeps = Sleeps()
    with pytest.raises(PhantomBusterError) as info:
        launch(sb.client(sleep=sleeps), sb=sb)
    assert (info.value.code, info.value.status_code, info.value.retryable) == ("server_error", 500, False)
    assert sleeps == []
    assert statuses(sb, "agents/launch") == [500]
    assert len(sb.record()["launches"]) == 1  # PhantomBuster did launch: a blind retry would launch twice


# -- timeouts and unreachable -------------------------------------------------------------------------------


def _wait_for_calls(sb: SandboxProcess, endpoint: str, count: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(found := statuses(sb, endpoint)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_hanging_get_times_out_per_attempt_and_never_hangs(sb: SandboxProcess) -> None:
    sb.set_faults(hang_seconds=3.0, hang_endpoints=["agents/fetch"], hang_count=3, hang_mode="before")
    sleeps = Sleeps()
    client = sb.client(timeout=httpx.Timeout(0.5), sleep=sleeps, max_retries=2)
    started = time.monotonic()
    with pytest.raises(PhantomBusterError) as info:
        client.fetch_agent()
    elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 2.5, elapsed  # 3 attempts x 0.5 s, not the 3 s hang
    assert (info.value.code, info.value.retryable) == ("no_answer", True)
    assert len(sleeps) == 2
    # The sandbox logs a call when it answers: the three hung attempts appear once their hang is over.
    assert len(_wait_for_calls(sb, "agents/fetch", 3, timeout=4.0)) == 3


def test_hanging_launch_is_not_retried(sb: SandboxProcess) -> None:
    sb.set_faults(hang_seconds=1.5, hang_endpoints=["agents/launch"], hang_count=1, hang_mode="after", **SLOW_RUN)
    sleeps = Sleeps()
    started = time.monotonic()
    with pytest.raises(PhantomBusterError) as info:
        launch(sb.client(timeout=httpx.Timeout(0.5), sleep=sleeps), sb=sb)
    assert time.monotonic() - started < 1.2
    assert (info.value.code, info.value.retryable) == ("no_answer", False)
    assert sleeps == []
    assert _wait_for_calls(sb, "agents/launch", 1, timeout=3.0) == [200]
    assert len(sb.record()["launches"]) == 1


def test_unreachable_is_retried_even_for_a_launch() -> None:
    http = httpx.Client(base_url=f"http://127.0.0.1:{free_port()}/api/v2/", timeout=2.0)
    sleeps = Sleeps()
    client = PhantomBusterClient(http, api_key=SANDBOX_API_KEY, agent_id=SANDBOX_AGENT_ID, max_retries=2, sleep=sleeps)
    with pytest.raises(PhantomBusterError) as info:
        launch(client)  # never sent, so retrying cannot launch twice
    assert (info.value.code, info.value.retryable) == ("unreachable", True)
    assert len(sleeps) == 2


# -- client errors fail fast --------------------------------------------------------------------------------


def test_401_fails_fast_and_names_the_setting(sb: SandboxProcess) -> None:
    sleeps = Sleeps()
    client = sb.client(api_key="not-the-key", sleep=sleeps)
    with pytest.raises(PhantomBusterError) as info:
        client.fetch_agent()
    assert (info.value.code, info.value.status_code, info.value.retryable) == ("http_401", 401, False)
    assert "PHANTOMBUSTER_API_KEY" in info.value.message
    assert sleeps == [] and statuses(sb, "agents/fetch") == [401]
    assert not client.breaker.is_open


def test_404_on_unknown_container_fails_fast(sb: SandboxProcess) -> None:
    sleeps = Sleeps()
    with pytest.raises(PhantomBusterError) as info:
        sb.client(sleep=sleeps).fetch_container("1234567890123456")
    assert (info.value.code, info.value.status_code, info.value.retryable) == ("http_404", 404, False)
    assert "No container exists with the provided id" in info.value.message
    assert sleeps == [] and statuses(sb, "containers/fetch") == [404]


@pytest.mark.parametrize(
    ("agent_id", "max_instance_count", "reason"),
    [
        ("999", 1, "No agent exists with the provided id"),
        (SANDBOX_AGENT_ID, 0, "maxInstanceCount must be a number of at least 1"),
    ],
)
def test_400_on_launch_fails_fast_with_the_reason(
    sb: SandboxProcess, agent_id: str, max_instance_count: int, reason: str
) -> None:
    sleeps = Sleeps()
    with pytest.raises(PhantomBusterError) as info:
        sb.client(agent_id=agent_id, sleep=sleeps).launch({}, metadata={}, max_instance_count=max_instance_count)
    assert (info.value.code, info.value.status_code, info.value.retryable) == ("http_400", 400, False)
    assert info.value.message.startswith("PhantomBuster rejected the request") and reason in info.value.message
    assert sleeps == [] and statuses(sb, "agents/launch") == [400]
    assert sb.record()["launches"] == []


# -- results ------------------------------------------------------------------------------------------------


def test_fetch_result_object_returns_one_profile_per_input_url(sb: SandboxProcess) -> None:
    sb.set_faults(**SLOW_RUN)
    client = sb.client()
    container_id = launch(client, sb=sb)
    assert sb.finish(container_id) == [container_id]
    container = client.fetch_container(container_id)
    assert container.ended and container.succeeded and container.metadata == {"runId": "1"}
    profiles = client.fetch_result_object(container_id)
    assert profiles is not None
    assert [p["profileUrl"] for p in profiles] == URLS
    assert all(isinstance(p, dict) and len(p) > 1 for p in profiles)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("{not json", None),
        ("42", None),
        ('"text"', None),
        (42, None),
        ("[]", []),
        ('{"query": "u"}', [{"query": "u"}]),
        ({"query": "u"}, [{"query": "u"}]),
        ('[1, "a", null, {"query": "u"}, [2]]', [{"query": "u"}]),
        ([{"query": "u"}, "x"], [{"query": "u"}]),
    ],
)
def test_parse_result_object(raw: Any, expected: list[dict[str, Any]] | None) -> None:
    assert parse_result_object(raw) == expected


# -- construction -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, httpx.Timeout(5.0, read=None), httpx.Timeout(5.0, connect=None)])
def test_client_without_timeouts_is_refused(timeout: httpx.Timeout | None) -> None:
    with httpx.Client(timeout=timeout) as http, pytest.raises(ValueError, match="timeouts"):
        PhantomBusterClient(http, api_key=SANDBOX_API_KEY, agent_id=SANDBOX_AGENT_ID)


# -- Profile Scraper results, result files, typed answers -----------------------------------------------------

ROWS_URLS = [
    "https://www.linkedin.com/in/ada-lovelace/",
    "https://www.linkedin.com/in/bob-missing",
    "https://www.linkedin.com/in/ACwAAAB1234",
]


def finished(sb: SandboxProcess, client: PhantomBusterClient, urls: list[str] = ROWS_URLS) -> str:
    container_id = launch(client, urls, sb=sb)
    assert sb.finish(container_id) == [container_id]
    return container_id


def test_fetch_result_rows_types_the_rows(sb: SandboxProcess) -> None:
    client = sb.client()
    rows = client.fetch_result_rows(finished(sb, client))
    assert rows is not None and len(rows) == 3
    ada, bob, member = rows
    assert ada.ok and ada.matches("https://linkedin.com/in/ada-lovelace") and ada.data["firstName"] == "Ada"
    assert isinstance(ada.data["linkedinFollowersCount"], int)  # "512" on the wire
    assert not bob.ok and bob.error_kind == "not_found" and not bob.retryable
    assert member.matches(ROWS_URLS[2]) and member.matches(member.data["linkedinProfileUrl"])
    assert "acwaaab" not in member.data["linkedinProfileUrl"]  # canonical differs from the input


@pytest.mark.parametrize("csv_key", ["csvUrl", "csvURL"])
def test_result_files_are_followed_with_the_same_client(sb: SandboxProcess, csv_key: str) -> None:
    sb.set_faults(result_files_rate=1.0, result_files_csv_key=csv_key)
    client = sb.client()
    container_id = finished(sb, client)
    raw = client.http.get("containers/fetch-result-object", params={"id": container_id}, headers=client._headers)
    links = json.loads(raw.json()["resultObject"])
    assert set(links) == {csv_key, "jsonUrl"}
    rows = client.fetch_result_rows(container_id)
    assert rows is not None and [r.urls[0] for r in rows] == ROWS_URLS
    # Only the CSV link: the CSV is read, its counts (strings there) become numbers.
    csv_only = client.rows_from_result_object(json.dumps({csv_key: links[csv_key]}))
    assert csv_only is not None and [r.urls[0] for r in csv_only] == ROWS_URLS
    assert isinstance(csv_only[0].data["linkedinConnectionsCount"], int) and csv_only[1].error_kind == "not_found"


@pytest.mark.parametrize(
    "url",
    ["https://evil.example/result.json", "http://phantombuster.s3.amazonaws.com/a/b/result.json", "file:///etc/passwd"],
)
def test_result_files_elsewhere_are_not_downloaded(sb: SandboxProcess, url: str) -> None:
    client = sb.client()
    calls = len(sb.record()["calls"])
    with pytest.raises(PhantomBusterError) as info:
        client.rows_from_result_object(json.dumps({"csvUrl": url, "jsonUrl": url}))
    assert info.value.code == "result_file_host" and not info.value.retryable
    assert len(sb.record()["calls"]) == calls


def test_a_result_file_on_another_local_port_is_refused(sb: SandboxProcess) -> None:
    other = f"http://127.0.0.1:{free_port()}/phantombuster-s3/a/b/result.json"
    with pytest.raises(PhantomBusterError, match="not PhantomBuster's storage"):
        sb.client().rows_from_result_object({"jsonUrl": other})


def test_result_files_have_a_size_cap(sb: SandboxProcess) -> None:
    sb.set_faults(result_files_rate=1.0)
    client = sb.client(max_result_file_bytes=200)
    container_id = finished(sb, client)
    with pytest.raises(PhantomBusterError) as info:
        client.fetch_result_rows(container_id)
    assert info.value.code == "result_file_too_big"


def test_storage_downloads_send_no_api_key_and_follow_no_redirect() -> None:
    seen: list[httpx.Request] = []

    def storage(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("moved.json"):
            return httpx.Response(302, headers={"Location": "https://evil.example/x.json"})
        return httpx.Response(200, json=[{"profileUrl": "https://www.linkedin.com/in/a"}])

    http = httpx.Client(
        base_url="https://api.phantombuster.com/api/v2/",
        timeout=5.0,
        transport=httpx.MockTransport(storage),
        headers={"X-Phantombuster-Key": "secret-key"},
    )
    client = PhantomBusterClient(http, api_key="secret-key", agent_id="1")
    base = "https://phantombuster.s3.amazonaws.com/org/agent"
    rows = client.rows_from_result_object({"csvUrl": f"{base}/r.csv", "jsonUrl": f"{base}/r.json"})
    assert rows is not None and rows[0].ok
    with pytest.raises(PhantomBusterError) as info:
        client.rows_from_result_object({"jsonUrl": f"{base}/moved.json"})
    assert info.value.status_code == 302
    assert [r.url.host for r in seen] == ["phantombuster.s3.amazonaws.com"] * 2
    assert all("x-phantombuster-key" not in r.headers for r in seen)


def test_fetch_agent_is_typed(sb: SandboxProcess) -> None:
    agent = sb.client().fetch_agent()
    assert agent.id == SANDBOX_AGENT_ID and agent.is_profile_scraper
    assert (agent.script_id, agent.script) == ("5589386912058181", "LinkedIn Profile Scraper.js")
    assert agent.max_retry_number == 0 and agent.launch_type == "manually" and agent.argument_error is None
    assert agent.argument == {"sessionCookie": "sandbox-session-cookie"}
    assert agent.webhook_url is None  # the session sandbox has no webhook configured


def test_fetch_org_running_containers_and_count(sb: SandboxProcess) -> None:
    sb.set_faults(org_timezone="Europe/Oslo", **SLOW_RUN)
    client = sb.client()
    org = client.fetch_org()
    assert org.timezone == "Europe/Oslo" and org.name == "LeadRelay Sandbox" and org.parallelism == 5
    assert client.running_containers() == [] and client.running_count() == 0
    container_id = launch(client, sb=sb)
    running = client.running_containers()
    assert [(c.id, c.agent_id, c.launch_type, c.retry_number) for c in running] == [
        (container_id, SANDBOX_AGENT_ID, "user api call", 0)
    ]
    assert client.running_count() == 1
    assert sb.client(agent_id="4000000000000002").running_containers() == []  # another agent's are not its own


@pytest.mark.parametrize("code", [83, 84, 85, 87])
def test_session_exit_codes_are_recognised(sb: SandboxProcess, code: int) -> None:
    sb.set_faults(exit_codes={str(code): 1.0})
    client = sb.client()
    container = client.fetch_container(finished(sb, client))
    assert container.ended and not container.succeeded and container.session_problem
    assert is_session_problem(code) and code in SESSION_EXIT_CODES and "LinkedIn" in SESSION_EXIT_CODES[code]
    assert client.fetch_result_rows(container.id) is None


def test_other_exit_codes_are_not_session_problems() -> None:
    assert not any(is_session_problem(c) for c in (None, 0, 1, 76, 78, 82, 86))
