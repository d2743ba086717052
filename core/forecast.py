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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import pacing
from core.config import Settings
from core.lifecycle import gate
from core.models import ACTIVE_JOB_STATUSES, IN_FLIGHT_RUN_STATUSES, Job, Run, RunStatus

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


@dataclass(slots=True)
class QueuedRun:
    """A pending run as the forecast plays it."""

    owner_id: int
    priority: int
    job_id: int
    seq: int
    profiles: int


class FairQueue:
    """The dispatcher's order, played forward: priority, then round-robin across analysts, then age.

    The same rule as `queue.ordered_pending`: an analyst's next run is in round (runs of theirs already launched
    for their active jobs) + 1; a job whose last run ended stops counting for its analyst.
    """

    def __init__(self, runs: list[QueuedRun], launched: dict[int, int], job_launched: dict[int, int]) -> None:
        self.by_owner: dict[int, deque[QueuedRun]] = defaultdict(deque)
        for run in sorted(runs, key=lambda r: (-r.priority, r.job_id, r.seq)):
            self.by_owner[run.owner_id].append(run)
        self.launched = defaultdict(int, launched)
        self.job_launched = defaultdict(int, job_launched)
        self.job_pending: dict[int, int] = defaultdict(int)
        for run in runs:
            self.job_pending[run.job_id] += 1

    def __bool__(self) -> bool:
        return any(self.by_owner.values())

    def pop(self) -> QueuedRun:
        owner = min(
            (o for o, q in self.by_owner.items() if q),
            key=lambda o: (-self.by_owner[o][0].priority, self.launched[o] + 1, self.by_owner[o][0].job_id),
        )
        run = self.by_owner[owner].popleft()
        self.launched[owner] += 1
        self.job_launched[run.job_id] += 1
        self.job_pending[run.job_id] -= 1
        return run

    def requeue(self, run: QueuedRun) -> None:
        """The rest of a cut batch: a new run behind the job's other runs."""
        queue_ = self.by_owner[run.owner_id]
        index = max((i for i, r in enumerate(queue_) if r.job_id == run.job_id), default=-1) + 1
        queue_.insert(index, run)
        self.job_pending[run.job_id] += 1

    def ended(self, run: QueuedRun) -> None:
        """A run's end: the job leaves its analyst's count when nothing of it is left."""
        if self.job_pending[run.job_id] == 0:
            self.launched[run.owner_id] -= self.job_launched.pop(run.job_id, 0)


def _play(
    fair: FairQueue,
    start: datetime,
    limits: pacing.Limits,
    sent_today: int,
    next_launch_at: datetime | None,
    per_profile: float,
    days_of: dict[int, set] | None = None,
) -> dict[int, datetime]:
    """Each job's last run end, launching the fair queue's runs as the dispatcher would.

    `days_of`, when given, collects the local days each job launches on.
    """
    sent: dict = defaultdict(int)
    sent[start.astimezone(limits.zone).date()] = sent_today
    gap = limits.min_gap_seconds + limits.gap_jitter_seconds / 2
    t, ready, ends = start, next_launch_at, {}
    launches = 0
    while fair:
        run = fair.pop()
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
        size = min(run.profiles, limits.profiles_per_launch, left)
        sent[day] += size
        if days_of is not None:
            days_of.setdefault(run.job_id, set()).add(day)
        end = t + timedelta(seconds=per_profile * size)
        ends[run.job_id], ready, t = end, t + timedelta(seconds=gap), end
        if run.profiles > size:
            fair.requeue(QueuedRun(run.owner_id, run.priority, run.job_id, run.seq, run.profiles - size))
        fair.ended(run)
        launches += 1
        if launches >= EXACT_LAUNCHES and fair:
            spent = max(1.0, (t - start).total_seconds())
            rate = sum(sent.values()) / spent  # profiles a second, over working and idle hours alike
            total = 0
            while fair:
                rest = fair.pop()
                total += rest.profiles
                ends[rest.job_id] = t + timedelta(seconds=total / max(rate, 1e-9))
                fair.ended(rest)
            break
    return ends


def _queue_runs(session: Session) -> tuple[list[QueuedRun], dict[int, int], dict[int, int]]:
    """The pending runs, and the runs already launched for active jobs, per analyst and per job."""
    runs = [
        QueuedRun(owner, priority or 0, job_id, seq, max(1, lead_count or 0))
        for owner, priority, job_id, seq, lead_count in session.execute(
            select(Run.owner_id, Run.priority, Run.job_id, Run.seq, Run.lead_count).where(
                Run.status == RunStatus.PENDING
            )
        )
    ]
    launched: dict[int, int] = defaultdict(int)
    per_job: dict[int, int] = defaultdict(int)
    for owner, job_id, n in session.execute(
        select(Run.owner_id, Run.job_id, func.count())
        .join(Job, Job.id == Run.job_id)
        .where(Job.status.in_(ACTIVE_JOB_STATUSES), Run.status != RunStatus.PENDING)
        .group_by(Run.owner_id, Run.job_id)
    ):
        launched[owner] += n
        per_job[job_id] += n
    return runs, dict(launched), dict(per_job)


@dataclass(frozen=True, slots=True)
class FileCost:
    """What queueing a file would take: when it would be done, on how many working days, how much run time."""

    done: Eta
    working_days: int
    execution_seconds: float
    measured: bool


NEW_JOB = 2**62  # the id a file not queued yet plays under: newer than every job


def file_cost(
    session: Session, settings: Settings, profiles: int, now: datetime, *, owner_id: int, priority: int = 0
) -> FileCost:
    """The cost of a file of `profiles` leads queued now by `owner_id`, behind the work already queued."""
    decision = gate.decide(session, settings, now)
    pace = measured_pace(session, settings)
    batch = max(1, min(settings.default_batch_size, settings.profiles_per_launch_max))
    runs, launched, per_job = _queue_runs(session)
    runs += [
        QueuedRun(owner_id, priority, NEW_JOB, n, min(batch, profiles - start))
        for n, start in enumerate(range(0, profiles, batch), start=1)
    ]
    days: dict[int, set] = {}

    def play(factor: float, collect: dict[int, set] | None = None) -> datetime:
        fair = FairQueue([_copy(r) for r in runs], launched, per_job)
        ends = _play(
            fair, now, decision.limits, decision.sent_today, decision.account.next_launch_at,
            pace.per_profile * factor, collect,
        )  # fmt: skip
        return ends.get(NEW_JOB, now)

    likely = play(1.0, days)
    low, high = play(max(0.2, 1 - 1.28 * pace.spread)), play(1 + 1.28 * pace.spread)
    return FileCost(Eta(likely, low, high), len(days.get(NEW_JOB, ())), profiles * pace.per_profile, pace.measured)


def _copy(run: QueuedRun) -> QueuedRun:
    return QueuedRun(run.owner_id, run.priority, run.job_id, run.seq, run.profiles)


def forecast(session: Session, settings: Settings, now: datetime) -> Forecast:
    """Every queued job's place and ETA band, played forward from now under the account's rules."""
    runs, launched, per_job = _queue_runs(session)
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
            FairQueue([_copy(r) for r in runs], launched, per_job),
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
    order = FairQueue([_copy(r) for r in runs], launched, per_job)
    while order:  # the order the dispatcher will take them in: a job's place is its first run's
        run = order.pop()
        positions.setdefault(run.job_id, len(positions) + 1)
        order.ended(run)
    for run in runs:
        left_runs[run.job_id] += 1
        left_profiles[run.job_id] += run.profiles
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
