"""Notification events: a job's end, the account needing an admin and stalls reach the outbox once, for the right people."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core import jobs, notifications, notify_prefs, stall_watch
from core.errors import InvalidInput
from core.models import Job, Lead, Run, RunStatus, WebhookDelivery, utcnow
from core.notify_tables import OutboxMessage
from tests.support import factories


def prefs(db, settings, user, **kw):
    defaults = {"email": f"{user.name}@example.com", "on_completed": True, "on_failed": True, "on_needs_admin": True}
    return notify_prefs.save(db, settings, user, **{**defaults, **kw})


def outbox(db) -> list[OutboxMessage]:
    with db.read() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def finish_job(db, job_id: int, lead_status: str = "success") -> None:
    """End every run and lead of a job, then let refresh_progress move it (as the engine does)."""
    now = utcnow()
    with db.write() as s:
        s.execute(update(Lead).where(Lead.job_id == job_id).values(status=lead_status))
        s.execute(update(Run).where(Run.job_id == job_id).values(status="success", ended_at=now))
        jobs.refresh_progress(s, job_id, now)


def test_a_finished_job_tells_its_owner_once_on_each_channel_and_nobody_else(db, settings):
    with db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        job = factories.job(s, ana, {"Acme": 3}, file_name="nordic.xlsx")
    prefs(db, settings, ana, slack_url="http://127.0.0.1:9/slack", webhook_url="http://127.0.0.1:9/hook")
    prefs(db, settings, ole)
    finish_job(db, job.id)
    rows = outbox(db)
    assert [(r.user_id, r.event, r.channel) for r in rows] == [
        (ana.id, "job_completed", "email"),
        (ana.id, "job_completed", "slack"),
        (ana.id, "job_completed", "webhook"),
    ]
    assert rows[0].payload["file_name"] == "nordic.xlsx" and rows[0].payload["enriched"] == 3
    # Recounting a finished job again is no new event.
    with db.write() as s:
        jobs.refresh_progress(s, job.id)
    assert len(outbox(db)) == 3


def test_a_failed_job_is_told_only_to_who_asked_for_failures(db, settings):
    with db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        a, o = factories.job(s, ana, {"Acme": 2}), factories.job(s, ole, {"Beta": 2})
    prefs(db, settings, ana, on_failed=False)
    prefs(db, settings, ole, on_completed=False)
    finish_job(db, a.id, "failed")
    finish_job(db, o.id, "failed")
    assert [(r.user_id, r.event, r.job_id) for r in outbox(db)] == [(ole.id, "job_failed", o.id)]


def test_the_same_event_enqueued_twice_is_one_row(db, settings):
    with db.write() as s:
        ana = factories.user(s, "ana")
    prefs(db, settings, ana)
    now = utcnow()
    with db.write() as s:
        p = s.get(notifications.NotificationPrefs, ana.id)
        assert notifications.enqueue(s, p, "job_completed", "job_completed:1:x", {"job_id": 1}, now) == 1
        assert notifications.enqueue(s, p, "job_completed", "job_completed:1:x", {"job_id": 1}, now) == 0
    assert len(outbox(db)) == 1


def test_the_account_paused_tells_admins_and_waiting_owners_once_per_pause(db, settings):
    with db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        root, boss = factories.user(s, "root", "admin"), factories.user(s, "boss", "admin")
        waiting = factories.job(s, ana, {"Acme": 2})
        factories.job(s, ana, {"Done": 1})
        s.execute(update(Job).where(Job.file_name == "leads.xlsx", Job.id != waiting.id).values(status="completed"))
    for user in (ana, ole, root):
        prefs(db, settings, user)
    now = utcnow()
    with db.write() as s:
        assert notifications.account_needs_admin(s, "LinkedIn asked for a new\nsession cookie.", now) == 2
    with db.write() as s:
        assert notifications.account_needs_admin(s, "Still paused.", now + timedelta(minutes=5)) == 0
    rows = outbox(db)
    assert sorted((r.user_id, r.event, r.job_id) for r in rows) == sorted(
        [(root.id, "account_paused", None), (ana.id, "job_needs_admin", waiting.id)]
    )
    assert rows[0].payload["reason"] == "LinkedIn asked for a new session cookie."
    assert boss.id not in {r.user_id for r in rows}  # no settings saved: nothing to send to
    with db.write() as s:
        assert notifications.account_resumed(s, now + timedelta(hours=1))
        assert notifications.account_needs_admin(s, "Paused again.", now + timedelta(hours=2)) == 2
    assert len(outbox(db)) == 4


def test_a_stall_is_told_once_and_again_only_after_work_moved(db, settings):
    with db.write() as s:
        root = factories.user(s, "root", "admin")
        ana = factories.user(s, "ana")
        job = factories.job(s, ana, {"Acme": 5}, batch_size=5)
    prefs(db, settings, root, on_queue_stalls=True)
    prefs(db, settings, ana)  # an analyst is never told about the queue
    with db.read() as s:
        created = s.get(Job, job.id).created_at
    after = settings.stall_after_seconds
    with db.write() as s:
        assert stall_watch.watch(s, settings, created + timedelta(seconds=after - 1)) == []
    for minute in range(3):
        with db.write() as s:
            changed = stall_watch.watch(s, settings, created + timedelta(seconds=after + 60 * minute))
        assert changed == (["queue_stalled opened"] if minute == 0 else [])
    rows = outbox(db)
    assert [(r.user_id, r.event) for r in rows] == [(root.id, "queue_stalled")]
    assert rows[0].payload["queued_runs"] == 1
    # The run launches: the stall is over; a later one is a new episode.
    later = created + timedelta(seconds=after + 300)
    with db.write() as s:
        s.execute(update(Run).where(Run.job_id == job.id).values(launch_requested_at=later))
        assert stall_watch.watch(s, settings, later) == ["queue_stalled closed"]
    with db.write() as s:
        assert stall_watch.watch(s, settings, later + timedelta(seconds=after + 1)) == ["queue_stalled opened"]
    assert len(outbox(db)) == 2


def test_a_run_in_flight_gets_its_timeout_before_the_queue_counts_as_stalled(db, settings):
    with db.write() as s:
        root = factories.user(s, "root", "admin")
        job = factories.job(s, root, {"Acme": 10}, batch_size=5)
    prefs(db, settings, root, on_queue_stalls=True)
    with db.read() as s:
        first = s.scalars(select(Run).where(Run.job_id == job.id).order_by(Run.seq)).first()
    t0 = utcnow() + timedelta(seconds=1)
    with db.write() as s:
        s.execute(
            update(Run).where(Run.id == first.id).values(status=RunStatus.PHANTOM_LAUNCHED, launch_requested_at=t0)
        )
    allowed = settings.stall_after_seconds + settings.phantom_hold_seconds
    with db.write() as s:
        assert (
            stall_watch.queue_stall(
                s,
                t0 + timedelta(seconds=allowed - 5),
                stall_after=settings.stall_after_seconds,
                run_timeout=settings.phantom_hold_seconds,
            )
            is None
        )
        facts = stall_watch.queue_stall(
            s,
            t0 + timedelta(seconds=allowed),
            stall_after=settings.stall_after_seconds,
            run_timeout=settings.phantom_hold_seconds,
        )
    assert facts is not None and facts["runs_in_flight"] == 1 and facts["queued_runs"] == 1


def test_runs_ending_without_webhooks_are_told_once(db, settings):
    with db.write() as s:
        root = factories.user(s, "root", "admin")
        job = factories.job(s, root, {"Acme": 30}, batch_size=5)
    prefs(db, settings, root, on_queue_stalls=True)
    now = utcnow()
    with db.read() as s:
        runs = list(s.scalars(select(Run.id).where(Run.job_id == job.id).order_by(Run.seq)))
    n = settings.webhook_silent_runs
    assert len(runs) > n + 1

    def end(run_id: int, at, webhook: bool) -> None:
        with db.write() as s:
            s.execute(
                update(Run).where(Run.id == run_id).values(status="success", container_id=f"c{run_id}", ended_at=at)
            )
            if webhook:
                s.add(WebhookDelivery(container_id=f"c{run_id}", body_hash=f"h{run_id}", payload={}, received_at=at))

    end(runs[0], now, webhook=True)
    for i, run_id in enumerate(runs[1 : n + 1]):
        with db.write() as s:
            assert stall_watch.silent_webhooks(s, n) is None
        end(run_id, now + timedelta(minutes=i + 1), webhook=False)
    with db.write() as s:
        assert stall_watch.watch(s, settings, now + timedelta(minutes=n + 1)) == ["webhooks_silent opened"]
        assert stall_watch.watch(s, settings, now + timedelta(minutes=n + 2)) == []
    assert [r.event for r in outbox(db)] == ["webhooks_silent"]
    end(runs[n + 1], now + timedelta(minutes=n + 3), webhook=True)
    with db.write() as s:
        assert stall_watch.watch(s, settings, now + timedelta(minutes=n + 4)) == ["webhooks_silent closed"]


def test_the_message_links_to_the_job_and_carries_only_that_job(db, settings):
    with db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        factories.job(s, ole, {"Secret Corp": 2}, file_name="ole-private.xlsx")
        job = factories.job(s, ana, {"Acme": 2}, file_name="<!channel> & co.xlsx")
    prefs(db, settings, ana)
    finish_job(db, job.id)
    row = outbox(db)[0]
    out = notifications.compose(row, "https://leadrelay.example.com/")
    assert out.link == f"https://leadrelay.example.com/history?job={job.id}"
    assert f"job #{job.id} (<!channel> & co.xlsx) completed: 2 of 2 leads enriched" in out.text
    assert out.body["job"]["job_id"] == job.id and out.body["event"] == "job.completed"
    everything = repr(out)
    assert "ole" not in everything and "Secret Corp" not in everything


def test_settings_are_checked_before_they_are_saved(db, settings):
    with db.write() as s:
        ana = factories.user(s, "ana")
    with pytest.raises(InvalidInput, match="e-mail address"):
        prefs(db, settings, ana, email="ana@example.com\nBcc: all@example.com")
    with pytest.raises(InvalidInput, match="link-local"):
        prefs(db, settings, ana, webhook_url="http://169.254.169.254/latest/meta-data")
    with pytest.raises(InvalidInput, match="http"):
        prefs(db, settings, ana, slack_url="file:///etc/passwd")
    strict = settings.model_copy(update={"notify_allow_loopback": False})
    with pytest.raises(InvalidInput, match="loopback"):
        prefs(db, strict, ana, webhook_url="http://127.0.0.1:8000/hook")
    saved = prefs(db, settings, ana, webhook_url="http://127.0.0.1:9/hook/with-a-token-abcd")
    assert saved.new_secret and saved.view.webhook_hint == "http://127.0.0.1/…abcd"
    # Saved again with the URL kept: the secret stays, and is not shown again.
    again = prefs(db, settings, ana)
    assert again.new_secret is None and again.view.has_secret
    assert notify_prefs.new_webhook_secret(db, ana) != saved.new_secret
