"""What a finished container means for its run and leads: matching rows under every URL, errors, early stops."""

from __future__ import annotations

from core import failures, outcomes
from core.models import RunStatus
from core.phantombuster import Container
from core.scraper_rows import parse_rows

DONE = Container(id="1", status="finished", exit_code=0, end_type="finished")
KILLED = Container(id="1", status="finished", exit_code=1, end_type="killed")


def _leads(*slugs: str, attempts: int = 0) -> list[outcomes.PendingLead]:
    return [outcomes.PendingLead(n, f"https://www.linkedin.com/in/{slug}", attempts) for n, slug in enumerate(slugs)]


def _decide(container, items, leads, **kw):
    options = {"attempts": 1, "max_attempts": 3, "max_lead_attempts": 3, "job_cancelled": False}
    return outcomes.decide(container, parse_rows(items) if items is not None else None, leads, **{**options, **kw})


def test_a_row_matches_under_its_canonical_url_or_any_older_key():
    leads = _leads("ana-nordmann", "b", "c")
    rows = [
        {"linkedinProfileUrl": "https://linkedin.com/in/Ana-Nordmann/", "firstName": "Ana"},  # canonical only
        {"query": "linkedin.com/in/b", "firstName": "B"},  # an older output
        {"baseUrl": "https://no.linkedin.com/in/c?trk=x", "firstName": "C"},  # the legacy CSV, a country host
    ]
    out = _decide(DONE, rows, leads)
    assert out.status == RunStatus.SUCCESS and sorted(out.enriched) == [0, 1, 2]
    assert out.enriched[0]["firstName"] == "Ana"


def test_error_rows_fail_their_leads_and_transient_ones_go_back():
    leads = _leads("gone", "hidden", "slow", "ok")
    rows = [
        {"profileUrl": leads[0].linkedin_url, "error": "No Linkedin profile found for gone"},
        {"profileUrl": leads[1].linkedin_url, "error": "This profile is private or unavailable"},
        {"profileUrl": leads[2].linkedin_url, "error": "Page load timed out (net::ERR_TIMED_OUT)"},
        {"profileUrl": leads[3].linkedin_url, "linkedinConnectionsCount": "500+"},
    ]
    out = _decide(DONE, rows, leads)
    assert out.status == RunStatus.SUCCESS
    assert "LinkedIn has no profile at this URL" in out.failed[0] and "private" in out.failed[1]
    assert out.requeue == [2] and out.unanswered == [2]
    assert out.enriched[3]["linkedinConnectionsCount"] == 500


def test_leads_a_finished_run_never_got_to_are_requeued_until_their_attempts_are_used():
    out = _decide(DONE, [], _leads("a", "b"))
    assert out.status == RunStatus.SUCCESS and out.requeue == [0, 1] and not out.failed
    out = _decide(DONE, None, _leads("a", attempts=2))
    assert out.requeue == [] and "did not get to this profile in 3 launches" in out.failed[0]


def test_a_failed_container_retries_the_run_keeping_what_came_back():
    leads = _leads("a", "b")
    out = _decide(KILLED, [{"profileUrl": leads[0].linkedin_url, "firstName": "A"}], leads)
    assert out.status == RunStatus.PENDING and out.retry and out.retry_in_seconds == 5.0
    assert list(out.enriched) == [0] and out.unanswered == [1] and not out.failed
    out = _decide(KILLED, [], leads, attempts=3)
    assert out.status == RunStatus.FAILED and set(out.failed) == {0, 1}


def test_a_dead_session_is_not_retried_and_says_so():
    dead = Container(id="1", status="finished", exit_code=84, end_type="finished")
    out = _decide(dead, None, _leads("a"))
    assert out.status == RunStatus.FAILED and out.failure.code == "linkedin_session"
    assert "exit 84" in out.failed[0]


def test_a_cancelled_job_cancels_what_is_left():
    leads = _leads("a", "b")
    out = _decide(DONE, [{"profileUrl": leads[0].linkedin_url}], leads, job_cancelled=True)
    assert out.status == RunStatus.CANCELLED and out.cancelled == [1] and list(out.enriched) == [0]


def test_a_forced_failure_wins_over_a_running_container():
    running = Container(id="1", status="running")
    out = _decide(running, None, _leads("a"), forced=failures.timed_out(60), attempts=3)
    assert out.status == RunStatus.TIMED_OUT and "within 60 seconds" in out.failed[0]


def test_backoff_doubles_and_is_capped():
    assert [outcomes.retry_backoff(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert outcomes.retry_backoff(20) == outcomes.RETRY_BACKOFF_CAP_SECONDS
