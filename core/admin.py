"""Admin actions on the queue and slot: pause, resume, release, restart stuck processing, retry dead runs."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit
from core import slot as slots
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.models import (
    IN_FLIGHT_RUN_STATUSES,
    AuditEvent,
    Job,
    JobStage,
    JobStatus,
    Lead,
    LeadStatus,
    Role,
    Run,
    RunStatus,
    User,
    utcnow,
)


def _require_admin(user: User) -> None:
    if user.role != Role.ADMIN:
        raise PermissionDenied("Only an admin can do this.")


def pause(session: Session, user: User, reason: str = "") -> None:
    """Stop launching new runs; the run in flight finishes."""
    _require_admin(user)
    slots.set_paused(session, True, reason or f"Paused by {user.name}.")
    audit.record(session, "admin", "queue_paused", by=user.name, reason=reason)


def resume(session: Session, user: User) -> None:
    """Launch queued runs again."""
    _require_admin(user)
    slots.set_paused(session, False)
    audit.record(session, "admin", "queue_resumed", by=user.name)


def release_slot(session: Session, user: User) -> int:
    """Free the slot whoever holds it; a run still in flight keeps being checked and ends by itself."""
    _require_admin(user)
    run_id = slots.force_release(session)
    audit.record(session, "admin", "slot_released", run_id=run_id or None, by=user.name)
    return run_id


def restart_stuck(session: Session, user: User) -> int:
    """Expire the lease and mark every run in flight for an immediate check; the reconciler takes it from there."""
    _require_admin(user)
    now = utcnow()
    slot = slots.get(session)
    if slot.run_id is not None:
        slots.fence(session, slot.token, expires_at=now)
    result = session.execute(
        update(Run)
        .where(Run.status.in_(IN_FLIGHT_RUN_STATUSES))
        .values(next_check_at=now)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, "admin", "processing_restarted", by=user.name, runs_in_flight=result.rowcount)
    return result.rowcount


def dead_runs(session: Session, limit: int = 200) -> list[Run]:
    """Runs that used up their attempts (the dead-letter list), newest first."""
    stmt = (
        select(Run)
        .where(Run.status.in_((RunStatus.FAILED, RunStatus.TIMED_OUT)), Run.dead_reason.is_not(None))
        .order_by(Run.ended_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def retry_dead_run(session: Session, user: User, run_id: int) -> None:
    """Put a dead run back in the queue with fresh attempts; its job becomes active again."""
    _require_admin(user)
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"Run #{run_id} does not exist.")
    if run.status not in (RunStatus.FAILED, RunStatus.TIMED_OUT):
        raise InvalidInput(f"Run #{run_id} is {run.status}; only failed or timed-out runs can be retried.")
    job = session.get(Job, run.job_id)
    assert job is not None
    if job.status == JobStatus.CANCELLED:
        raise InvalidInput(f"Job #{job.id} was cancelled; its runs are not retried.")
    now = utcnow()
    session.execute(
        update(Lead)
        .where(Lead.run_id == run_id, Lead.status == LeadStatus.FAILED)
        .values(status=LeadStatus.PENDING, error=None)
        .execution_options(synchronize_session=False)
    )
    run.status, run.attempts, run.dead_reason, run.error_message = RunStatus.PENDING, 0, None, None
    run.container_id, run.fence, run.not_before, run.ended_at = None, None, None, None
    run.updated_at = now
    job.status, job.stage, job.finished_at = JobStatus.RUNNING, JobStage.BATCH_PROCESSING, None
    job.completed_batches = max(0, job.completed_batches - 1)
    job.updated_at = now
    audit.record(session, "admin", "dead_run_retried", job_id=job.id, run_id=run_id, by=user.name)


def retention_events(session: Session, user: User, limit: int = 20) -> list[AuditEvent]:
    """The newest retention clean-ups (what the periodic task removed), newest first."""
    _require_admin(user)
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.job_id.is_(None), AuditEvent.action == "retention_clean_up")
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))
