"""The SCT audit log: every state change of a job or run, with its actor and details."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import AuditEvent, utcnow

ACTORS = ("analyst", "admin", "worker", "webhook", "reconciler", "system")


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    job_id: int | None = None,
    run_id: int | None = None,
    at: datetime | None = None,
    **details: Any,
) -> None:
    """Add one audit event to the session (the caller's transaction commits it)."""
    session.add(
        AuditEvent(actor=actor, action=action, job_id=job_id, run_id=run_id, at=at or utcnow(), details=details)
    )


def for_job(session: Session, job_id: int, limit: int = 500) -> list[AuditEvent]:
    """The newest audit events of a job, newest first."""
    stmt = select(AuditEvent).where(AuditEvent.job_id == job_id).order_by(AuditEvent.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def recent(session: Session, limit: int = 200) -> list[AuditEvent]:
    """The newest audit events of all jobs."""
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))
