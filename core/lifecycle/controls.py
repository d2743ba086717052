"""Run and slot changes asked for by people and by the reconciler: pause, resume, release, cancel, retry a dead run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import audit, jobs
from core.errors import InvalidInput, NotFound
from core.lifecycle import checks
from core.lifecycle import slot as slots
from core.models import IN_FLIGHT_RUN_STATUSES, Job, JobStage, JobStatus, Lead, LeadStatus, Run, RunStatus


def pause(session: Session, reason: str, now: datetime) -> None:
    """Stop launching new runs; the run in flight finishes."""
    slots.set_paused(session, True, reason)


def resume(session: Session, now: datetime) -> None:
    """Launch queued runs again."""
    slots.set_paused(session, False)


def force_release(session: Session, now: datetime) -> int | None:
    """Free the slot whoever holds it; a run still in flight keeps being checked and ends by itself."""
    run_id = slots.force_release(session, now=now)
    return run_id or None


def expire_lease(session: Session, now: datetime) -> list[tuple[int, int]]:
    """Expire the lease now and plan an immediate check of every run in flight; returns (run id, ticket) to ring."""
    slot = slots.get(session)
    if slot.run_id is not None:
        slots.fence(session, slot.token, expires_at=now)
    rung = []
    for run in session.scalars(select(Run).where(Run.status.in_(IN_FLIGHT_RUN_STATUSES)).with_for_update()):
        rung.append((run.id, checks.schedule_check(session, run, 0.0, now)))
    return rung


def release_if_holder_ended(session: Session, now: datetime) -> int | None:
    """Free a slot still held by a run that has already ended; returns that run's id."""
    slot = slots.get(session)
    if slot.run_id is None:
        return None
    status = session.scalar(select(Run.status).where(Run.id == slot.run_id))
    if status in IN_FLIGHT_RUN_STATUSES:
        return None
    slots.release(session, slot.token, now=now)
    audit.record(
        session,
        "reconciler",
        "slot_released",
        run_id=slot.run_id,
        at=now,
        reason="the run holding the slot had already ended",
    )
    return slot.run_id


def cancel_job_runs(session: Session, job_id: int, now: datetime) -> int | None:
    """Cancel a job's queued runs and their leads; returns its run in flight, which the worker must stop."""
    pending_runs = select(Run.id).where(Run.job_id == job_id, Run.status == RunStatus.PENDING)
    session.execute(
        update(Lead)
        .where(Lead.job_id == job_id, Lead.status == LeadStatus.PENDING, Lead.run_id.in_(pending_runs))
        .values(status=LeadStatus.CANCELLED, error="Cancelled before it was sent.")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Run)
        .where(Run.job_id == job_id, Run.status == RunStatus.PENDING)
        .values(status=RunStatus.CANCELLED, ended_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return session.scalar(select(Run.id).where(Run.job_id == job_id, Run.status.in_(IN_FLIGHT_RUN_STATUSES)))


def retry_dead_run(session: Session, run_id: int, now: datetime) -> Run:
    """Put a run that used up its attempts back in the queue with fresh attempts; its job becomes active again."""
    run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise NotFound(f"Run #{run_id} does not exist.")
    if run.status not in (RunStatus.FAILED, RunStatus.TIMED_OUT):
        raise InvalidInput(f"Run #{run_id} is {run.status}; only failed or timed-out runs can be retried.")
    job = session.get(Job, run.job_id, populate_existing=True)
    assert job is not None
    if job.status == JobStatus.CANCELLED:
        raise InvalidInput(f"Job #{job.id} was cancelled; its runs are not retried.")
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
    job.error_code = job.error_message = None
    job.error_at = None
    job.completed_batches = max(0, job.completed_batches - 1)
    job.updated_at = now
    return run


def queue_again(
    session: Session, job: Job, leads: list[Lead], batch_size: int, now: datetime, *, fresh_attempts: bool
) -> list[Run]:
    """Queue leads of a job again as new runs (by company, `batch_size` a run).

    `fresh_attempts` is for a person's retry; leads a run never got to keep counting their launches.
    """
    base_seq = int(session.scalar(select(func.max(Run.seq)).where(Run.job_id == job.id)) or 0)
    runs: list[Run] = []
    for offset, (company, indexes) in enumerate(jobs.plan_batches(leads, batch_size), start=1):
        run = Run(
            job_id=job.id,
            owner_id=job.owner_id,
            seq=base_seq + offset,
            company=company[:255],
            lead_count=len(indexes),
            priority=job.priority,
            status=RunStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        session.add(run)
        session.flush()
        session.execute(
            update(Lead)
            .where(Lead.id.in_([leads[i].id for i in indexes]))
            .values(
                run_id=run.id,
                status=LeadStatus.PENDING,
                error=None,
                error_kind=None,
                **({"attempts": 0} if fresh_attempts else {}),
            )
            .execution_options(synchronize_session=False)
        )
        runs.append(run)
    job.total_batches += len(runs)
    return runs
