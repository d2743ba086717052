"""The sandbox over real HTTP: auth, launch and its limits, container lifecycle and the read endpoints."""

from __future__ import annotations

import json

import httpx

from tests.sandbox.conftest import AGENT_ID, API_KEY, Sandbox, wait_for

URL = "https://www.linkedin.com/in/jane-doe-42"


def test_missing_or_wrong_key_is_401(sandbox: Sandbox) -> None:
    for headers in ({}, {"X-Phantombuster-Key": "nope"}):
        r = httpx.get(f"{sandbox.url}/api/v2/agents/fetch", params={"id": AGENT_ID}, headers=headers)
        assert r.status_code == 401 and isinstance(r.json()["error"], str)
    ok = [
        httpx.get(
            f"{sandbox.url}/api/v2/agents/fetch", params={"id": AGENT_ID}, headers={"X-Phantombuster-Key-1": API_KEY}
        ),
        httpx.get(f"{sandbox.url}/api/v2/agents/fetch", params={"id": AGENT_ID, "key": API_KEY}),
    ]
    assert [r.status_code for r in ok] == [200, 200]
    assert [c["status"] for c in sandbox.record()["calls"]] == [401, 401, 200, 200]


def test_launch_returns_a_16_digit_string_container_id(sandbox: Sandbox) -> None:
    r = sandbox.launch()
    assert r.status_code == 200
    cid = r.json()["containerId"]
    assert isinstance(cid, str) and len(cid) == 16 and cid.isdigit()
    sandbox.wait_ended(cid)
    launch = sandbox.record()["launches"][0]
    assert launch["containerId"] == cid and launch["profileUrls"] == [URL]  # read from the CSV at start
    assert launch["argument"]["sessionCookie"] == "sandbox-session-cookie"  # saved argument + bonusArgument
    assert len(sandbox.receiver.sheet_gets) == 1


def test_second_launch_while_running_is_429_max_parallelism(sandbox: Sandbox) -> None:
    assert sandbox.launch().status_code == 200
    r = sandbox.launch()
    assert r.status_code == 429 and "Retry-After" not in r.headers
    assert r.json() == {
        "error": "Agent reached its maximum parallel executions limit",
        "details": {"detailedErrorSlug": "maxParallelismReached"},
    }
    sandbox.faults(retry_after_seconds=3)
    assert sandbox.launch().headers["Retry-After"] == "3"
    record = sandbox.record()
    assert [x["reason"] for x in record["rejected_launches"]] == ["maxParallelismReached"] * 2
    assert len(record["launches"]) == 1 and record["max_concurrent"] == 1


def test_max_instance_count_limits_below_max_parallelism(sandbox: Sandbox) -> None:
    sandbox.faults(max_parallelism=10)
    assert sandbox.launch(maxInstanceCount=1).status_code == 200
    assert sandbox.launch(maxInstanceCount=1).status_code == 429
    assert sandbox.launch(maxInstanceCount=2).status_code == 200


def test_max_parallelism_10_accepts_overlaps_and_max_concurrent_counts_them(sandbox: Sandbox) -> None:
    sandbox.faults(max_parallelism=10, run_seconds=[0.6, 0.6])
    ids = [sandbox.launch([f"https://www.linkedin.com/in/p-{i}"]).json()["containerId"] for i in range(3)]
    assert sandbox.record()["running"] == 3
    for cid in ids:
        sandbox.wait_ended(cid)
    record = sandbox.record()
    assert record["max_concurrent"] == 3 and record["running"] == 0


def test_container_lifecycle_and_result_object(sandbox: Sandbox) -> None:
    sandbox.faults(start_delay_seconds=0.3)
    urls = [URL, "https://www.linkedin.com/in/john-smith/", "https://linkedin.com/in/%C3%A9lodie-martin"]
    cid = sandbox.launch(urls).json()["containerId"]
    c = sandbox.container(cid)
    assert c["status"] == "starting" and c["launchType"] == "user api call" and c["launchedAt"] is None
    assert "endedAt" not in c and "exitCode" not in c
    assert sandbox.get("containers/fetch-result-object", id=cid).json() == {"resultObject": None}
    assert sandbox.get("containers/fetch-output", id=cid).status_code == 204
    c = wait_for(lambda: (x := sandbox.container(cid))["status"] == "running" and x)
    assert isinstance(c["launchedAt"], int) and c["launchedAt"] >= c["createdAt"]
    c = sandbox.wait_ended(cid)
    assert c["status"] == "finished" and c["exitCode"] == 0 and c["endType"] == "finished"
    assert c["endedAt"] >= c["launchedAt"] and c["retryNumber"] == 0
    raw = sandbox.get("containers/fetch-result-object", id=cid).json()["resultObject"]
    assert isinstance(raw, str)
    profiles = json.loads(raw)
    assert [p["profileUrl"] for p in profiles] == urls
    assert [p["linkedinProfileUrl"] for p in profiles] == [
        "https://linkedin.com/in/jane-doe-42",
        "https://linkedin.com/in/john-smith",
        "https://linkedin.com/in/%C3%A9lodie-martin",
    ]
    assert profiles[0]["firstName"] == "Jane" and profiles[0]["lastName"] == "Doe"
    assert profiles[2]["firstName"] == "Élodie"
    assert all("query" not in p and "timestamp" not in p for p in profiles)  # current outputs have neither
    full = sandbox.container(cid, withResultObject="true", withOutput="true")
    assert full["resultObject"] == raw and "Process finished successfully" in full["output"]
    out = sandbox.get("containers/fetch-output", id=cid, mode="json").json()["output"]
    assert "✅ Data successfully saved" in out
    assert sandbox.get("containers/fetch-output", id=cid, mode="raw").text == out
    statuses = {x["status"] for x in [c, full]}
    assert statuses <= {"starting", "running", "finished", "launch error"}


def test_manual_launch_json_string_argument_and_spreadsheet_url(sandbox: Sandbox) -> None:
    argument = json.dumps({"spreadsheetUrl": URL, "sessionCookie": "c00kie"})
    cid = sandbox.post("agents/launch", {"id": AGENT_ID, "argument": argument, "manualLaunch": True}).json()
    cid = cid["containerId"]
    assert sandbox.container(cid)["launchType"] == "manual"
    assert sandbox.wait_ended(cid)["exitCode"] == 0
    assert sandbox.record()["launches"][0]["profileUrls"] == [URL]
    assert sandbox.result(cid)[0]["profileUrl"] == URL
    assert sandbox.receiver.sheet_gets == []  # a profile URL is not downloaded


def test_launch_validation_errors(sandbox: Sandbox) -> None:
    cases = [
        {"id": AGENT_ID, "unknownField": 1},
        {"id": "9999999999999999"},
        {"id": AGENT_ID, "argument": "{not json"},
        {"id": AGENT_ID, "argument": {}, "arguments": {}},
        [1, 2],
    ]
    for body in cases:
        r = sandbox.post("agents/launch", body)
        assert r.status_code == 400, body
        assert isinstance(r.json()["error"], str) and "details" in r.json()
    assert sandbox.http.post("/api/v2/agents/launch", content=b"nope").status_code == 400
    assert sandbox.record()["launches"] == []
    assert len(sandbox.record()["rejected_launches"]) == len(cases)


def test_unknown_container_is_404(sandbox: Sandbox) -> None:
    for path in ("containers/fetch", "containers/fetch-result-object", "containers/fetch-output"):
        r = sandbox.get(path, id="1234567890123456")
        assert r.status_code == 404
        assert r.json()["error"] == "No container exists with the provided id."
    assert sandbox.record()["calls"][0]["containerId"] == "1234567890123456"


def test_containers_fetch_all_newest_first_with_user_custom_metadata(sandbox: Sandbox) -> None:
    sandbox.faults(max_parallelism=10, run_seconds=[5, 5])
    ids = [sandbox.launch(userCustomMetadata={"runId": str(i)}).json()["containerId"] for i in range(3)]
    body = sandbox.get("containers/fetch-all", agentId=AGENT_ID, limit=2, mode="all").json()
    assert body["maxLimitReached"] is True
    assert [c["id"] for c in body["containers"]] == ids[::-1][:2]
    assert body["containers"][0]["userCustomMetadata"] == {"runId": "2"}
    assert sandbox.get("containers/fetch-all", agentId=AGENT_ID, mode="finalized").json()["containers"] == []
    assert sandbox.http.post("/__sandbox/finish").json()["finished"] == ids
    done = sandbox.get("containers/fetch-all", agentId=AGENT_ID, mode="finalized").json()
    assert len(done["containers"]) == 3 and done["maxLimitReached"] is False
    first = min(c["endedAt"] for c in done["containers"])
    older = sandbox.get("containers/fetch-all", agentId=AGENT_ID, beforeEndedAt=first).json()["containers"]
    assert older == []


def test_agent_endpoints(sandbox: Sandbox) -> None:
    agent = sandbox.get("agents/fetch", id=AGENT_ID).json()
    for key in ("id", "launchType", "nbLaunches", "s3Folder", "orgS3Folder", "fileMgmt", "updatedAt", "maxParallelism"):
        assert key in agent
    assert agent["notifications"]["webhook"] == sandbox.receiver.url and agent["maxParallelism"] == 1
    assert sandbox.get("agents/fetch", id="1").status_code == 404
    assert sandbox.get("agents/fetch-output", id=AGENT_ID).json()["status"] == "never launched"
    saved = sandbox.post("agents/save", {"name": "Other", "maxParallelism": 2, "notifications": {"webhook": ""}})
    new_id = saved.json()["id"]
    assert sandbox.get("agents/fetch", id=new_id).json()["maxParallelism"] == 2
    listed = sandbox.get("agents/fetch-all").json()
    assert {a["id"] for a in listed} == {AGENT_ID, new_id} and all("nbContainersRunning" in a for a in listed)
    assert all("argument" not in a for a in listed)
    assert "argument" in sandbox.get("agents/fetch-all", withArgument="true").json()[0]
    cid = sandbox.launch().json()["containerId"]
    running = sandbox.get("agents/fetch-all", agentIds=AGENT_ID).json()
    assert [(a["id"], a["nbContainersRunning"]) for a in running] == [(AGENT_ID, 1)]
    for key in ("nbContainersRunning", "lastExitCode", "lastEndedAt", "createdAt"):  # fetch-all's, not fetch's
        assert key not in sandbox.get("agents/fetch", id=AGENT_ID).json()
    sandbox.wait_ended(cid)
    out = sandbox.get("agents/fetch-output", id=AGENT_ID).json()
    assert out["containerId"] == cid and out["status"] == "finished" and out["isAgentRunning"] is False
    tail = sandbox.get("agents/fetch-output", id=AGENT_ID, fromOutputPos=out["outputPos"]).json()
    assert tail["output"] == ""
    assert sandbox.get("agents/fetch-output", id=AGENT_ID, fromOutputPos=-1).status_code == 400


def test_org_endpoints(sandbox: Sandbox) -> None:
    sandbox.faults(run_seconds=[1.2, 1.2])
    before = sandbox.get("orgs/fetch-resources").json()
    assert before["plan"]["monthlyExecutionTime"] > before["monthlyExecutionTime"]
    cid = sandbox.launch().json()["containerId"]
    running = sandbox.get("orgs/fetch-running-containers").json()["containers"]
    assert [c["id"] for c in running] == [cid] and running[0]["agentId"] == AGENT_ID
    sandbox.wait_ended(cid)
    after = sandbox.get("orgs/fetch-resources").json()
    assert after["dailyExecutionTime"] >= before["dailyExecutionTime"] + 1
    assert sandbox.get("orgs/fetch-running-containers").json() == {"containers": []}
