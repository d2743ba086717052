"""Notifications in Debian's Chromium: an analyst sets a webhook, the worker tells them the job ended, the link opens it."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update

from core import jobs
from core.models import Lead, Run, User, utcnow
from tests.browser.harness import go, settled, sign_in
from tests.support import factories
from tests.support.notify_receivers import HttpSink, wait_for

pytestmark = pytest.mark.browser


def _user(live, name: str) -> User:
    with live.stack.db.read() as s:
        return s.query(User).filter_by(name=name).one()


def _finish(live, owner: str, file_name: str) -> int:
    """A job of `owner` whose runs all ended, moved to completed the way the engine does it."""
    with live.stack.db.write() as s:
        job = factories.job(s, _user(live, owner), {"Acme": 2}, file_name=file_name)
        s.execute(update(Lead).where(Lead.job_id == job.id).values(status="success"))
        s.execute(update(Run).where(Run.job_id == job.id).values(status="success", ended_at=utcnow()))
        jobs.refresh_progress(s, job.id)
        return job.id


def test_a_webhook_set_on_the_page_tells_the_job_ended_and_its_link_opens_it(live, context):
    sink = HttpSink()
    with sink.serve() as receiver:
        page = context.new_page()
        sign_in(page, live.url, "ana")
        go(page, "Notifications")
        page.get_by_role("textbox", name="Slack-compatible incoming webhook URL").fill(
            f"{receiver.url}/services/T/B/abcd"
        )
        page.get_by_label("a job of mine completes").check()
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Saved: http://127.0.0.1/…abcd").wait_for()
        settled(page)
        job_id = _finish(live, "ana", "q4 leads.xlsx")
        other = _finish(live, "ole", "ole private.xlsx")
        wait_for(lambda: sink.requests, 30, "the worker's message")
    text = json.loads(sink.requests[0].body)["text"]
    assert f"job #{job_id} (q4 leads.xlsx) completed: 2 of 2 leads enriched" in text
    assert "ole" not in text and len(sink.requests) == 1
    link = re.search(r"<(http[^|>]+)\|Open in LeadRelay>", text).group(1)
    assert urlsplit(link).path == "/history" and urlsplit(link).query == f"job={job_id}"
    page.goto(live.url + f"/history?{urlsplit(link).query}")
    page.get_by_text(f"#{job_id} · q4 leads.xlsx").wait_for()
    # The same kind of link with a colleague's job id shows nothing of it.
    page.goto(live.url + f"/history?job={other}")
    page.get_by_text(f"No job #{other} is visible to you.").wait_for()
    assert page.get_by_text("ole private.xlsx").count() == 0


def test_a_link_opened_signed_out_opens_the_job_after_sign_in(live, context):
    job_id = _finish(live, "ana", "weekend leads.csv")
    page = context.new_page()
    page.goto(live.url + f"/history?job={job_id}")

    page.get_by_label("User name").fill("ana")
    page.get_by_label("Password", exact=True).fill("password-123")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text(f"#{job_id} · weekend leads.csv").wait_for()
