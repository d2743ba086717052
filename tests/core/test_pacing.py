"""Pacing one LinkedIn account: working hours in its time zone (DST included), the daily budget, the ramp, spacing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import pacing
from core.wait_reasons import Reason

OSLO = ZoneInfo("Europe/Oslo")
WEEKDAYS = frozenset(range(5))


def _limits(**changes) -> pacing.Limits:
    base = {
        "profiles_per_day": 1500,
        "profiles_per_launch": 100,
        "min_gap_seconds": 600,
        "gap_jitter_seconds": 300,
        "work_start": time(8),
        "work_end": time(18),
        "work_days": WEEKDAYS,
        "zone": OSLO,
    }
    return pacing.Limits(**{**base, **changes})


def _oslo(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def test_the_window_is_local_working_hours_on_working_days():
    limits = _limits()
    assert pacing.in_window(limits, _oslo(2026, 12, 1, 8, 0))  # a Tuesday, 08:00 in Oslo
    assert not pacing.in_window(limits, _oslo(2026, 12, 1, 7, 59))
    assert not pacing.in_window(limits, _oslo(2026, 12, 1, 18, 0))
    assert not pacing.in_window(limits, _oslo(2026, 12, 5, 10, 0))  # Saturday
    # 07:30 UTC is 08:30 in Oslo in winter: inside.
    assert pacing.in_window(limits, datetime(2026, 12, 1, 7, 30, tzinfo=UTC))


def test_next_open_skips_evenings_and_weekends():
    limits = _limits()
    assert pacing.next_open(limits, _oslo(2026, 12, 4, 19, 0)) == _oslo(2026, 12, 7, 8, 0)  # Friday evening -> Mon
    assert pacing.next_open(limits, _oslo(2026, 12, 1, 6, 0)) == _oslo(2026, 12, 1, 8, 0)
    assert pacing.next_open(limits, _oslo(2026, 12, 1, 9, 0)) == _oslo(2026, 12, 1, 9, 0)


@pytest.mark.parametrize(
    ("day", "hours"),
    [((2026, 3, 29), 23), ((2026, 10, 25), 25), ((2026, 12, 1), 24)],  # spring forward, fall back, plain
)
def test_a_local_day_is_23_24_or_25_hours(day, hours):
    start, end = pacing.day_bounds(_oslo(*day, 12), OSLO)
    assert (end - start) == timedelta(hours=hours)
    assert start == _oslo(*day, 0)


def test_working_hours_keep_their_local_time_across_a_dst_change():
    limits = _limits(work_days=frozenset(range(7)))
    # 08:00 in Oslo is 07:00 UTC in winter and 06:00 UTC in summer.
    assert pacing.next_open(limits, datetime(2026, 3, 28, 20, tzinfo=UTC)) == datetime(2026, 3, 29, 6, tzinfo=UTC)
    assert pacing.next_open(limits, datetime(2026, 10, 24, 20, tzinfo=UTC)) == datetime(2026, 10, 25, 7, tzinfo=UTC)


def test_the_daily_limit_closes_the_gate_until_the_next_working_morning():
    limits = _limits()
    friday = _oslo(2026, 12, 4, 15, 0)
    shut = pacing.gate(limits, now=friday, sent_today=1500, next_launch_at=None)
    assert not shut.open and shut.waiting.reason == Reason.DAILY_LIMIT
    assert shut.waiting.clears_at == _oslo(2026, 12, 7, 8, 0)
    words = shut.waiting.sentence(OSLO, friday)
    assert words == "Today's LinkedIn limit reached (1,500 of 1,500); resumes Mon 08:00 Europe/Oslo"
    partly = pacing.gate(limits, now=friday, sent_today=1450, next_launch_at=None)
    assert partly.open and partly.budget_left == 50


def test_spacing_and_its_jitter_are_bounded_and_reproducible():
    limits = _limits()
    gaps = {pacing.spacing(limits, run_id, 1) for run_id in range(200)}
    assert min(gaps) >= 600 and max(gaps) <= 900 and len(gaps) > 150
    assert pacing.spacing(limits, 7, 3) == pacing.spacing(limits, 7, 3)
    later = _oslo(2026, 12, 1, 10, 5)
    held = pacing.gate(limits, now=_oslo(2026, 12, 1, 10, 0), sent_today=0, next_launch_at=later)
    assert not held.open and held.waiting.reason == Reason.SPACING and held.waiting.clears_at == later


def test_a_ramp_starts_at_a_share_and_rises_each_week():
    started = _oslo(2026, 11, 2, 9, 0)  # a Monday
    limits = _limits(ramp_start_share=0.5, ramp_weekly_step=0.15, ramp_started_at=started)
    assert pacing.allowance_on(limits, started.date()) == 750
    assert pacing.allowance_on(limits, started.date() + timedelta(days=7)) == 975
    assert pacing.allowance_on(limits, started.date() + timedelta(days=28)) == 1500
    assert pacing.allowance_on(limits, _oslo(2026, 11, 7, 9).date()) == 0  # a Saturday: no budget


def test_24_00_means_until_midnight():
    limits = _limits(work_start=time(0), work_end=pacing.parse_end("24:00"), work_days=frozenset(range(7)))
    assert pacing.in_window(limits, _oslo(2026, 12, 1, 23, 59, 59))
    assert pacing.format_end(limits.work_end) == "24:00"


@given(
    start_hour=st.integers(0, 22),
    length=st.integers(1, 12),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    zone=st.sampled_from(["Europe/Oslo", "America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"]),
    moment=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    sent=st.integers(0, 2000),
)
def test_an_open_gate_is_always_inside_the_window_and_the_budget(start_hour, length, days, zone, moment, sent):
    end = time(min(23, start_hour + length), 59)
    limits = _limits(work_start=time(start_hour), work_end=end, work_days=days, zone=ZoneInfo(zone))
    decision = pacing.gate(limits, now=moment, sent_today=sent, next_launch_at=None)
    if decision.open:
        local = moment.astimezone(limits.zone)
        assert local.weekday() in days and time(start_hour) <= local.time() < end
        assert 0 < decision.budget_left <= 1500 - sent
    else:
        clears = decision.waiting.clears_at
        assert clears is None or clears > moment
        if clears is not None and decision.waiting.reason == Reason.OUTSIDE_HOURS:
            assert pacing.in_window(limits, clears)
