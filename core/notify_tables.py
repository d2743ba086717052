"""The notification tables: each person's channels and wishes, the outbox, and admin alert episodes."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, utcnow


class NotifyChannel(enum.StrEnum):
    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    GAVE_UP = "gave_up"


class NotificationPrefs(Base):
    """One person's notification channels and the events they want to be told about."""

    __tablename__ = "notification_prefs"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    slack_url: Mapped[str | None] = mapped_column(String(2048))
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    # Needed in clear to sign each body (HMAC); never put in the outbox, a log or a page after it was shown once.
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    on_completed: Mapped[bool] = mapped_column(Boolean, default=True)
    on_failed: Mapped[bool] = mapped_column(Boolean, default=True)
    on_needs_admin: Mapped[bool] = mapped_column(Boolean, default=True)
    # Admins only: the queue stalled, or runs end by polling because webhooks stopped arriving.
    on_queue_stalls: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """The notification outbox: one row per event, person and channel, sent once by whichever worker claims it."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        UniqueConstraint("event_key", "user_id", "channel", name="uq_notification_outbox_event"),
        Index("ix_notification_outbox_due", "status", "due_at"),
        Index("ix_notification_outbox_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What happened, once: a second enqueue of the same event for the same person and channel does nothing.
    event_key: Mapped[str] = mapped_column(String(160))
    event: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    # The event's facts; the text, the link and the channel's address are made when it is sent.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class AlertState(Base):
    """An admin alert's episodes (queue stalled, webhooks silent, account paused): one message per opening."""

    __tablename__ = "notification_alerts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    episode: Mapped[int] = mapped_column(Integer, default=0)
    is_open: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
