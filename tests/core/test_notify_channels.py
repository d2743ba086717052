"""The channels over real servers: e-mail through aiosmtpd, Slack-compatible and signed webhooks through a local
receiver, retried with back-off when a channel is down and given up with the reason kept."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import notifications, notify_outbox, notify_prefs
from core.models import utcnow
from core.notify_channels import DELIVERY_HEADER, SIGNATURE_HEADER, sign, signature_matches
from core.notify_tables import NotificationPrefs, OutboxMessage
from tests.support import factories
from tests.support.notify_receivers import HttpSink, SmtpSink
from tests.support.services import free_port


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


def notify_settings(settings, **kw):
    base = {
        "smtp_tls": "none",
        "app_base_url": "https://leadrelay.example.com",
        "notify_max_attempts": 3,
        "notify_backoff_seconds": 10.0,
        "notify_backoff_cap_seconds": 3600.0,
    }
    return settings.model_copy(update={**base, **kw})


def one_event(db, settings, user, clock, **channels):
    """Save the person's channels and put one finished-job event in the outbox."""
    saved = notify_prefs.save(
        db, settings, user, on_completed=True, on_failed=True, on_needs_admin=True, **{"email": "", **channels}
    )
    with db.write() as s:
        job = factories.job(s, user, {"Acme": 2}, file_name="q3 leads.xlsx")
        prefs = s.get(NotificationPrefs, user.id)
        facts = {"job_id": job.id, "file_name": job.file_name, "status": "completed", "leads": 2, "enriched": 2}
        notifications.enqueue(s, prefs, "job_completed", f"job_completed:{job.id}", facts, clock(), job_id=job.id)
    return job, saved.new_secret


def rows(db) -> list[OutboxMessage]:
    with db.read() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_email_goes_out_through_smtp_with_the_link(db, settings, smtp):
    settings = notify_settings(settings, smtp_host="127.0.0.1", smtp_port=smtp.port)
    clock = Clock()
    with db.write() as s:
        ana = factories.user(s, "ana")
    job, _ = one_event(db, settings, ana, clock, email="ana@example.com")
    done = notify_outbox.drain(db, settings, "test-worker", clock=clock)
    assert len(done.sent) == 1 and not done.retried
    assert smtp.envelopes == [("leadrelay@localhost", ["ana@example.com"])]
    mail = smtp.messages[0]
    assert mail["Subject"] == f"Job #{job.id} completed"
    assert mail["Message-ID"] == f"<leadrelay.{rows(db)[0].id}@localhost>"
    body = mail.get_payload(decode=True).decode()
    assert f"https://leadrelay.example.com/history?job={job.id}" in body and "q3 leads.xlsx" in body
    assert rows(db)[0].status == "sent" and rows(db)[0].attempts == 1


def test_slack_compatible_webhook_gets_text_with_the_name_escaped(db, settings):
    sink = HttpSink()
    with sink.serve() as server:
        settings = notify_settings(settings)
        clock = Clock()
        with db.write() as s:
            ana = factories.user(s, "ana")
        notify_prefs.save(
            db, settings, ana, email="", slack_url=f"{server.url}/services/T0/B0/x",
            on_completed=True, on_failed=True, on_needs_admin=True,
        )  # fmt: skip
        with db.write() as s:
            job = factories.job(s, ana, {"Acme": 1}, file_name="<!channel> <http://evil|x>.csv")
            facts = {"job_id": job.id, "file_name": job.file_name, "leads": 1, "enriched": 1}
            notifications.enqueue(s, s.get(NotificationPrefs, ana.id), "job_completed", "k", facts, clock())
        assert len(notify_outbox.drain(db, settings, "w", clock=clock).sent) == 1
    [request] = sink.requests
    assert request.path == "/services/T0/B0/x" and request.headers["content-type"] == "application/json"
    text = json.loads(request.body)["text"]
    assert "&lt;!channel&gt; &lt;http://evil|x&gt;.csv" in text and "<!channel>" not in text
    assert text.endswith(f"<https://leadrelay.example.com/history?job={job.id}|Open in LeadRelay>")


def test_generic_webhook_is_signed_with_the_analysts_secret(db, settings):
    sink = HttpSink()
    with sink.serve() as server:
        settings = notify_settings(settings)
        clock = Clock()
        with db.write() as s:
            ana = factories.user(s, "ana")
        job, secret = one_event(db, settings, ana, clock, webhook_url=f"{server.url}/hooks/leadrelay")
        assert secret
        assert len(notify_outbox.drain(db, settings, "w", clock=clock).sent) == 1
    [request] = sink.requests
    signature = request.headers[SIGNATURE_HEADER.lower()]
    assert signature.startswith("sha256=") and signature_matches(request.body, secret, signature)
    assert not signature_matches(request.body, secret + "x", signature)
    assert not signature_matches(request.body + b" ", secret, signature)
    body = json.loads(request.body)
    assert body["event"] == "job.completed" and body["job"]["job_id"] == job.id
    assert body["link"] == f"https://leadrelay.example.com/history?job={job.id}"
    assert request.headers[DELIVERY_HEADER.lower()] == body["id"] == str(rows(db)[0].id)
    # The well-known HMAC-SHA256 example: a receiver in any language computes the same value.
    fox = b"The quick brown fox jumps over the lazy dog"
    assert sign(fox, "key") == "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


def test_a_channel_that_is_down_is_retried_with_back_off_then_given_up(db, settings):
    sink = HttpSink(status=503)
    with sink.serve() as server:
        settings = notify_settings(settings)
        clock = Clock()
        with db.write() as s:
            ana = factories.user(s, "ana")
        one_event(db, settings, ana, clock, webhook_url=f"{server.url}/hook")
        assert notify_outbox.drain(db, settings, "w", clock=clock).retried == [rows(db)[0].id]
        assert rows(db)[0].due_at == clock.now + timedelta(seconds=10)
        clock.advance(9)
        assert notify_outbox.drain(db, settings, "w", clock=clock).retried == []  # not due yet
        clock.advance(1)
        assert len(notify_outbox.drain(db, settings, "w", clock=clock).retried) == 1
        assert rows(db)[0].due_at == clock.now + timedelta(seconds=20)  # doubled
        clock.advance(20)
        done = notify_outbox.drain(db, settings, "w", clock=clock)
    assert len(done.gave_up) == 1 and len(sink.requests) == 3
    row = rows(db)[0]
    assert row.status == "gave_up" and row.attempts == 3
    assert row.last_error == "The webhook receiver answered HTTP 503. (gave up after 3 attempts)"


def test_an_smtp_server_that_is_not_there_is_retried_and_a_refusal_is_not(db, settings):
    settings = notify_settings(settings, smtp_host="127.0.0.1", smtp_port=free_port())
    clock = Clock()
    with db.write() as s:
        ana = factories.user(s, "ana")
    one_event(db, settings, ana, clock, email="ana@example.com")
    assert len(notify_outbox.drain(db, settings, "w", clock=clock).retried) == 1
    assert "could not be reached (ConnectionRefusedError)" in rows(db)[0].last_error
    sink = HttpSink(status=404)
    with sink.serve() as server:
        with db.write() as s:
            bo = factories.user(s, "bo")
        one_event(db, settings, bo, clock, webhook_url=f"{server.url}/gone")
        clock.advance(1)
        done = notify_outbox.drain(db, settings, "w", clock=clock)
    assert len(done.gave_up) == 1 and len(sink.requests) == 1
    assert rows(db)[-1].last_error == "The webhook receiver answered HTTP 404. (not retried)"


def test_a_removed_channel_or_disabled_account_is_given_up_not_sent(db, settings):
    sink = HttpSink()
    with sink.serve() as server:
        settings = notify_settings(settings)
        clock = Clock()
        with db.write() as s:
            ana = factories.user(s, "ana")
        one_event(db, settings, ana, clock, slack_url=f"{server.url}/s")
        notify_prefs.save(
            db, settings, ana, email="", slack_url="", on_completed=True, on_failed=True, on_needs_admin=True
        )
        done = notify_outbox.drain(db, settings, "w", clock=clock)
    assert len(done.gave_up) == 1 and sink.requests == []
    assert "removed" in rows(db)[0].last_error


def test_a_message_whose_sender_keeps_dying_is_given_up(db, settings):
    settings = notify_settings(settings, notify_lease_seconds=5.0)
    clock = Clock()
    with db.write() as s:
        ana = factories.user(s, "ana")
    one_event(db, settings, ana, clock, email="ana@example.com")
    for attempt in range(1, 4):
        with db.write() as s:
            claim = notify_outbox.claim_one(
                s, f"w{attempt}", now=clock(), lease_seconds=5, base_url="http://x", max_attempts=3
            )
        assert claim is not None and claim.attempt == attempt  # then the sender "dies": nothing is marked
        clock.advance(6)
    with db.write() as s:
        assert (
            notify_outbox.claim_one(s, "w4", now=clock(), lease_seconds=5, base_url="http://x", max_attempts=3) is None
        )
    assert rows(db)[0].status == "gave_up" and "stopped before finishing, 3 times" in rows(db)[0].last_error


def test_a_sender_whose_lease_ran_out_cannot_mark_the_new_claim(db, settings):
    clock = Clock()
    with db.write() as s:
        ana = factories.user(s, "ana")
    one_event(db, notify_settings(settings), ana, clock, email="ana@example.com")
    with db.write() as s:
        old = notify_outbox.claim_one(s, "w1", now=clock(), lease_seconds=5, base_url="http://x")
    clock.advance(6)
    with db.write() as s:
        new = notify_outbox.claim_one(s, "w2", now=clock(), lease_seconds=5, base_url="http://x")
    assert old is not None and new is not None and new.id == old.id
    with db.write() as s:
        assert not notify_outbox.mark_sent(s, old, clock())
        assert notify_outbox.mark_sent(s, new, clock())
    assert rows(db)[0].claimed_by == "w2" and rows(db)[0].status == "sent"
