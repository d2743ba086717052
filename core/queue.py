"""Queue order (priority, then fair across analysts, then age) and the measured run durations."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.models import ACTIVE_JOB_STATUSES, Job, Run, RunStatus, utcnow

DURATION_SAMPLE = 100


def ordered_pending():
    """Pending runs with their fairness round, for a round-robin across analysts.

    An analyst's k-th pending run is in round k plus the runs of theirs already launched for their active jobs:
    counting only pending runs would put every analyst's next run in round 1 again after each launch, and the
    oldest job would win every time.
    """
    launched = (
        select(Run.owner_id, func.count().label("n"))
        .join(Job, Job.id == Run.job_id)
        .where(Job.status.in_(ACTIVE_JOB_STATUSES), Run.status != RunStatus.PENDING)
        .group_by(Run.owner_id)
        .subquery()
    )
    fair_round = (
        func.row_number().over(partition_by=Run.owner_id, order_by=(Run.priority.desc(), Run.job_id, Run.seq))
        + func.coalesce(launched.c.n, 0)
    ).label("fair_round")
    inner = (
        select(Run.id, Run.job_id, Run.priority, Run.seq, Run.not_before, Run.company, fair_round)
        .outerjoin(launched, launched.c.owner_id == Run.owner_id)
        .where(Run.status == RunStatus.PENDING)
        .subquery()
    )
    order = (inner.c.priority.desc(), inner.c.fair_round, inner.c.job_id, inner.c.seq)
    return inner, order


def next_run_id(session: Session, now: datetime | None = None) -> int | None:
    """The pending run to launch next, skipping runs in retry back-off and jobs scheduled for later."""
    now = now or utcnow()
    inner, order = ordered_pending()
    stmt = (
        select(inner.c.id)
        .join(Job, Job.id == inner.c.job_id)
        .where(
            or_(inner.c.not_before.is_(None), inner.c.not_before <= now),
            or_(Job.start_after.is_(None), Job.start_after <= now),
        )
        .order_by(*order)
        .limit(1)
    )
    return session.scalar(stmt)


@dataclass(frozen=True, slots=True)
class DurationStats:
    """Measured run cycle time (launch request to end), in seconds."""

    mean: float
    sd: float
    median: float
    samples: int


def duration_stats(session: Session, default: float) -> DurationStats:
    """Statistics of the most recent successful runs, or the configured guess when there are none."""
    stmt = (
        select(Run.launch_requested_at, Run.ended_at)
        .where(Run.status == RunStatus.SUCCESS, Run.ended_at.is_not(None))
        .order_by(Run.ended_at.desc())
        .limit(DURATION_SAMPLE)
    )
    values = [
        (end - start).total_seconds() for start, end in session.execute(stmt) if start is not None and end is not None
    ]
    if not values:
        return DurationStats(mean=default, sd=default * 0.25, median=default, samples=0)
    mean = statistics.fmean(values)
    sd = statistics.pstdev(values) if len(values) > 1 else mean * 0.25
    return DurationStats(mean=mean, sd=sd, median=statistics.median(values), samples=len(values))
