"""The outbox's sending side: claim one due message under a lease, send it, then mark it sent or due again later.

Claims are one short transaction each (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's writers take the lock up
front with BEGIN IMMEDIATE), so any number of workers drain one outbox and each message has one sender at a time.
A sender killed after its claim leaves a lease that runs out; the next sender tries again. A sender killed after
the channel took the message but before it was marked sent is the one case of a second copy: every copy carries
the same delivery id (webhook header, e-mail Message-ID) for the receiver to drop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from core import notifications
from core.config import Settings
from core.db import Database
from core.models import User, utcnow
from core.notify_channels import ChannelError, Outgoing, post_slack, post_webhook, send_email
from core.notify_tables import NotificationPrefs, NotifyChannel, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Target:
    """Where one person's channels point at the moment of sending (read with the claim)."""

    email: str | None
    slack_url: str | None
    webhook_url: str | None
    webhook_secret: str | None
    disabled: bool


@dataclass(frozen=True, slots=True)
class Claim:
    """A message this sender holds until `lease_until`; `attempt` fences its later update."""

    id: int
    channel: str
    attempt: int
    worker_id: str
    outgoing: Outgoing
    target: Target | None


@dataclass
class Drained:
    """What one pass did."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)


def claim_one(
    session: Session,
    worker_id: str,
    *,
    now: datetime,
    lease_seconds: float,
    base_url: str,
    max_attempts: int = 1_000_000,
) -> Claim | None:
    """Take the oldest due message (pending and due, or claimed by a sender whose lease ran out)."""
    due = or_(
        and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.due_at <= now),
        and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until < now),
    )
    stmt = (
        select(OutboxMessage)
        .where(due)
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    while (row := session.scalars(stmt).first()) is not None:
        if row.status == OutboxStatus.SENDING and row.attempts >= max_attempts:
            # Its senders kept dying before they could say how it went: a message must not take workers down.
            row.status = OutboxStatus.GAVE_UP
            row.lease_until = None
            row.last_error = f"The sender stopped before finishing, {row.attempts} times (given up)."
            session.flush()
            continue
        row.status = OutboxStatus.SENDING
        row.attempts += 1
        row.claimed_by = worker_id
        row.lease_until = now + timedelta(seconds=lease_seconds)
        prefs = session.get(NotificationPrefs, row.user_id)
        user = session.get(User, row.user_id)
        target = None
        if prefs is not None and user is not None:
            target = Target(prefs.email, prefs.slack_url, prefs.webhook_url, prefs.webhook_secret, user.disabled)
        return Claim(row.id, row.channel, row.attempts, worker_id, notifications.compose(row, base_url), target)
    return None


def _fenced(claim: Claim) -> list[object]:
    # Only the sender of this very attempt may settle it: a sender whose lease ran out changes nothing.
    return [
        OutboxMessage.id == claim.id,
        OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.attempts == claim.attempt,
        OutboxMessage.claimed_by == claim.worker_id,
    ]


def mark_sent(session: Session, claim: Claim, now: datetime) -> bool:
    """The channel took the message; False when this claim was no longer the current one."""
    result = session.execute(
        update(OutboxMessage)
        .where(*_fenced(claim))
        .values(status=OutboxStatus.SENT, sent_at=now, lease_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Seconds before the next try after `attempt` failed ones: base, 2 x base, 4 x base... up to `cap`."""
    return min(cap, base * 2 ** max(0, attempt - 1))


def mark_failed(
    session: Session, claim: Claim, error: ChannelError, now: datetime, *, max_attempts: int, base: float, cap: float
) -> str:
    """Due again after a back-off, or given up (the reason kept); returns "retry", "gave_up" or "lost"."""
    give_up = not error.retryable or claim.attempt >= max_attempts
    values: dict[str, object] = {"last_error": error.message[:1000], "lease_until": None}
    if give_up:
        values["status"] = OutboxStatus.GAVE_UP
        reason = "not retried" if not error.retryable else f"gave up after {claim.attempt} attempts"
        values["last_error"] = f"{error.message} ({reason})"[:1000]
    else:
        values["status"] = OutboxStatus.PENDING
        values["due_at"] = now + timedelta(seconds=backoff_seconds(claim.attempt, base, cap))
    result = session.execute(
        update(OutboxMessage).where(*_fenced(claim)).values(**values).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return "lost"
    return "gave_up" if give_up else "retry"


def deliver(settings: Settings, http: httpx.Client, claim: Claim) -> None:
    """Send one claimed message on its channel; ChannelError when the channel did not take it."""
    target, out = claim.target, claim.outgoing
    if target is None or target.disabled:
        raise ChannelError("The person's account or settings no longer exist or are disabled.", retryable=False)
    allow = settings.notify_loopback_allowed
    if claim.channel == NotifyChannel.EMAIL and target.email:
        send_email(settings, target.email, out)
    elif claim.channel == NotifyChannel.SLACK and target.slack_url:
        post_slack(http, target.slack_url, out, allow_loopback=allow)
    elif claim.channel == NotifyChannel.WEBHOOK and target.webhook_url and target.webhook_secret:
        post_webhook(http, target.webhook_url, target.webhook_secret, out, allow_loopback=allow)
    else:
        raise ChannelError("This channel was removed from the person's settings.", retryable=False)


Sender = Callable[[Claim], None]


def drain(
    db: Database,
    settings: Settings,
    worker_id: str,
    *,
    send: Sender | None = None,
    clock: Callable[[], datetime] = utcnow,
    limit: int = 100,
    stop: threading.Event | None = None,
) -> Drained:
    """Send due messages one at a time until none is due, `limit` were tried or `stop` is set."""
    done = Drained()
    with httpx.Client(timeout=settings.notify_http_timeout_seconds, follow_redirects=False) as http:
        sender = send or (lambda claim: deliver(settings, http, claim))
        for _ in range(limit):
            if stop is not None and stop.is_set():
                break
            with db.write() as session:
                claim = claim_one(
                    session,
                    worker_id,
                    now=clock(),
                    lease_seconds=settings.notify_lease_seconds,
                    base_url=settings.effective_app_base_url,
                    max_attempts=settings.notify_max_attempts,
                )
            if claim is None:
                break
            try:
                sender(claim)
            except ChannelError as exc:
                with db.write() as session:
                    outcome = mark_failed(
                        session,
                        claim,
                        exc,
                        clock(),
                        max_attempts=settings.notify_max_attempts,
                        base=settings.notify_backoff_seconds,
                        cap=settings.notify_backoff_cap_seconds,
                    )
                (done.gave_up if outcome == "gave_up" else done.retried).append(claim.id)
                log.warning("notification %s on %s not sent (%s): %s", claim.id, claim.channel, outcome, exc.message)
                continue
            with db.write() as session:
                if not mark_sent(session, claim, clock()):
                    log.warning(
                        "notification %s was sent after its lease ran out; another sender may repeat it", claim.id
                    )
            done.sent.append(claim.id)
    return done
