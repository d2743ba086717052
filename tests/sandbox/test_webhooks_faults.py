"""The sandbox's completion webhooks, agents/stop and every fault knob, over real HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.sandbox.conftest import AGENT_ID, Sandbox, wait_for

PAYLOAD_KEYS = {
    "agentId",
    "agentName",
    "containerId",
    "script",
    "scriptOrg",
    "branch",
    "launchDuration",
    "runDuration",
    "resultObject",
    "exitMessage",
    "exitCode",
}


def test_webhook_fires_once_on_end_with_the_documented_payload(sandbox: Sandbox) -> None:
    urls = ["https://www.linkedin.com/in/jane-doe-42", "https://www.linkedin.com/in/bob"]
    cid = sandbox.launch(urls).json()["containerId"]
    hit = wait_for(lambda: sandbox.receiver.for_container(cid))[0]
    body = hit["body"]
    assert set(body) == PAYLOAD_KEYS and hit["query"] == {"secret": "s3cr3t"}
    assert hit["content_type"] == "application/json"
    assert body["agentId"] == AGENT_ID and body["containerId"] == cid
    assert body["script"] == "LinkedIn Profile Scraper.js" and body["scriptOrg"] == "phantombuster"
    assert body["exitMessage"] == "finished" and body["exitCode"] == 0
    assert isinstance(body["launchDuration"], int) and isinstance(body["runDuration"], int)
    assert 40 <= body["runDuration"] <= 2000
    assert [p["profileUrl"] for p in json.loads(body["resultObject"])] == urls
    assert sandbox.container(cid)["status"] == "finished"  # sent at the end, not before
    # Once the sandbox has the receiver's answer, no other POST is on its way.
    assert wait_for(lambda: sandbox.record()["webhooks"])
    assert len(sandbox.receiver.for_container(cid)) == 1
    assert [w["status_code"] for w in sandbox.record()["webhooks"]] == [200]


def test_agents_stop_kills_running_containers_and_fires_the_webhook(sandbox: Sandbox) -> None:
    sandbox.faults(run_seconds=[5, 5], max_parallelism=2)
    ids = [sandbox.launch().json()["containerId"] for _ in range(2)]
    r = sandbox.post("agents/stop", {"id": AGENT_ID})
    assert r.status_code == 200
    for cid in ids:
        c = sandbox.container(cid)
        assert (c["status"], c["endType"], c["exitCode"]) == ("finished", "killed", 1)
        body = wait_for(lambda cid=cid: sandbox.receiver.for_container(cid))[0]["body"]
        assert body["exitMessage"] == "killed" and body["exitCode"] == 1
    assert sandbox.record()["running"] == 0
    bad = sandbox.post("agents/stop", {"id": "42"})
    assert bad.status_code == 400 and bad.json()["error"] == "No agent exists with the provided id."


@pytest.mark.parametrize(
    ("code", "line"),
    [
        (83, "❌ Can't connect to LinkedIn with this session cookie."),
        (84, "❌ Session cookie not valid anymore. Please log in to LinkedIn to get a new one."),
        (85, "⚠️ Cookie is correct but LinkedIn is asking for a mail verification."),
        (87, "❌ No valid credentials found"),
    ],
)
def test_session_exit_codes_with_their_console_lines(sandbox: Sandbox, code: int, line: str) -> None:
    sandbox.faults(exit_codes={str(code): 1.0})
    cid = sandbox.launch().json()["containerId"]
    c = sandbox.wait_ended(cid)
    assert (c["status"], c["endType"], c["exitCode"]) == ("finished", "finished", code)
    out = sandbox.output(cid)
    assert line in out and f"Process finished with an error (exit code: {code})" in out
    assert "Opening page" not in out  # nothing was scraped
    assert sandbox.result(cid) is None
    assert wait_for(lambda: sandbox.receiver.for_container(cid))[0]["body"]["exitCode"] == code


def test_empty_result_exits_0_with_an_empty_array(sandbox: Sandbox) -> None:
    sandbox.faults(empty_result_rate=1.0)
    cid = sandbox.launch().json()["containerId"]
    assert sandbox.wait_ended(cid)["exitCode"] == 0
    assert sandbox.get("containers/fetch-result-object", id=cid).json()["resultObject"] == "[]"


def test_launch_error_and_agent_timeout(sandbox: Sandbox) -> None:
    sandbox.faults(launch_error_rate=1.0)
    c = sandbox.wait_ended(sandbox.launch().json()["containerId"])
    assert c["status"] == "launch error" and c["launchedAt"] is None
    sandbox.faults(launch_error_rate=0.0, agent_timeout_rate=1.0)
    c = sandbox.wait_ended(sandbox.launch().json()["containerId"])
    assert (c["status"], c["endType"]) == ("finished", "agent timeout") and c["exitCode"] != 0


def test_dropped_webhook_is_recorded_not_sent(sandbox: Sandbox) -> None:
    sandbox.faults(webhook_drop_rate=1.0)
    cid = sandbox.launch().json()["containerId"]
    sandbox.wait_ended(cid)
    # The drop is recorded when the webhook would have been sent: after it, nothing can arrive.
    assert wait_for(lambda: sandbox.record()["webhooks"])
    assert sandbox.receiver.for_container(cid) == []
    assert sandbox.record()["webhooks"] == [
        {"containerId": cid, "at": pytest.approx(time.time(), abs=5), "error": "dropped"}
    ]


def test_duplicate_webhooks(sandbox: Sandbox) -> None:
    sandbox.faults(webhook_duplicates=3)
    cid = sandbox.launch().json()["containerId"]
    hits = wait_for(lambda: len(sandbox.receiver.for_container(cid)) == 3 and sandbox.receiver.for_container(cid))
    assert len({json.dumps(h["body"], sort_keys=True) for h in hits}) == 1
    assert wait_for(lambda: len(sandbox.record()["webhooks"]) == 3)


def test_delayed_and_failed_webhooks(sandbox: Sandbox) -> None:
    sandbox.faults(webhook_delay_seconds=0.3)
    cid = sandbox.launch().json()["containerId"]
    ended_at = sandbox.wait_ended(cid)["endedAt"] / 1000
    hit = wait_for(lambda: sandbox.receiver.for_container(cid))[0]
    assert hit["at"] - ended_at >= 0.25
    sandbox.receiver.status = 500
    sandbox.faults(webhook_delay_seconds=0.0, webhook_retries=1, webhook_retry_delay_seconds=0.05)
    cid = sandbox.launch().json()["containerId"]
    wait_for(lambda: len(sandbox.receiver.for_container(cid)) == 2)

    def attempts() -> list[int]:
        return [w["status_code"] for w in sandbox.record()["webhooks"] if w["containerId"] == cid]

    # The receiver sees a POST before the sandbox has its answer: wait for the sandbox's record as well.
    assert wait_for(lambda: len(attempts()) == 2 and attempts()) == [500, 500]


def test_early_webhook_arrives_while_the_container_still_runs(sandbox: Sandbox) -> None:
    sandbox.faults(run_seconds=[0.6, 0.6], webhook_early_seconds=0.5)
    seen: list[str] = []
    sandbox.receiver.on_hit = lambda hit: seen.append(sandbox.container(hit["body"]["containerId"])["status"])
    cid = sandbox.launch().json()["containerId"]
    hit = wait_for(lambda: sandbox.receiver.for_container(cid))[0]
    assert seen == ["running"] and hit["body"]["exitMessage"] == "finished"
    assert sandbox.get("containers/fetch-result-object", id=cid).json()["resultObject"] is None
    sandbox.wait_ended(cid)
    assert sandbox.get("containers/fetch-result-object", id=cid).json()["resultObject"] == hit["body"]["resultObject"]
    # The end sends no second webhook: the record holds the early one only, answered.
    assert wait_for(lambda: [w for w in sandbox.record()["webhooks"] if w["containerId"] == cid])
    assert len(sandbox.receiver.for_container(cid)) == 1


def test_429_burst_with_retry_after_on_launch_only(sandbox: Sandbox) -> None:
    sandbox.faults(burst_429=2, burst_429_endpoints=["agents/launch"], burst_429_retry_after_seconds=1.5)
    assert sandbox.get("agents/fetch", id=AGENT_ID).status_code == 200
    for _ in range(2):
        r = sandbox.launch()
        assert r.status_code == 429 and r.headers["Retry-After"] == "1.5"
        assert r.json()["details"]["detailedErrorSlug"] == "rateLimited"
    assert sandbox.launch().status_code == 200
    record = sandbox.record()
    assert [x["reason"] for x in record["rejected_launches"]] == ["rateLimited", "rateLimited"]
    assert [c["status"] for c in record["calls"]] == [200, 429, 429, 200]


def test_429_burst_on_any_endpoint(sandbox: Sandbox) -> None:
    sandbox.faults(burst_429=1)
    assert sandbox.get("agents/fetch-all").status_code == 429
    assert sandbox.get("agents/fetch-all").status_code == 200


def test_500_before_and_after_the_action(sandbox: Sandbox) -> None:
    sandbox.faults(error_500_count=1)
    r = sandbox.launch()
    assert r.status_code == 500 and "error" in r.json()
    assert sandbox.record()["launches"] == []
    sandbox.faults(error_500_count=1, error_500_mode="after", error_500_endpoints=["agents/launch"])
    assert sandbox.launch().status_code == 500
    assert len(sandbox.record()["launches"]) == 1  # the launch happened although the answer was a 500
    assert sandbox.launch().status_code == 429
    sandbox.faults(error_500_rate=1.0, error_500_mode="before", error_500_endpoints=[])
    assert sandbox.get("orgs/fetch-resources").status_code == 500


def test_hang_makes_the_client_time_out_but_the_launch_happens(sandbox: Sandbox) -> None:
    sandbox.faults(run_seconds=[5, 5], hang_seconds=0.6, hang_endpoints=["agents/launch"], hang_count=1)
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        body = {"id": AGENT_ID, "bonusArgument": {"spreadsheetUrl": "https://www.linkedin.com/in/jane-doe-42"}}
        sandbox.http.post("/api/v2/agents/launch", json=body, timeout=0.2)
    assert time.monotonic() - start < 0.5
    assert len(sandbox.record()["launches"]) == 1
    assert sandbox.launch().status_code == 429  # no hang left, and the first launch holds the slot
    sandbox.faults(hang_seconds=0.3, hang_endpoints=["containers/fetch"], hang_mode="before", hang_count=None)
    start = time.monotonic()
    assert sandbox.get("containers/fetch", id="1").status_code == 404
    assert time.monotonic() - start >= 0.3


def test_bad_fault_knobs_are_400_and_change_nothing(sandbox: Sandbox) -> None:
    before = sandbox.http.get("/__sandbox/faults").json()
    for body in ({"nope": 1}, {"launch_error_rate": 2}, {"run_seconds": [3, 1]}, {"exit_codes": {"87": 0.8, "1": 0.5}}):
        r = sandbox.http.post("/__sandbox/faults", json=body)
        assert r.status_code == 400 and r.json()["error"]
    assert sandbox.http.get("/__sandbox/faults").json() == before


def test_reset_and_finish_controls(sandbox: Sandbox) -> None:
    sandbox.faults(run_seconds=[30, 30], max_parallelism=3)
    ids = [sandbox.launch().json()["containerId"] for _ in range(2)]
    assert sandbox.http.post("/__sandbox/finish", json={"containerId": ids[0]}).json() == {"finished": [ids[0]]}
    assert sandbox.container(ids[0])["status"] == "finished"
    assert sandbox.http.post("/__sandbox/finish", json={}).json() == {"finished": [ids[1]]}
    assert sandbox.http.post("/__sandbox/finish", json={"containerId": "0"}).status_code == 404
    assert sandbox.http.post("/__sandbox/reset").json() == {"ok": True}
    record = sandbox.record()
    assert record == {
        "calls": [],
        "launches": [],
        "rejected_launches": [],
        "webhooks": [],
        "max_concurrent": 0,
        "running": 0,
    }
    assert sandbox.http.get("/__sandbox/faults").json()["run_seconds"] == [0.05, 0.1]  # back to startup faults
    assert sandbox.get("agents/fetch", id=AGENT_ID).status_code == 200  # agents stay
