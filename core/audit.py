"""The audit log (the seeds' "service control table"): every state change of a job or run, its actor and details."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.models import AuditEvent, utcnow


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
