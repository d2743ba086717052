"""Every request the client sends and every answer the sandbox gives, checked against PhantomBuster's contract.

The client and a plain httpx client talk to the real sandbox process over HTTP through a ContractTransport, which
validates each request's query and body and each response's body against the schemas derived from the OpenAPI
file (tests/contract/phantombuster_contract.json).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.config import SANDBOX_AGENT_ID, SANDBOX_API_KEY
from core.phantombuster import PhantomBusterClient, scraper_launch_argument
from tests.contract import oas
from tests.contract.oas import ContractLog, ContractTransport
from tests.support.sandbox_process import SandboxProcess, sandbox_process

__all__ = ["sandbox_process"]  # the session fixture, imported so pytest finds it here

ROOT = Path(__file__).resolve().parents[2]
URLS = ["https://www.linkedin.com/in/ada-lovelace", "https://www.linkedin.com/in/bob-missing"]
SLOW = {"run_seconds": [30, 30], "start_delay_seconds": 0.0}


def client_endpoints() -> set[str]:
    """The endpoints core/phantombuster.py calls, read from its source (so a new call cannot be forgotten)."""
    source = (ROOT / "core" / "phantombuster.py").read_text(encoding="utf-8")
    return set(re.findall(r'_request\(\s*"(?:GET|POST)",\s*"([a-z-]+/[a-z-]+)"', source))


@pytest.fixture
def sb(sandbox_process: SandboxProcess) -> Iterator[SandboxProcess]:
    sandbox_process.reset(seed=5)
    yield sandbox_process
    sandbox_process.reset()


def checked_client(sb: SandboxProcess, log: ContractLog) -> PhantomBusterClient:
    return sb.client(transport=ContractTransport(log))


def launch(sb: SandboxProcess, client: PhantomBusterClient, urls: list[str] = URLS, csv_name: str = "run-1") -> str:
    argument = scraper_launch_argument(sb.sheet(urls), column_name="profileUrl", csv_name=csv_name, number_of_adds=10)
    return client.launch(argument, metadata={"runId": "1", "batchToken": "t"}, max_instance_count=1)


def test_every_client_call_is_within_the_contract(sb: SandboxProcess) -> None:
    log = ContractLog()
    client = checked_client(sb, log)
    assert client_endpoints() <= set(oas.endpoints()), "the client calls an endpoint the fixture does not cover"
    client.fetch_agent()
    client.fetch_org()
    client.fetch_resources()
    assert client.running_containers() == [] and client.running_count() == 0
    sb.set_faults(**SLOW)
    container_id = launch(sb, client)
    client.fetch_container(container_id)
    assert len(client.running_containers()) == 1 and client.running_count() == 1
    client.recent_containers()
    client.stop_agent()
    assert client.fetch_container(container_id).end_type == "killed"
    sb.set_faults(run_seconds=[0.05, 0.05], result_files_rate=0.0)
    container_id = launch(sb, client, csv_name="run-2")
    sb.finish(container_id)
    assert client.fetch_result_rows(container_id) is not None
    sb.set_faults(result_files_rate=1.0)
    container_id = launch(sb, client, csv_name="run-3")
    sb.finish(container_id)
    assert [r.urls[0] for r in client.fetch_result_rows(container_id) or []] == URLS
    assert log.violations == []
    assert client_endpoints() <= log.endpoints()


def test_sandbox_answers_in_every_state_are_within_the_contract(sb: SandboxProcess) -> None:
    log = ContractLog()
    headers = {"X-Phantombuster-Key": SANDBOX_API_KEY}
    http = httpx.Client(base_url=sb.api_url, headers=headers, timeout=10, transport=ContractTransport(log))
    agent = SANDBOX_AGENT_ID
    flags = {"withResultObject": "true", "withOutput": "true", "withRuntimeEvents": "true"}
    flags["withNewerAndOlderContainerId"] = "true"

    def sweep(container_id: str | None = None) -> None:
        http.get("agents/fetch", params={"id": agent})
        http.get("agents/fetch-all")
        http.get("agents/fetch-all", params={"agentIds": agent, "withArgument": "true"})
        http.get("agents/fetch-output", params={"id": agent})
        http.get("orgs/fetch")
        http.get("orgs/fetch-resources")
        http.get("orgs/fetch-running-containers")
        for mode in ("all", "finalized"):
            http.get("containers/fetch-all", params={"agentId": agent, "mode": mode, "limit": "5"})
        http.get("containers/fetch-all", params={"agentId": agent, "withRuntimeEvents": "true"})
        if container_id is not None:
            http.get("containers/fetch", params={"id": container_id})
            http.get("containers/fetch", params={"id": container_id, **flags})
            http.get("containers/fetch-result-object", params={"id": container_id})
            for mode in ("json", "raw"):
                http.get("containers/fetch-output", params={"id": container_id, "mode": mode})

    def launch_on(urls: list[str], **bonus: object) -> str:
        body = {"id": agent, "bonusArgument": {"spreadsheetUrl": sb.sheet(urls), "columnName": "profileUrl", **bonus}}
        response = http.post("agents/launch", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["containerId"])

    sweep()  # never launched
    sb.set_faults(start_delay_seconds=5.0)
    starting = launch_on(URLS)
    sweep(starting)
    assert http.post("agents/stop", json={"id": agent, "softAbort": False}).status_code == 200
    sweep(starting)  # killed before it ran
    sb.set_faults(start_delay_seconds=0.0, run_seconds=[30, 30], unknown_status_count=1)
    running = launch_on(URLS)
    sweep(running)  # running, then "unknown" once
    sb.finish(running)
    sweep(running)  # finished
    sb.set_faults(exit_codes={"84": 1.0})
    sb.finish(session := launch_on(URLS))
    sweep(session)
    sb.set_faults(exit_codes={}, launch_error_rate=1.0)
    sb.finish(broken := launch_on(URLS))
    sweep(broken)  # launch error
    sb.set_faults(launch_error_rate=0.0, early_stop_after=1, result_files_rate=1.0)
    sb.finish(early := launch_on([*URLS, "https://www.linkedin.com/in/cy"], csvName="early"))
    sweep(early)
    saved = {
        "id": agent,
        "name": "LinkedIn Profile Scraper",
        "script": "LinkedIn Profile Scraper.js",
        "maxRetryNumber": 1,
        "maxParallelism": 1,
        "launchType": "manually",
        "argument": {"sessionCookie": "c"},
        "notifications": {"webhook": "http://127.0.0.1:9/hook?secret=s", "mailAutomaticExitError": False},
    }
    assert http.post("agents/save", json=saved).status_code == 200
    sb.set_faults(early_stop_after=None, exit_codes={"1": 1.0}, retry_delay_seconds=0.0, run_seconds=[0.05, 0.05])
    sb.finish(launch_on(URLS, csvName="retried"))  # a file of its own: URLS are in "result" already

    def retried() -> bool:
        page = http.get("containers/fetch-all", params={"agentId": agent}).json()["containers"]
        return any(c["launchType"] == "retry" and c["status"] == "finished" for c in page)

    deadline = time.monotonic() + 10
    while not retried():
        assert time.monotonic() < deadline, "the agent started no retry container"
        sb.finish()
        time.sleep(0.02)
    sweep(http.get("containers/fetch-all", params={"agentId": agent}).json()["containers"][0]["id"])
    http.close()
    assert log.violations == []
    assert set(oas.endpoints()) <= log.endpoints()
