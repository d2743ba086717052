"""Heartbeats: long-running processes record when they last did their rounds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.models import Heartbeat, utcnow


def beat(session: Session, name: str, *, now: datetime | None = None, **details: Any) -> None:
    """Record that process `name` is alive."""
    session.merge(Heartbeat(name=name, at=now or utcnow(), details=details))


def last(session: Session, name: str) -> Heartbeat | None:
    """The last heartbeat of process `name`, if it ever beat."""
    return session.get(Heartbeat, name)
