"""When each queued job should be done: the dispatcher's own rules played forward over working hours and days.

Runs launch in queue order, each at the first moment the account's gate would open (working hours, today's
budget, the spacing of launches), cut to what the day still allows, and take the measured time per profile.
The band plays the same queue with slower and faster runs (80 %: 1.28 standard deviations).
"""

from __future__ import annotations

import statistics
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import pacing, queue
from core.config import Settings
from core.lifecycle import gate
from core.models import IN_FLIGHT_RUN_STATUSES, Run, RunStatus

# Beyond this many launches the rest is extrapolated at the pace the simulation reached (a 200,000-lead queue
# is hundreds of working days; a page refreshing every 3 s must not replay them all).
EXACT_LAUNCHES = 600
SAMPLE_RUNS = 100


@dataclass(frozen=True, slots=True)
class Eta:
    """A likely moment and an 80 % band around it."""

    likely: datetime
    low: datetime
    high: datetime


@dataclass(frozen=True, slots=True)
class JobForecast:
    """A queued job: its place (1 = its next run launches next), what is left of it, and when it should end."""

    position: int
    runs_left: int
    profiles_left: int
    eta: Eta


@dataclass(frozen=True, slots=True)
class Forecast:
    """The whole queue: every job's forecast, when the queue empties, and whether the times are measured."""

    jobs: dict[int, JobForecast] = field(default_factory=dict)
    queue_empty_at: Eta | None = None
    pending_runs: int = 0
    measured: bool = False
    seconds_per_profile: float = 0.0


@dataclass(frozen=True, slots=True)
class Pace:
    """Seconds per profile measured on recent runs (or the first guess), and its spread."""

    per_profile: float
    spread: float  # coefficient of variation
    measured: bool


def measured_pace(session: Session, settings: Settings) -> Pace:
    """The time per profile of the newest successful runs (launch request to end)."""
    rows = session.execute(
        select(Run.launch_requested_at, Run.ended_at, Run.lead_count)
        .where(Run.status == RunStatus.SUCCESS, Run.ended_at.is_not(None))
        .order_by(Run.ended_at.desc())
        .limit(SAMPLE_RUNS)
    ).all()
    rates = [
        (end - start).total_seconds() / count
        for start, end, count in rows
        if start is not None and end is not None and count and end > start
    ]
    if not rates:
        guess = settings.expected_run_seconds / max(1, settings.default_batch_size)
        return Pace(guess, 0.3, False)
    mean = statistics.fmean(rates)
    spread = statistics.pstdev(rates) / mean if len(rates) > 1 and mean > 0 else 0.2
    return Pace(statistics.median(rates), min(0.5, max(0.05, spread)), True)


def _play(
    runs: list[tuple[int, int]],
    start: datetime,
    limits: pacing.Limits,
    sent_today: int,
    next_launch_at: datetime | None,
    per_profile: float,
    days_of: dict[int, set] | None = None,
) -> dict[int, datetime]:
    """Each job's last run end, launching `runs` (job, profiles) as the dispatcher would.

    `days_of`, when given, collects the local days each job launches on.
    """
    queued = deque(runs)
    sent: dict = defaultdict(int)
    sent[start.astimezone(limits.zone).date()] = sent_today
    gap = limits.min_gap_seconds + limits.gap_jitter_seconds / 2
    t, ready, ends = start, next_launch_at, {}
    launches = 0
    while queued:
        job_id, profiles = queued.popleft()
        while True:
            if ready is not None and t < ready:
                t = ready
            if not pacing.in_window(limits, t):
                opened = pacing.next_open(limits, t)
                if opened is None:
                    return ends
                t = opened
            day = t.astimezone(limits.zone).date()
            left = pacing.allowance_on(limits, day) - sent[day]
            if left > 0:
                break
            opened = pacing.next_open(limits, pacing.day_bounds(t, limits.zone)[1])
            if opened is None:
                return ends
            t = opened
        size = min(profiles, limits.profiles_per_launch, left)
        sent[day] += size
        if days_of is not None:
            days_of.setdefault(job_id, set()).add(day)
        end = t + timedelta(seconds=per_profile * size)
        ends[job_id], ready, t = end, t + timedelta(seconds=gap), end
        if profiles > size:  # the dispatcher queues the rest of a cut batch behind the job's other runs
            index = max((i for i, (j, _) in enumerate(queued) if j == job_id), default=-1) + 1
            queued.insert(index, (job_id, profiles - size))
        launches += 1
        if launches >= EXACT_LAUNCHES and queued:
            spent = max(1.0, (t - start).total_seconds())
            rate = sum(sent.values()) / spent  # profiles a second, over working and idle hours alike
            total = 0
            for job_id, profiles in queued:
                total += profiles
                ends[job_id] = t + timedelta(seconds=total / max(rate, 1e-9))
            break
    return ends


def _queue_runs(session: Session) -> list[tuple[int, int]]:
    inner, order = queue.ordered_pending()
    return [
        (job_id, max(1, lead_count or 0))
        for job_id, lead_count in session.execute(
            select(inner.c.job_id, Run.lead_count).join(Run, Run.id == inner.c.id).order_by(*order)
        )
    ]


@dataclass(frozen=True, slots=True)
class FileCost:
    """What queueing a file would take: when it would be done, on how many working days, how much run time."""

    done: Eta
    working_days: int
    execution_seconds: float
    measured: bool


def file_cost(session: Session, settings: Settings, profiles: int, now: datetime) -> FileCost:
    """The cost of a file of `profiles` leads queued now, behind the work already queued."""
    decision = gate.decide(session, settings, now)
    pace = measured_pace(session, settings)
    batch = max(1, min(settings.default_batch_size, settings.profiles_per_launch_max))
    new = [(-1, min(batch, profiles - start)) for start in range(0, profiles, batch)]
    runs = _queue_runs(session) + new
    days: dict[int, set] = {}

    def play(factor: float, collect: dict[int, set] | None = None) -> datetime:
        ends = _play(
            runs, now, decision.limits, decision.sent_today, decision.account.next_launch_at,
            pace.per_profile * factor, collect,
        )  # fmt: skip
        return ends.get(-1, now)

    likely = play(1.0, days)
    low, high = play(max(0.2, 1 - 1.28 * pace.spread)), play(1 + 1.28 * pace.spread)
    return FileCost(Eta(likely, low, high), len(days.get(-1, ())), profiles * pace.per_profile, pace.measured)


def forecast(session: Session, settings: Settings, now: datetime) -> Forecast:
    """Every queued job's place and ETA band, played forward from now under the account's rules."""
    runs = _queue_runs(session)
    decision = gate.decide(session, settings, now)
    pace = measured_pace(session, settings)
    start = now
    flight = session.execute(
        select(Run.job_id, Run.launch_requested_at, Run.lead_count).where(Run.status.in_(IN_FLIGHT_RUN_STATUSES))
    ).first()
    running_job = None
    if flight is not None:
        running_job = flight.job_id
        begun = flight.launch_requested_at or now
        start = max(now, begun + timedelta(seconds=pace.per_profile * max(1, flight.lead_count or 1)))
    if not runs and flight is None:
        return Forecast(measured=pace.measured, seconds_per_profile=pace.per_profile)
    held = decision.waiting is not None and decision.waiting.clears_at is None and flight is None
    if held:  # an admin must act first: no time can be promised
        start = now + timedelta(days=365)

    def play(factor: float) -> dict[int, datetime]:
        return _play(
            runs,
            start,
            decision.limits,
            decision.sent_today,
            decision.account.next_launch_at,
            pace.per_profile * factor,
        )

    likely, low, high = play(1.0), play(max(0.2, 1 - 1.28 * pace.spread)), play(1 + 1.28 * pace.spread)
    positions: dict[int, int] = {}
    left_runs: dict[int, int] = defaultdict(int)
    left_profiles: dict[int, int] = defaultdict(int)
    for job_id, profiles in runs:
        positions.setdefault(job_id, len(positions) + 1)
        left_runs[job_id] += 1
        left_profiles[job_id] += profiles
    jobs = {
        job_id: JobForecast(
            position, left_runs[job_id], left_profiles[job_id], Eta(likely[job_id], low[job_id], high[job_id])
        )
        for job_id, position in positions.items()
        if job_id in likely
    }
    if running_job is not None and running_job not in jobs:
        jobs[running_job] = JobForecast(0, 0, 0, Eta(start, start, start))
    ends = list(likely.values()) or [start]
    queue_empty = Eta(max(ends), max(low.values(), default=start), max(high.values(), default=start))
    return Forecast(jobs, queue_empty, len(runs), pace.measured, pace.per_profile)
