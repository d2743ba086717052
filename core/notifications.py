"""Notification events: what happened (a job ended, the account needs an admin, the queue stalled), put in the outbox.

Each function works in the caller's transaction, so an event is in the outbox exactly when what caused it is
committed. A row is one event for one person on one channel; its unique key makes a second enqueue do nothing.
The words and the link are made when the message is sent (`compose`), from facts kept in the row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.models import ACTIVE_JOB_STATUSES, Job, JobStatus, Role, User
from core.notify_channels import Outgoing
from core.notify_tables import AlertState, NotificationPrefs, NotifyChannel, OutboxMessage, OutboxStatus

JOB_COMPLETED = "job_completed"
JOB_FAILED = "job_failed"
JOB_NEEDS_ADMIN = "job_needs_admin"
ACCOUNT_PAUSED = "account_paused"
QUEUE_STALLED = "queue_stalled"
WEBHOOKS_SILENT = "webhooks_silent"
TEST = "test"
ADMIN_ALERTS = (ACCOUNT_PAUSED, QUEUE_STALLED, WEBHOOKS_SILENT)
# The names receivers of the generic webhook see.
PUBLIC_NAMES = {
    JOB_COMPLETED: "job.completed",
    JOB_FAILED: "job.failed",
    JOB_NEEDS_ADMIN: "job.needs_admin",
    ACCOUNT_PAUSED: "account.paused",
    QUEUE_STALLED: "queue.stalled",
    WEBHOOKS_SILENT: "webhooks.silent",
    TEST: "test",
}


def wants(prefs: NotificationPrefs, event: str) -> bool:
    """Whether this person asked to be told about this kind of event."""
    if event == TEST:
        return True
    if event == JOB_COMPLETED:
        return prefs.on_completed
    if event == JOB_FAILED:
        return prefs.on_failed
    if event in (JOB_NEEDS_ADMIN, ACCOUNT_PAUSED):
        return prefs.on_needs_admin
    return prefs.on_queue_stalls


def channels(prefs: NotificationPrefs) -> list[str]:
    """The channels this person has set up."""
    found = []
    if prefs.email:
        found.append(NotifyChannel.EMAIL)
    if prefs.slack_url:
        found.append(NotifyChannel.SLACK)
    if prefs.webhook_url and prefs.webhook_secret:
        found.append(NotifyChannel.WEBHOOK)
    return [str(c) for c in found]


def enqueue(
    session: Session,
    prefs: NotificationPrefs,
    event: str,
    key: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    job_id: int | None = None,
) -> int:
    """One outbox row per channel of this person (when they want the event); returns how many rows are new."""
    if not wants(prefs, event):
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    added = 0
    for channel in channels(prefs):
        stmt = (
            insert(OutboxMessage)
            .values(
                event_key=key[:160],
                event=event,
                user_id=prefs.user_id,
                job_id=job_id,
                channel=channel,
                payload=payload,
                status=OutboxStatus.PENDING,
                attempts=0,
                due_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["event_key", "user_id", "channel"])
            .returning(OutboxMessage.id)
        )
        added += session.execute(stmt).first() is not None
    return added


def _job_facts(job: Job) -> dict[str, Any]:
    # Only this job's own facts: the message goes to its owner and carries nothing of anyone else.
    return {
        "job_id": job.id,
        "file_name": job.file_name,
        "status": job.status,
        "leads": job.total_leads,
        "enriched": job.completed_leads,
        "failed": job.failed_leads,
        "error": job.error_message,
    }


def job_finished(session: Session, job: Job, now: datetime) -> int:
    """The job just moved to completed or failed (in this transaction): tell its owner."""
    if job.status not in (JobStatus.COMPLETED, JobStatus.FAILED):
        return 0
    prefs = session.get(NotificationPrefs, job.owner_id)
    if prefs is None:
        return 0
    event = JOB_COMPLETED if job.status == JobStatus.COMPLETED else JOB_FAILED
    # A job can end again after its failed leads are retried: each end is its own event.
    key = f"{event}:{job.id}:{(job.finished_at or now).isoformat()}"
    facts = {**_job_facts(job), "finished_at": (job.finished_at or now).isoformat()}
    return enqueue(session, prefs, event, key, facts, now, job_id=job.id)


# -- admin alerts: one message when an episode opens, none while it stays open -----------------------------


def _alert_row(session: Session, name: str) -> AlertState:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(AlertState)
        .values(name=name, episode=0, is_open=False, details={})
        .on_conflict_do_nothing(index_elements=["name"])
    )
    # Locked on PostgreSQL so two watchers never open the same episode twice (SQLite's writers are serial).
    row = session.get(AlertState, name, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def open_alert(session: Session, name: str, details: dict[str, Any], now: datetime) -> int | None:
    """Open an alert's episode; its number when it was closed before, None when it was already open."""
    row = _alert_row(session, name)
    if row.is_open:
        return None
    row.is_open = True
    row.episode += 1
    row.opened_at = now
    row.closed_at = None
    row.details = details
    return row.episode


def close_alert(session: Session, name: str, now: datetime) -> bool:
    """The condition is over: the next time it happens is a new episode (and a new message)."""
    row = session.get(AlertState, name, with_for_update=True, populate_existing=True)
    if row is None or not row.is_open:
        return False
    row.is_open = False
    row.closed_at = now
    return True


def _admin_prefs(session: Session) -> list[NotificationPrefs]:
    stmt = (
        select(NotificationPrefs)
        .join(User, User.id == NotificationPrefs.user_id)
        .where(User.role == Role.ADMIN, User.disabled.is_(False))
        .order_by(User.id)
    )
    return list(session.scalars(stmt))


def tell_admins(session: Session, name: str, details: dict[str, Any], now: datetime) -> int | None:
    """Open the alert `name`; a new episode means one message to each admin who wants it (returns how many).

    None when the episode was already open: nothing is sent again until it has been closed.
    """
    episode = open_alert(session, name, details, now)
    if episode is None:
        return None
    facts = {**details, "since": now.isoformat()}
    return sum(enqueue(session, p, name, f"{name}:{episode}", facts, now) for p in _admin_prefs(session))


def account_needs_admin(session: Session, reason: str, now: datetime) -> int:
    """The LinkedIn account is paused or needs an admin: tell the admins once, and each waiting job's owner.

    Call it in the transaction that pauses the account; call `account_resumed` when it goes on again. Calling it
    again while the pause lasts sends nothing more. Returns how many messages were queued.
    """
    reason = " ".join(str(reason).split())[:500] or "The LinkedIn account needs an admin."
    waiting = list(session.scalars(select(Job).where(Job.status.in_(ACTIVE_JOB_STATUSES)).order_by(Job.id).limit(1000)))
    episode = open_alert(session, ACCOUNT_PAUSED, {"reason": reason, "waiting_jobs": len(waiting)}, now)
    if episode is None:
        return 0
    facts = {"reason": reason, "waiting_jobs": len(waiting), "since": now.isoformat()}
    queued = sum(
        enqueue(session, p, ACCOUNT_PAUSED, f"{ACCOUNT_PAUSED}:{episode}", facts, now) for p in _admin_prefs(session)
    )
    owners = {
        p.user_id: p
        for p in session.scalars(
            select(NotificationPrefs).where(NotificationPrefs.user_id.in_({j.owner_id for j in waiting}))
        )
    }
    for job in waiting:
        prefs = owners.get(job.owner_id)
        if prefs is not None:
            key = f"{JOB_NEEDS_ADMIN}:{job.id}:{episode}"
            queued += enqueue(
                session, prefs, JOB_NEEDS_ADMIN, key, {**_job_facts(job), "reason": reason}, now, job_id=job.id
            )
    return queued


def account_resumed(session: Session, now: datetime) -> bool:
    """The account goes on again: the next pause is told again."""
    return close_alert(session, ACCOUNT_PAUSED, now)


def queue_test_message(session: Session, prefs: NotificationPrefs, user_name: str, now: datetime) -> int:
    """A test message on each of the person's channels, asked for from the settings page."""
    return enqueue(session, prefs, TEST, f"{TEST}:{now.isoformat()}", {"user": user_name}, now)


# -- the words, made when a message is sent -----------------------------------------------------------------


def job_path(job_id: int) -> str:
    """The History page opened on one job (the page refuses a job the reader may not see)."""
    return f"/history?job={int(job_id)}"


def _counts(p: dict[str, Any]) -> str:
    text = f"{p.get('enriched', 0)} of {p.get('leads', 0)} leads enriched"
    return text + (f", {p['failed']} failed" if p.get("failed") else "")


def _words(event: str, p: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, path) for an event's facts."""
    job = f"job #{p.get('job_id')} ({' '.join(str(p.get('file_name', '')).split())[:120]})"
    if event == JOB_COMPLETED:
        return f"Job #{p['job_id']} completed", f"Your LeadRelay {job} completed: {_counts(p)}.", job_path(p["job_id"])
    if event == JOB_FAILED:
        why = p.get("error") or "no lead could be enriched."
        text = f"Your LeadRelay {job} failed: {why} {_counts(p)}. Open it to retry the failed leads."
        return f"Job #{p['job_id']} failed", text, job_path(p["job_id"])
    if event == JOB_NEEDS_ADMIN:
        text = (
            f"Your LeadRelay {job} is waiting for an admin: {p.get('reason')} The admins have been told; "
            "the job goes on by itself when the account is resumed."
        )
        return f"Job #{p['job_id']} waits for an admin", text, job_path(p["job_id"])
    if event == ACCOUNT_PAUSED:
        text = f"The LinkedIn account is paused: {p.get('reason')} {p.get('waiting_jobs', 0)} job(s) are waiting."
        return "LeadRelay: the LinkedIn account needs an admin", text, "/task_manager"
    if event == QUEUE_STALLED:
        text = (
            f"The queue is stalled: {p.get('queued_runs', 0)} run(s) are queued but nothing has launched or ended "
            f"since {p.get('last_activity') or p.get('since')}. Check the worker and PhantomBuster."
        )
        return "LeadRelay: the queue is stalled", text, "/task_manager"
    if event == WEBHOOKS_SILENT:
        text = (
            f"PhantomBuster webhooks stopped arriving: the last {p.get('runs', 0)} runs ended with no webhook, "
            "so runs are found finished only by polling, later. Check the agent's webhook URL and the webhook server."
        )
        return "LeadRelay: PhantomBuster webhooks stopped arriving", text, "/admin"
    return (
        "LeadRelay test message",
        f"This is a test message for {p.get('user')}: your notifications reach you here.",
        "/settings",
    )


def compose(message: OutboxMessage, base_url: str) -> Outgoing:
    """The message as the channels send it, with the link made from APP_BASE_URL."""
    p = dict(message.payload or {})
    subject, text, path = _words(message.event, p)
    link = base_url.rstrip("/") + path
    name = PUBLIC_NAMES.get(message.event, message.event)
    body: dict[str, Any] = {
        "id": f"{message.id}",
        "event": name,
        "occurred_at": message.created_at.isoformat(),
        "text": text,
        "link": link,
    }
    if "job_id" in p:
        body["job"] = {k: p.get(k) for k in ("job_id", "file_name", "status", "leads", "enriched", "failed", "error")}
    elif message.event in ADMIN_ALERTS:
        body["alert"] = {k: v for k, v in p.items()}
    return Outgoing(delivery_id=str(message.id), event=name, subject=subject, text=text, link=link, body=body)
