"""A person's notification settings as the settings page uses them: checked, saved, the webhook secret shown once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import notifications
from core.config import Settings
from core.db import Database
from core.errors import InvalidInput
from core.models import Role, User, utcnow
from core.notify_channels import check_email, check_url
from core.notify_tables import NotificationPrefs, OutboxMessage

# A URL field left as it is keeps the saved address (the page never shows a saved webhook URL in full).
KEEP = "__keep__"


@dataclass(frozen=True, slots=True)
class PrefsView:
    """What the settings page shows: addresses (webhook URLs only as a hint), the events chosen."""

    email: str
    slack_hint: str | None
    webhook_hint: str | None
    has_secret: bool
    on_completed: bool
    on_failed: bool
    on_needs_admin: bool
    on_queue_stalls: bool
    is_admin: bool


@dataclass(frozen=True, slots=True)
class Saved:
    """The saved settings, and the new webhook secret when one was just made (shown this once only)."""

    view: PrefsView
    new_secret: str | None


@dataclass(frozen=True, slots=True)
class SentItem:
    """One recent message of the person's, for the page's short log."""

    at: datetime
    event: str
    channel: str
    status: str
    attempts: int
    error: str | None


def hint(url: str | None) -> str | None:
    """A saved URL as a hint (scheme, host and the last 4 characters): webhook URLs are secrets in themselves."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…{url[-4:]}"


def _view(prefs: NotificationPrefs | None, user: User) -> PrefsView:
    p = prefs or NotificationPrefs(on_completed=True, on_failed=True, on_needs_admin=True, on_queue_stalls=True)
    return PrefsView(
        email=p.email or "",
        slack_hint=hint(p.slack_url),
        webhook_hint=hint(p.webhook_url),
        has_secret=bool(p.webhook_secret),
        on_completed=bool(p.on_completed),
        on_failed=bool(p.on_failed),
        on_needs_admin=bool(p.on_needs_admin),
        on_queue_stalls=bool(p.on_queue_stalls) and user.role == Role.ADMIN,
        is_admin=user.role == Role.ADMIN,
    )


def load(db: Database, user: User) -> PrefsView:
    """The person's settings (defaults when never saved)."""
    with db.read() as session:
        return _view(session.get(NotificationPrefs, user.id), user)


def _prefs(session: Session, user: User) -> NotificationPrefs:
    prefs = session.get(NotificationPrefs, user.id, with_for_update=True)
    if prefs is None:
        prefs = NotificationPrefs(
            user_id=user.id, on_completed=True, on_failed=True, on_needs_admin=True, on_queue_stalls=True
        )
        session.add(prefs)
    return prefs


def _url(value: str, current: str | None, settings: Settings) -> str | None:
    if value == KEEP:
        return current
    value = value.strip()
    return check_url(value, allow_loopback=settings.notify_loopback_allowed) if value else None


def save(
    db: Database,
    settings: Settings,
    user: User,
    *,
    email: str,
    slack_url: str = KEEP,
    webhook_url: str = KEEP,
    on_completed: bool,
    on_failed: bool,
    on_needs_admin: bool,
    on_queue_stalls: bool = False,
) -> Saved:
    """Check and save; an empty field removes that channel, KEEP leaves a URL as saved. InvalidInput says why not."""
    address = check_email(email) if email.strip() else None
    with db.write() as session:
        prefs = _prefs(session, user)
        slack = _url(slack_url, prefs.slack_url, settings)
        webhook = _url(webhook_url, prefs.webhook_url, settings)
        prefs.email, prefs.slack_url, prefs.webhook_url = address, slack, webhook
        prefs.on_completed, prefs.on_failed, prefs.on_needs_admin = on_completed, on_failed, on_needs_admin
        prefs.on_queue_stalls = on_queue_stalls and user.role == Role.ADMIN
        new_secret = None
        if webhook and not prefs.webhook_secret:
            new_secret = prefs.webhook_secret = secrets.token_urlsafe(32)
        if not webhook:
            prefs.webhook_secret = None
        prefs.updated_at = utcnow()
        session.flush()
        return Saved(_view(prefs, user), new_secret)


def new_webhook_secret(db: Database, user: User) -> str:
    """A new signing secret for the person's webhook (the old one stops working at once); shown once."""
    with db.write() as session:
        prefs = session.get(NotificationPrefs, user.id, with_for_update=True)
        if prefs is None or not prefs.webhook_url:
            raise InvalidInput("Save a webhook URL first; its secret is made with it.")
        prefs.webhook_secret = secrets.token_urlsafe(32)
        prefs.updated_at = utcnow()
        return prefs.webhook_secret


def send_test(db: Database, user: User) -> int:
    """Queue a test message on each of the person's channels; returns how many (InvalidInput when none is set)."""
    with db.write() as session:
        prefs = session.get(NotificationPrefs, user.id)
        if prefs is None or not notifications.channels(prefs):
            raise InvalidInput("Set an e-mail address or a webhook first, then send a test message.")
        return notifications.queue_test_message(session, prefs, user.name, utcnow())


def recent(db: Database, user: User, limit: int = 10) -> list[SentItem]:
    """The person's latest messages, newest first: what was sent, what is retried, what was given up and why."""
    with db.read() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.user_id == user.id).order_by(OutboxMessage.id.desc()).limit(limit)
        )
        return [
            SentItem(r.sent_at or r.created_at, r.event, r.channel, r.status, r.attempts, r.last_error) for r in rows
        ]
