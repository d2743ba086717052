"""History charts: jobs and leads per day, run durations and failures by reason, over a bounded recent window."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Job, Lead, LeadStatus, Role, Run, RunStatus, User, utcnow

MAX_DAYS = 90
MAX_RUNS = 20_000
MAX_JOBS = 5_000


@dataclass(frozen=True, slots=True)
class Day:
    """One day of the jobs-and-leads chart."""

    day: date
    jobs: int
    leads: int
    enriched: int
    failed: int


@dataclass(frozen=True, slots=True)
class RunDay:
    """One day of the run-duration chart: how many runs ended and their median and 90th percentile (seconds)."""

    day: date
    runs: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True, slots=True)
class Reason:
    """How many leads failed for one plain-words reason."""

    reason: str
    leads: int


@dataclass(frozen=True, slots=True)
class Charts:
    """Everything the History page charts for one window."""

    days: list[Day]
    run_days: list[RunDay]
    reasons: list[Reason]


def _window(days: int, now: datetime | None) -> tuple[datetime, list[date]]:
    days = max(1, min(days, MAX_DAYS))
    now = now or utcnow()
    first = (now - timedelta(days=days - 1)).date()
    since = datetime.combine(first, datetime.min.time(), now.tzinfo)
    return since, [first + timedelta(days=n) for n in range(days)]


def _day_of(session: Session, column: Any) -> Any:
    """A SQL expression for the UTC calendar day of a timestamp column, on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _seconds_between(session: Session, start: Any, end: Any) -> Any:
    """A SQL expression for the seconds from `start` to `end`, on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def jobs_per_day(session: Session, user: User, days: int, now: datetime | None = None) -> list[Day]:
    """Jobs created and their leads (total, enriched, failed) per day; missing days are zero."""
    since, calendar = _window(days, now)
    day = _day_of(session, Job.created_at).label("day")
    stmt = (
        select(
            day,
            func.count(),
            func.sum(Job.total_leads),
            func.sum(Job.completed_leads),
            func.sum(Job.failed_leads),
        )
        .where(Job.created_at >= since)
        .group_by(day)
    )
    if user.role != Role.ADMIN:
        stmt = stmt.where(Job.owner_id == user.id)
    found = {_as_date(row[0]): row for row in session.execute(stmt)}
    out = []
    for d in calendar:
        row = found.get(d)
        out.append(
            Day(d, int(row[1]), int(row[2] or 0), int(row[3] or 0), int(row[4] or 0)) if row else Day(d, 0, 0, 0, 0)
        )
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_durations(session: Session, user: User, days: int, now: datetime | None = None) -> list[RunDay]:
    """Per day, the runs that ended and their cycle time (launch request to end), from at most MAX_RUNS runs."""
    since, calendar = _window(days, now)
    stmt = (
        select(_day_of(session, Run.ended_at), _seconds_between(session, Run.launch_requested_at, Run.ended_at))
        .where(
            Run.ended_at >= since,
            Run.launch_requested_at.is_not(None),
            Run.status.in_((RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.TIMED_OUT)),
        )
        .order_by(Run.ended_at.desc())
        .limit(MAX_RUNS)
    )
    if user.role != Role.ADMIN:
        stmt = stmt.where(Run.owner_id == user.id)
    per_day: dict[date, list[float]] = {}
    for day, seconds in session.execute(stmt):
        per_day.setdefault(_as_date(day), []).append(max(0.0, float(seconds or 0.0)))
    out = []
    for d in calendar:
        values = per_day.get(d, [])
        out.append(
            RunDay(d, len(values), statistics.median(values), _percentile(values, 0.9))
            if values
            else RunDay(d, 0, None, None)
        )
    return out


def failures_by_reason(
    session: Session, user: User, days: int, now: datetime | None = None, top: int = 8
) -> list[Reason]:
    """Failed leads of the window's jobs (newest MAX_JOBS) grouped by their plain-words reason, largest first."""
    since, _ = _window(days, now)
    job_ids = (
        select(Job.id).where(Job.created_at >= since, Job.failed_leads > 0).order_by(Job.id.desc()).limit(MAX_JOBS)
    )
    if user.role != Role.ADMIN:
        job_ids = job_ids.where(Job.owner_id == user.id)
    stmt = (
        select(Lead.error, func.count())
        .where(Lead.job_id.in_(job_ids.scalar_subquery()), Lead.status == LeadStatus.FAILED)
        .group_by(Lead.error)
        .order_by(func.count().desc())
    )
    rows = [(error or "No reason recorded", int(n)) for error, n in session.execute(stmt)]
    reasons = [Reason(reason, n) for reason, n in rows[:top]]
    rest = sum(n for _, n in rows[top:])
    if rest:
        reasons.append(Reason("Other reasons", rest))
    return reasons


def charts(session: Session, user: User, days: int, now: datetime | None = None) -> Charts:
    """The three charts of the History page for the last `days` days."""
    return Charts(
        days=jobs_per_day(session, user, days, now),
        run_days=run_durations(session, user, days, now),
        reasons=failures_by_reason(session, user, days, now),
    )
