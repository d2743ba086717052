"""The sandbox's Profile Scraper over real HTTP: input from spreadsheetUrl, skipping, error rows, early stops,
result files, its own retries, and the org's time zone. Every answer is checked against the contract (conftest)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import AGENT_ID, Sandbox, wait_for

URLS = [f"https://www.linkedin.com/in/lead-{i}" for i in range(5)]


def ended(sandbox: Sandbox, response: httpx.Response) -> tuple[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    cid = response.json()["containerId"]
    return cid, sandbox.wait_ended(cid)


def test_profile_urls_are_not_an_input(sandbox: Sandbox) -> None:
    r = sandbox.post("agents/launch", {"id": AGENT_ID, "bonusArgument": {"profileUrls": URLS}})
    cid, c = ended(sandbox, r)
    assert (c["status"], c["exitCode"]) == ("finished", 78)
    assert "You didn't enter any input spreadsheet!" in sandbox.output(cid)
    assert sandbox.result(cid) is None and sandbox.record()["launches"][0]["profileUrls"] == []


def test_csv_is_downloaded_capped_per_launch_and_processed_rows_are_skipped(sandbox: Sandbox) -> None:
    cid, c = ended(sandbox, sandbox.launch(URLS, csv_name="batch", adds=2))
    assert c["exitCode"] == 0 and [r["profileUrl"] for r in sandbox.result(cid)] == URLS[:2]
    out = sandbox.output(cid)
    assert "🔄 Getting data from http://127.0.0.1" in out and "✅ Got 5 lines from csv." in out
    assert "/batch.csv" in out and "/batch.json" in out and "phantombuster.s3.amazonaws.com" in out
    # The same csvName again: what the result file already has is skipped, the next two are scraped.
    cid, _ = ended(sandbox, sandbox.launch(URLS, csv_name="batch", adds=2))
    assert [r["profileUrl"] for r in sandbox.result(cid)] == URLS[:4]  # the result object is the whole file
    assert sandbox.record()["launches"][1]["profileUrls"] == URLS[2:4]
    cid, _ = ended(sandbox, sandbox.launch(URLS, csv_name="batch"))
    cid, c = ended(sandbox, sandbox.launch(URLS, csv_name="batch"))
    assert c["exitCode"] == 0 and sandbox.result(cid) is None
    assert "we already scraped all the profiles from this spreadsheet" in sandbox.output(cid)
    # A csvName of its own gets them all again.
    cid, _ = ended(sandbox, sandbox.launch(URLS, csv_name="other"))
    assert [r["profileUrl"] for r in sandbox.result(cid)] == URLS


def test_default_cap_is_100_and_a_single_profile_url_is_scraped_again(sandbox: Sandbox) -> None:
    many = [f"https://www.linkedin.com/in/p-{i}" for i in range(120)]
    cid, _ = ended(sandbox, sandbox.launch(many))
    assert len(sandbox.result(cid)) == 100
    for _ in range(2):  # the store script does not filter a single profile URL against the result file
        cid, c = ended(sandbox, sandbox.launch_one(URLS[0]))
        assert c["exitCode"] == 0 and sandbox.result(cid)[-1]["profileUrl"] == URLS[0]


def test_missing_private_and_flaky_profiles_are_error_rows_and_count_as_processed(sandbox: Sandbox) -> None:
    urls = [
        "https://www.linkedin.com/in/ann-missing",
        "https://www.linkedin.com/in/bob-private",
        "https://www.linkedin.com/in/cy-flaky",
        "https://www.linkedin.com/in/dee",
        "https://example.com/in/nope",
    ]
    cid, c = ended(sandbox, sandbox.launch(urls, csv_name="e"))
    rows = sandbox.result(cid)
    assert c["exitCode"] == 0 and [r["profileUrl"] for r in rows] == urls
    assert [r.get("error") for r in rows] == [
        "No Linkedin profile found for ann-missing",
        "This profile is private or unavailable (out of your network)",
        "Page load timed out (net::ERR_TIMED_OUT), try again later",
        None,
        "Not a LinkedIn profile URL.",
    ]
    assert rows[3]["linkedinProfileUrl"] == "https://linkedin.com/in/dee" and "firstName" not in rows[0]
    assert "⚠️ No Linkedin profile found for ann-missing" in sandbox.output(cid)
    cid, _ = ended(sandbox, sandbox.launch(urls, csv_name="e"))
    assert sandbox.result(cid) is None  # failed URLs are in the result file too: nothing left to do


def test_random_error_rates(sandbox: Sandbox) -> None:
    sandbox.faults(missing_profile_rate=1.0)
    cid, _ = ended(sandbox, sandbox.launch(URLS[:2]))
    assert [r["error"] for r in sandbox.result(cid)] == [f"No Linkedin profile found for lead-{i}" for i in (0, 1)]


def test_column_name_not_found_uses_the_first_column_header_included(sandbox: Sandbox) -> None:
    url = sandbox.receiver.sheet(URLS[:2], column="linkedin")
    body = {"id": AGENT_ID, "bonusArgument": {"spreadsheetUrl": url, "columnName": "profileUrl"}}
    cid, _ = ended(sandbox, sandbox.post("agents/launch", body))
    assert "there's no column named 'profileUrl'" in sandbox.output(cid)
    rows = sandbox.result(cid)
    assert [r["profileUrl"] for r in rows] == ["linkedin", *URLS[:2]] and rows[0]["error"]


@pytest.mark.parametrize(
    ("status", "text", "line"),
    [
        (404, "gone", "is not available, HTTP code: 404"),
        (200, "<!DOCTYPE html><html>sign in</html>", "doesn't represent a CSV file"),
        (200, "", "Input spreadsheet is empty!"),
    ],
)
def test_a_sheet_that_cannot_be_read_ends_the_container_with_an_error(
    sandbox: Sandbox, status: int, text: str, line: str
) -> None:
    url = sandbox.receiver.sheet([], status=status, text=text)
    cid, c = ended(sandbox, sandbox.launch_one(url, columnName="profileUrl"))
    assert (c["status"], c["endType"], c["exitCode"]) == ("finished", "finished", 1)
    out = sandbox.output(cid)
    assert line in out and "Process finished with an error (exit code: 1)" in out
    assert wait_for(lambda: sandbox.receiver.for_container(cid))[0]["body"]["exitCode"] == 1


def test_unreachable_sheet_and_other_inputs(sandbox: Sandbox) -> None:
    cid, c = ended(sandbox, sandbox.launch_one("http://127.0.0.1:9/closed.csv"))
    assert c["exitCode"] == 1 and "Could not download http://127.0.0.1:9/closed.csv" in sandbox.output(cid)
    cid, c = ended(sandbox, sandbox.launch_one("org-storage://leads/by-list/1"))
    assert c["exitCode"] == 1 and "Unsupported protocol org-storage:" in sandbox.output(cid)
    cid, c = ended(sandbox, sandbox.launch_one("https://www.linkedin.com/search/results/people/?q=x"))
    assert c["exitCode"] == 76


def test_early_stop_exits_0_with_urls_untried(sandbox: Sandbox) -> None:
    sandbox.faults(early_stop_after=1)
    cid, c = ended(sandbox, sandbox.launch(URLS[:3], csv_name="s"))
    assert (c["exitCode"], c["endType"]) == (0, "finished")
    assert [r["profileUrl"] for r in sandbox.result(cid)] == URLS[:1]
    assert "⚠️ Scraping stopped: Less than 30 seconds left." in sandbox.output(cid)
    sandbox.faults(early_stop_after=None, early_stop_rate=1.0, early_stop_reason="disconnected")
    cid, _ = ended(sandbox, sandbox.launch(URLS[:3], csv_name="s"))
    assert "⚠️ Disconnected from LinkedIn, exiting..." in sandbox.output(cid)
    assert sandbox.record()["launches"][1]["profileUrls"] == URLS[1:3]  # the untried URLs come back


def test_result_files_instead_of_rows_are_served_by_the_sandbox(sandbox: Sandbox) -> None:
    sandbox.faults(result_files_rate=1.0)
    cid, _ = ended(sandbox, sandbox.launch(URLS[:2], csv_name="big run"))
    pointer = sandbox.result(cid)
    assert set(pointer) == {"csvUrl", "jsonUrl"} and pointer["jsonUrl"].startswith(sandbox.url)
    assert pointer["jsonUrl"].endswith("/big run.json")
    rows = httpx.get(pointer["jsonUrl"]).json()
    assert [r["profileUrl"] for r in rows] == URLS[:2]
    csv_text = httpx.get(pointer["csvUrl"]).text
    assert csv_text.splitlines()[0].startswith("linkedinProfileUrl,") and URLS[1] in csv_text
    assert httpx.get(pointer["jsonUrl"].replace("big run", "nothing")).status_code == 403
    sandbox.faults(result_files_rate=0.0, result_object_max_chars=10, result_files_csv_key="csvURL")
    cid, _ = ended(sandbox, sandbox.launch(URLS[:1]))
    assert set(sandbox.result(cid)) == {"csvURL", "jsonUrl"}  # too big to set: links instead


def test_result_object_scope_launch_and_legacy_rows(sandbox: Sandbox) -> None:
    sandbox.faults(result_object_scope="launch", row_keys="legacy", counts_as_strings=False)
    ended(sandbox, sandbox.launch(URLS[:1], csv_name="x"))
    cid, _ = ended(sandbox, sandbox.launch(URLS[:2], csv_name="x"))
    rows = sandbox.result(cid)
    assert [r["query"] for r in rows] == URLS[1:2] and isinstance(rows[0]["linkedinFollowersCount"], int)


def test_credentials_are_needed(sandbox: Sandbox) -> None:
    sandbox.post("agents/save", {"id": AGENT_ID, "argument": {"columnName": "profileUrl"}})
    cid, c = ended(sandbox, sandbox.launch(URLS[:1]))
    assert c["exitCode"] == 87 and "Invalid LinkedIn session cookie" in sandbox.output(cid)
    sandbox.post("agents/save", {"id": AGENT_ID, "argument": {"identities": [{"identityId": "77"}]}})
    cid, c = ended(sandbox, sandbox.launch(URLS[:1]))
    assert c["exitCode"] == 0


def test_an_agent_with_retries_starts_its_own_retry_containers(sandbox: Sandbox) -> None:
    assert sandbox.post("agents/save", {"id": AGENT_ID, "maxRetryNumber": 2}).status_code == 200
    assert sandbox.get("agents/fetch", id=AGENT_ID).json()["maxRetryNumber"] == 2
    sandbox.faults(exit_codes={"1": 1.0}, retry_delay_seconds=0.05)
    first, _ = ended(sandbox, sandbox.launch(URLS[:1], userCustomMetadata={"runId": "9"}))

    def three() -> list[dict[str, Any]] | None:
        items = sandbox.get("containers/fetch-all", agentId=AGENT_ID).json()["containers"]
        done = [c for c in items if c["status"] == "finished"]
        return items if len(done) == 3 else None

    items = wait_for(three)
    assert [(c["launchType"], c["retryNumber"]) for c in reversed(items)] == [
        ("user api call", 0),
        ("retry", 1),
        ("retry", 2),
    ]
    assert all(c["userCustomMetadata"] == {"runId": "9"} for c in items)
    retry = sandbox.container(items[0]["id"])
    assert (retry["launchType"], retry["retryNumber"], retry["exitCode"]) == ("retry", 2, 1)
    assert wait_for(lambda: len({h["body"]["containerId"] for h in sandbox.receiver.hits}) == 3)
    assert first == items[-1]["id"]


def test_no_retry_after_success_or_a_stop(sandbox: Sandbox) -> None:
    sandbox.post("agents/save", {"id": AGENT_ID, "maxRetryNumber": 3})
    sandbox.faults(retry_delay_seconds=0.0, run_seconds=[5, 5])
    cid = sandbox.launch(URLS[:1]).json()["containerId"]
    wait_for(lambda: "Connected successfully" in sandbox.output(cid))
    sandbox.post("agents/stop", {"id": AGENT_ID})
    sandbox.faults(run_seconds=[0.05, 0.05])
    ended(sandbox, sandbox.launch(URLS[:1]))
    assert len(sandbox.get("containers/fetch-all", agentId=AGENT_ID).json()["containers"]) == 2


def test_unknown_status_knob(sandbox: Sandbox) -> None:
    sandbox.faults(unknown_status_count=1, run_seconds=[2, 2])
    cid = sandbox.launch().json()["containerId"]
    assert sandbox.container(cid)["status"] == "unknown"
    assert sandbox.container(cid)["status"] in ("starting", "running")


def test_org_time_zone_knob(sandbox: Sandbox) -> None:
    assert sandbox.get("orgs/fetch").json()["timezone"] == "UTC"
    sandbox.faults(org_timezone="Europe/Oslo")
    org = sandbox.get("orgs/fetch").json()
    assert org["timezone"] == "Europe/Oslo" and org["plan"]["dailyCaptchas"] >= 0
    assert sandbox.http.post("/__sandbox/faults", json={"org_timezone": "Mars/Olympus"}).status_code == 400


def test_finish_waits_for_the_download_and_hosted_sheets(sandbox: Sandbox) -> None:
    sandbox.faults(run_seconds=[30, 30])
    hosted = sandbox.http.post("/__sandbox/sheets", content="profileUrl\n" + "\n".join(URLS[:2])).json()
    assert httpx.get(hosted["url"]).text.startswith("profileUrl")
    body = {"id": AGENT_ID, "bonusArgument": {"spreadsheetUrl": hosted["url"], "columnName": "profileUrl"}}
    cid = sandbox.post("agents/launch", body).json()["containerId"]
    assert sandbox.http.post("/__sandbox/finish", json={"containerId": cid}).json() == {"finished": [cid]}
    assert sandbox.container(cid)["status"] == "finished"
    assert [r["profileUrl"] for r in json.loads(sandbox.container(cid, withResultObject="1")["resultObject"])] == URLS[
        :2
    ]
