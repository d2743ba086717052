"""Pacing one LinkedIn account: working hours in its time zone, a daily budget with a ramp, spaced launches.

Pure rules (no database): the dispatcher, the waiting reasons and the ETA all ask these same functions, so what
a page says about a job is what the dispatcher will do.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.wait_reasons import Reason, Waiting

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Limits:
    """What an account may do: its volume, its hours, its ramp."""

    profiles_per_day: int
    profiles_per_launch: int
    min_gap_seconds: float
    gap_jitter_seconds: float
    work_start: time
    work_end: time
    work_days: frozenset[int]  # 0 is Monday
    zone: ZoneInfo
    ramp_start_share: float = 1.0
    ramp_weekly_step: float = 0.0
    ramp_started_at: datetime | None = None


def parse_days(text: str) -> frozenset[int]:
    """ "mon,tue,wed" (any case, spaces allowed) as weekday numbers; ValueError on an unknown day."""
    days = set()
    for part in text.split(","):
        name = part.strip().lower()[:3]
        if name:
            if name not in WEEKDAYS:
                raise ValueError(f"{part.strip()!r} is not a weekday (mon, tue, wed, thu, fri, sat, sun)")
            days.add(WEEKDAYS.index(name))
    return frozenset(days)


def format_days(days: frozenset[int]) -> str:
    return ",".join(WEEKDAYS[d] for d in sorted(days))


def parse_end(text: str) -> time:
    """The end of working hours: "18:00", or "24:00" for the end of the day (time.max stands for it)."""
    return time.max if text.strip() == "24:00" else time.fromisoformat(text.strip())


def format_end(end: time) -> str:
    return "24:00" if end == time.max else f"{end:%H:%M}"


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as a UTC instant. Always UTC: two datetimes in one zone subtract as wall clocks."""
    return datetime.combine(day, at, zone).astimezone(UTC)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first moment of a local day, in UTC."""
    return _instant(day, time(0), zone)


def day_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local calendar day around `now`, as [start, end) instants (23 or 25 hours on DST days)."""
    day = now.astimezone(zone).date()
    return local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)


def share_on(limits: Limits, day: date) -> float:
    """The share of the daily limit a ramping account may use on `day` (1.0 once ramped up)."""
    if limits.ramp_started_at is None:
        return 1.0
    weeks = max(0, (day - limits.ramp_started_at.astimezone(limits.zone).date()).days // 7)
    return max(0.0, min(1.0, limits.ramp_start_share + weeks * limits.ramp_weekly_step))


def allowance_on(limits: Limits, day: date) -> int:
    """Profiles the account may send on local `day` (0 on a day off)."""
    if day.weekday() not in limits.work_days:
        return 0
    return math.floor(limits.profiles_per_day * share_on(limits, day) + 1e-9)


def _window(limits: Limits, day: date) -> tuple[datetime, datetime]:
    start = _instant(day, limits.work_start, limits.zone)
    if limits.work_end == time.max:
        return start, local_midnight(day + timedelta(days=1), limits.zone)
    return start, _instant(day, limits.work_end, limits.zone)


def in_window(limits: Limits, now: datetime) -> bool:
    """True within working hours on a working day, in the account's time zone."""
    day = now.astimezone(limits.zone).date()
    if day.weekday() not in limits.work_days:
        return False
    start, end = _window(limits, day)
    return start <= now < end


def next_open(limits: Limits, after: datetime, *, with_budget: bool = True) -> datetime | None:
    """The next moment after `after` (or `after` itself) when a window opens with a budget to spend."""
    today = after.astimezone(limits.zone).date()
    for offset in range(0, 370):
        day = today + timedelta(days=offset)
        if day.weekday() not in limits.work_days or (with_budget and allowance_on(limits, day) <= 0):
            continue
        start, end = _window(limits, day)
        if after < end:
            return max(start, after)
    return None


def spacing(limits: Limits, run_id: int, fence: int) -> float:
    """The gap before the next launch: the minimum plus a jitter that looks random but is the same on every replay."""
    digest = hashlib.sha256(f"{run_id}:{fence}".encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2**32
    return limits.min_gap_seconds + fraction * limits.gap_jitter_seconds


@dataclass(frozen=True, slots=True)
class Gate:
    """Whether the account may launch now, how many profiles it may send, and if not, why and until when."""

    open: bool
    budget_left: int
    waiting: Waiting | None = None


def gate(limits: Limits, *, now: datetime, sent_today: int, next_launch_at: datetime | None) -> Gate:
    """The pacing part of the dispatcher's decision (pauses and blocks are the account's, checked before)."""
    day = now.astimezone(limits.zone).date()
    allowance = allowance_on(limits, day)
    left = max(0, allowance - sent_today)
    if not in_window(limits, now):
        return Gate(False, left, Waiting(Reason.OUTSIDE_HOURS, None, next_open(limits, now)))
    if left <= 0:
        _, midnight = day_bounds(now, limits.zone)
        detail = f"{sent_today:,} of {allowance:,}"
        return Gate(False, 0, Waiting(Reason.DAILY_LIMIT, detail, next_open(limits, midnight)))
    if next_launch_at is not None and now < next_launch_at:
        return Gate(False, left, Waiting(Reason.SPACING, None, next_launch_at))
    return Gate(True, left)
