"""Job lifecycle: split leads into runs, track progress, cancel and retry."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import audit, lifecycle, notifications
from core.errors import InvalidInput, NotFound
from core.leadfile import LeadRow
from core.models import (
    ACTIVE_JOB_STATUSES,
    ENDED_RUN_STATUSES,
    IN_FLIGHT_RUN_STATUSES,
    Job,
    JobStage,
    JobStatus,
    Lead,
    LeadStatus,
    Role,
    Run,
    User,
    utcnow,
)

# The largest id a database integer holds: anything above is no job at all (and would overflow SQLite's driver).
MAX_ID = 2**63 - 1


def visible_job(session: Session, user: User, job_id: int) -> Job:
    """The job if `user` may see it (its owner or an admin); NotFound otherwise, never a hint it exists."""
    job = session.get(Job, job_id) if 0 < job_id <= MAX_ID else None
    if job is None or (user.role != Role.ADMIN and job.owner_id != user.id):
        raise NotFound(f"No job #{job_id} is visible to you.")
    return job


def active_job_count(session: Session, owner_id: int) -> int:
    """How many of an analyst's jobs are pending or running."""
    stmt = select(func.count()).select_from(Job).where(Job.owner_id == owner_id, Job.status.in_(ACTIVE_JOB_STATUSES))
    return int(session.scalar(stmt) or 0)


def plan_batches(leads: Sequence[LeadRow], batch_size: int) -> list[tuple[str, list[int]]]:
    """Group leads by company (first appearance order) and cut each group into batches of indexes."""
    groups: OrderedDict[str, list[int]] = OrderedDict()
    for index, lead in enumerate(leads):
        groups.setdefault(lead.company.strip(), []).append(index)
    batches: list[tuple[str, list[int]]] = []
    for company, indexes in groups.items():
        for start in range(0, len(indexes), batch_size):
            batches.append((company, indexes[start : start + batch_size]))
    return batches


def refresh_progress(session: Session, job_id: int, now: datetime | None = None) -> Job:
    """Recount a job's leads and runs and move it to its final status when every run has ended."""
    now = now or utcnow()
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"Job #{job_id} does not exist.")
    lead_counts = dict(
        session.execute(
            select(Lead.status, func.count())
            .where(Lead.job_id == job_id, Lead.run_id.is_not(None))
            .group_by(Lead.status)
        ).all()
    )
    run_counts = dict(
        session.execute(select(Run.status, func.count()).where(Run.job_id == job_id).group_by(Run.status)).all()
    )
    current = session.scalar(
        select(func.min(Run.seq)).where(Run.job_id == job_id, Run.status.in_(IN_FLIGHT_RUN_STATUSES))
    )
    job.completed_leads = lead_counts.get(LeadStatus.SUCCESS, 0)
    job.failed_leads = lead_counts.get(LeadStatus.FAILED, 0)
    job.completed_batches = sum(run_counts.get(s, 0) for s in ENDED_RUN_STATUSES)
    job.current_batch = current or job.current_batch
    done = job.completed_leads + job.failed_leads + lead_counts.get(LeadStatus.CANCELLED, 0)
    job.percentage = round(100.0 * done / job.total_leads, 1) if job.total_leads else 100.0
    all_ended = job.completed_batches >= job.total_batches
    if job.status in ACTIVE_JOB_STATUSES and all_ended:
        job.finished_at = now
        job.stage = JobStage.COMPLETED
        job.percentage = 100.0
        if job.total_leads and job.completed_leads == 0 and job.failed_leads > 0:
            job.status = JobStatus.FAILED
            job.error_code = job.error_code or "all_leads_failed"
            job.error_message = job.error_message or "No lead of this file could be enriched."
            job.error_at = now
        else:
            job.status = JobStatus.COMPLETED
        audit.record(
            session,
            "worker",
            f"job_{job.status}",
            job_id=job.id,
            completed=job.completed_leads,
            failed=job.failed_leads,
        )
        notifications.job_finished(session, job, now)
    job.updated_at = now
    return job


def mark_started(session: Session, job_id: int, now: datetime | None = None) -> None:
    """Move a pending job to running when its first run is claimed."""
    now = now or utcnow()
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.PENDING)
        .values(status=JobStatus.RUNNING, started_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def cancel_job(session: Session, user: User, job_id: int) -> int | None:
    """Cancel a job's queued work; returns the id of its run in flight (which the worker must stop)."""
    job = visible_job(session, user, job_id)
    if job.status not in ACTIVE_JOB_STATUSES:
        raise InvalidInput(f"Job #{job_id} is already {job.status}; there is nothing to cancel.")
    now = utcnow()
    in_flight = lifecycle.cancel_job_runs(session, job_id, now)
    job.status = JobStatus.CANCELLED
    job.stage = JobStage.COMPLETED
    job.finished_at = now
    job.updated_at = now
    job.error_code = "cancelled"
    job.error_message = f"Cancelled by {user.name}."
    job.error_at = now
    audit.record(session, user.role, "job_cancelled", job_id=job_id, by=user.name, run_in_flight=in_flight)
    return in_flight


def retry_failed_leads(
    session: Session,
    user: User,
    job_id: int,
    *,
    batch_size: int | None = None,
    kinds: Sequence[str] | None = None,
) -> int:
    """Queue a job's failed leads again as new runs (only those of `kinds`, if given); returns how many."""
    job = visible_job(session, user, job_id)
    if job.status in ACTIVE_JOB_STATUSES:
        raise InvalidInput(f"Job #{job_id} is still {job.status}; retry its failed leads when it has ended.")
    stmt = select(Lead).where(Lead.job_id == job_id, Lead.status == LeadStatus.FAILED)
    if kinds is not None:
        stmt = stmt.where(Lead.error_kind.in_(list(kinds)) | Lead.error_kind.is_(None))
    failed = list(session.scalars(stmt))
    if not failed:
        which = "unmatched" if kinds is not None else "failed"
        raise InvalidInput(f"Job #{job_id} has no {which} lead to retry.")
    now = utcnow()
    batches = lifecycle.queue_again(session, job, failed, batch_size or job.batch_size, now, fresh_attempts=True)
    job.status = JobStatus.PENDING
    job.stage = JobStage.BATCH_PROCESSING
    job.finished_at = None
    job.error_code = job.error_message = None
    job.error_at = None
    job.failed_leads = max(0, job.failed_leads - len(failed))
    job.percentage = round(100.0 * job.completed_leads / job.total_leads, 1) if job.total_leads else 0.0
    job.updated_at = now
    audit.record(
        session, user.role, "job_retry_failed", job_id=job_id, by=user.name, leads=len(failed), runs=len(batches)
    )
    return len(failed)
