"""Retention: finished jobs are deleted after their period (completed 7 days, failed and cancelled 30 by default)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import audit
from core.lifecycle import inbox
from core.models import AuditEvent, Job, JobStatus, Lead, Run, utcnow

BATCH = 500


def expired_job_ids(session: Session, completed_days: int, failed_days: int, now: datetime | None = None) -> list[int]:
    """Ids of finished jobs older than their retention period."""
    now = now or utcnow()
    completed_before = now - timedelta(days=completed_days)
    failed_before = now - timedelta(days=failed_days)
    stmt = (
        select(Job.id)
        .where(
            ((Job.status == JobStatus.COMPLETED) & (Job.finished_at < completed_before))
            | (Job.status.in_((JobStatus.FAILED, JobStatus.CANCELLED)) & (Job.finished_at < failed_before))
        )
        .limit(BATCH)
    )
    return list(session.scalars(stmt))


def clean_up(session: Session, completed_days: int, failed_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete expired jobs with their leads, runs, webhook deliveries and audit events; returns the counts."""
    ids = expired_job_ids(session, completed_days, failed_days, now)
    if not ids:
        return {"jobs": 0, "leads": 0, "runs": 0}
    containers = [c for (c,) in session.execute(select(Run.container_id).where(Run.job_id.in_(ids))) if c]
    leads = session.execute(delete(Lead).where(Lead.job_id.in_(ids))).rowcount
    runs = session.execute(delete(Run).where(Run.job_id.in_(ids))).rowcount
    inbox.forget(session, containers)
    session.execute(delete(AuditEvent).where(AuditEvent.job_id.in_(ids)))
    jobs = session.execute(delete(Job).where(Job.id.in_(ids))).rowcount
    counts = {"jobs": jobs, "leads": leads, "runs": runs}
    audit.record(
        session,
        "system",
        "retention_clean_up",
        job_ids=ids[:50],
        **counts,
        completed_days=completed_days,
        failed_days=failed_days,
    )
    return counts
