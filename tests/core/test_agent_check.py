"""The start-up agent check against the sandbox, with agents configured well and badly through agents/save."""

from __future__ import annotations

from typing import Any

import pytest

from core.agent_check import AgentProblem, check_agent, check_agent_info, describe
from core.config import SANDBOX_AGENT_ID
from core.phantombuster import scraper_launch_argument
from core.phantombuster_answers import AgentInfo
from tests.support.sandbox_process import SandboxProcess, sandbox_process

__all__ = ["sandbox_process"]  # the session fixture, imported so pytest finds it here

PUBLIC = "https://leadrelay.example.com"
SECRET = "wh-s3cr3t-value"
HOOK = f"{PUBLIC}/webhooks/phantombuster/profile_extraction?secret={SECRET}"


@pytest.fixture
def sb(sandbox_process: SandboxProcess) -> SandboxProcess:
    sandbox_process.reset(seed=3)
    sandbox_process.save_agent({"notifications": {"webhook": HOOK}})
    return sandbox_process


def codes(problems: list[AgentProblem]) -> list[str]:
    return [p.code for p in problems]


def test_a_well_configured_agent_has_no_problems(sb: SandboxProcess) -> None:
    client = sb.client()
    assert check_agent(client, PUBLIC, webhook_secrets=[SECRET]) == []
    assert check_agent(client, PUBLIC + "/", webhook_secrets=["old", SECRET]) == []
    sb.save_agent({"argument": {"identities": [{"identityId": "123"}]}})  # an identity instead of a cookie
    assert check_agent(client, PUBLIC) == []


def test_a_badly_configured_agent_gets_a_sentence_per_problem(sb: SandboxProcess) -> None:
    sb.save_agent(
        {
            "script": "LinkedIn Profile Visitor.js",
            "maxRetryNumber": 2,
            "launchType": "repeatedly",
            "argument": {"spreadsheetUrl": "https://docs.google.com/spreadsheets/d/abc", "columnName": "url"},
            "notifications": {"webhook": "https://hooks.example.org/pb?secret=other-secret"},
        }
    )
    problems = check_agent(sb.client(), PUBLIC, webhook_secrets=[SECRET])
    assert codes(problems) == ["not_profile_scraper", "retries", "scheduled", "no_session", "webhook_elsewhere"]
    text = describe(problems)
    assert "LinkedIn Profile Visitor.js" in text and "5589386912058181" in text
    assert "maxRetryNumber) to 0" in text and "2 times" in text
    assert "repeatedly" in text and "sheet saved in its argument" in text and "manual" in text
    assert "connect a LinkedIn account" in text
    assert "https://hooks.example.org/pb" in text and f"{PUBLIC}/webhooks/phantombuster/profile_extraction" in text
    assert "other-secret" not in text and SECRET not in text  # secrets never land in messages


@pytest.mark.parametrize(
    ("webhook", "code"),
    [
        ("", "no_webhook"),
        (
            f"http://leadrelay.example.com/webhooks/phantombuster/profile_extraction?secret={SECRET}",
            "webhook_elsewhere",
        ),
        (f"{PUBLIC}/webhooks/other?secret={SECRET}", "webhook_elsewhere"),
        (f"{PUBLIC}/webhooks/phantombuster/profile_extraction", "webhook_secret"),
        (f"{PUBLIC}/webhooks/phantombuster/profile_extraction?secret=stale", "webhook_secret"),
    ],
)
def test_the_webhook_must_point_at_public_base_url(sb: SandboxProcess, webhook: str, code: str) -> None:
    sb.save_agent({"notifications": {"webhook": webhook}})
    problems = check_agent(sb.client(), PUBLIC, webhook_secrets=[SECRET])
    assert codes(problems) == [code] and "stale" not in describe(problems)


def test_a_saved_spreadsheet_url_is_not_a_problem_because_the_batch_wins(sb: SandboxProcess) -> None:
    saved_sheet = sb.sheet(["https://www.linkedin.com/in/someone-else"])
    sb.save_agent({"argument": {"sessionCookie": "c", "spreadsheetUrl": saved_sheet, "columnName": "profileUrl"}})
    client = sb.client()
    assert check_agent(client, PUBLIC, webhook_secrets=[SECRET]) == []
    batch = ["https://www.linkedin.com/in/the-lead"]
    argument = scraper_launch_argument(sb.sheet(batch), column_name="profileUrl", csv_name="r1", number_of_adds=5)
    container_id = client.launch(argument, metadata={})
    sb.finish(container_id)
    rows = client.fetch_result_rows(container_id)
    assert rows is not None and [r.urls[0] for r in rows] == batch  # the bonus argument's sheet was scraped


def test_an_argument_that_cannot_be_merged_is_a_problem() -> None:
    data: dict[str, Any] = {
        "id": SANDBOX_AGENT_ID,
        "scriptId": "5589386912058181",
        "maxRetryNumber": 0,
        "launchType": "manually",
        "argument": "[1, 2]",
        "notifications": {"webhook": HOOK},
    }
    problems = check_agent_info(AgentInfo.from_json(data), PUBLIC)
    assert codes(problems) == ["argument"] and "not a JSON object" in problems[0].message
    data["argument"] = "{not json"
    assert "not valid JSON" in check_agent_info(AgentInfo.from_json(data), PUBLIC)[0].message
