"""What an analyst does to jobs: queue a file, cancel, retry failed leads; each committed, then the worker rung."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core import intake, jobs, result_report
from core.config import Settings
from core.db import Database
from core.doorbell import Doorbell
from core.leadfile import ImportPreview
from core.models import User


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job just queued: its id and the companies its runs cover."""

    job_id: int
    companies: str


def queue_file(
    db: Database,
    doorbell: Doorbell,
    settings: Settings,
    user: User,
    preview: ImportPreview,
    *,
    batch_size: int,
    include_recent: bool,
    priority: int,
    checks: intake.Checks | None = None,
    start_after: datetime | None = None,
) -> QueuedJob:
    """Store a validated file as a job (the active-job limit and priority rules apply), then ring the worker."""
    with db.write() as session:
        job = intake.queue(
            session,
            settings,
            user,
            preview,
            batch_size=batch_size,
            include_recent=include_recent,
            priority=priority,
            checks=checks,
            start_after=start_after,
        )
        queued = QueuedJob(job.id, job.companies)
    doorbell.dispatch()
    return queued


def cancel_job(db: Database, doorbell: Doorbell, user: User, job_id: int) -> None:
    """Cancel a job the user may act on; a run in flight is stopped by the worker."""
    with db.write() as session:
        in_flight = jobs.cancel_job(session, user, job_id)
    if in_flight is not None:
        doorbell.stop(in_flight)


def retry_failed_leads(
    db: Database, doorbell: Doorbell, user: User, job_id: int, *, unmatched_only: bool = False
) -> int:
    """Queue a finished job's failed leads again as new runs; returns how many leads were queued.

    `unmatched_only`: only the leads no profile came back for (not the private ones, which a retry does not change).
    """
    kinds = result_report.UNMATCHED_KINDS if unmatched_only else None
    with db.write() as session:
        queued = jobs.retry_failed_leads(session, user, job_id, kinds=kinds)
    doorbell.dispatch()
    return queued
