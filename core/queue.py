"""Queue order (priority, then fair across analysts, then age), queue positions and ETA bands."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.models import IN_FLIGHT_RUN_STATUSES, Job, Run, RunStatus, utcnow

DURATION_SAMPLE = 100


def _ordered_pending():
    """Pending runs with their fairness round: the k-th pending run of an analyst is in round k."""
    fair_round = (
        func.row_number()
        .over(partition_by=Run.owner_id, order_by=(Run.priority.desc(), Run.job_id, Run.seq))
        .label("fair_round")
    )
    inner = (
        select(Run.id, Run.job_id, Run.priority, Run.seq, Run.not_before, Run.company, fair_round)
        .where(Run.status == RunStatus.PENDING)
        .subquery()
    )
    order = (inner.c.priority.desc(), inner.c.fair_round, inner.c.job_id, inner.c.seq)
    return inner, order


def next_run_id(session: Session, now: datetime | None = None) -> int | None:
    """The pending run to launch next, skipping runs in retry back-off and jobs scheduled for later."""
    now = now or utcnow()
    inner, order = _ordered_pending()
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


@dataclass(frozen=True, slots=True)
class Eta:
    """When a job should be done: a likely time and an 80% band."""

    likely: datetime
    low: datetime
    high: datetime


@dataclass(frozen=True, slots=True)
class JobPlace:
    """A job's place in the queue (1 = its next run launches next), its pending runs and ETA band."""

    position: int
    runs_left: int
    eta: Eta


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The whole queue at one moment: pending run count, each queued job's place, the queue's ETA."""

    pending_runs: int
    places: dict[int, JobPlace]
    eta_all: Eta | None
    stats: DurationStats


def _eta(now: datetime, head_start: float, n: int, stats: DurationStats) -> Eta:
    likely = head_start + n * stats.mean
    # Sum of n independent run times: the spread grows with the square root of n (80% band).
    spread = 1.2816 * stats.sd * math.sqrt(max(n, 1))
    low = max(head_start + n * stats.mean * 0.5, likely - spread)
    return Eta(
        likely=now + timedelta(seconds=likely),
        low=now + timedelta(seconds=low),
        high=now + timedelta(seconds=likely + spread),
    )


def snapshot(session: Session, *, default_run_seconds: float, now: datetime | None = None) -> QueueSnapshot:
    """Compute every queued job's position and ETA band in one pass over the pending runs."""
    now = now or utcnow()
    stats = duration_stats(session, default_run_seconds)
    inner, order = _ordered_pending()
    job_ids = list(session.scalars(select(inner.c.job_id).order_by(*order)))
    in_flight = session.execute(
        select(Run.job_id, Run.launch_requested_at).where(Run.status.in_(IN_FLIGHT_RUN_STATUSES)).limit(1)
    ).first()
    head_start = 0.0
    if in_flight is not None and in_flight.launch_requested_at is not None:
        elapsed = (now - in_flight.launch_requested_at).total_seconds()
        head_start = max(stats.mean - elapsed, stats.mean * 0.1)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    count: dict[int, int] = {}
    for index, job_id in enumerate(job_ids):
        first.setdefault(job_id, index)
        last[job_id] = index
        count[job_id] = count.get(job_id, 0) + 1
    rank = {job_id: n for n, job_id in enumerate(first, start=1)}
    places = {
        job_id: JobPlace(
            position=rank[job_id],
            runs_left=count[job_id],
            eta=_eta(now, head_start, last[job_id] + 1, stats),
        )
        for job_id in first
    }
    if in_flight is not None and in_flight.job_id not in places:
        places[in_flight.job_id] = JobPlace(position=0, runs_left=0, eta=_eta(now, head_start, 0, stats))
    eta_all = _eta(now, head_start, len(job_ids), stats) if job_ids or in_flight is not None else None
    return QueueSnapshot(pending_runs=len(job_ids), places=places, eta_all=eta_all, stats=stats)
