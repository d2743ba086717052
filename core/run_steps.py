"""What the engine's steps share: a run read in one short transaction, its next check planned, measured timings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core import lifecycle, queue
from core.config import Settings
from core.db import Database
from core.doorbell import Doorbell
from core.errors import PhantomBusterError
from core.models import IN_FLIGHT_RUN_STATUSES, Job, JobStatus, Run

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """The fields of a run a step decides on, read in one short transaction."""

    id: int
    job_id: int
    status: str
    container_id: str | None
    check_ticket: int
    launch_requested_at: datetime | None
    launch_unanswered_at: datetime | None
    batch_fetched_at: datetime | None
    job_cancelled: bool


def read_run(db: Database, run_id: int) -> RunSnapshot | None:
    """The run's fields a step decides on."""
    with db.read() as session:
        row = session.execute(
            select(
                Run.id,
                Run.job_id,
                Run.status,
                Run.container_id,
                Run.check_ticket,
                Run.launch_requested_at,
                Run.launch_unanswered_at,
                Run.batch_fetched_at,
                Job.status,
            )
            .join(Job, Job.id == Run.job_id)
            .where(Run.id == run_id)
        ).first()
    if row is None:
        return None
    return RunSnapshot(*row[:8], job_cancelled=row[8] == JobStatus.CANCELLED)


def check_later(
    db: Database,
    doorbell: Doorbell,
    clock: Callable[[], datetime],
    run_id: int,
    exc: PhantomBusterError | None,
    delay: float,
) -> str:
    """Plan the run's next check in `delay` seconds (after PhantomBuster did not answer, or to keep waiting)."""
    if exc is not None:
        log.warning("run %s: PhantomBuster did not answer (%s); asking again in %.0f s", run_id, exc.message, delay)
    now = clock()
    with db.write() as session:
        run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
        if run is None or run.status not in IN_FLIGHT_RUN_STATUSES:
            return "not_in_flight"
        ticket = lifecycle.schedule_check(session, run, delay, now)
    doorbell.check(run_id, ticket, delay)
    return "unreachable" if exc is not None else "waiting"


def expected_run_seconds(db: Database, settings: Settings) -> float:
    """The measured median run time (the setting's first guess until runs have been measured)."""
    with db.read() as session:
        return queue.duration_stats(session, settings.expected_run_seconds).median


def first_check_delay(db: Database, settings: Settings) -> float:
    """When to look at a run just launched, if no webhook comes first."""
    return max(1.0, expected_run_seconds(db, settings) * 1.5)


def recheck_delay(db: Database, settings: Settings) -> float:
    """How often to look at a run still running."""
    return min(30.0, max(1.0, expected_run_seconds(db, settings) * 0.5))
