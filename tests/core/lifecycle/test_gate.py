"""The dispatcher's gate on a real database with a clock the test controls: no launch outside the window, never
past the daily limit, nothing while paused, and every waiting reason what the dispatcher itself would say."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select, update

from core import accounts, lifecycle, pacing, waiting
from core.db import Database
from core.lifecycle import gate, slot
from core.models import Job
from core.wait_reasons import Reason
from tests.support import factories
from tests.support.pacing_sim import Simulation

OSLO = ZoneInfo("Europe/Oslo")


def _fresh_db(template, tmp_path_factory) -> Database:
    path = tmp_path_factory.mktemp("gate") / "leadrelay.db"
    shutil.copy(template, path)
    return Database(f"sqlite:///{path}")


def _set_limits(db, settings, **limits) -> None:
    values = {
        "profiles_per_day": 300, "profiles_per_launch": 40, "min_gap_minutes": 5.0, "gap_jitter_minutes": 2.0,
        "work_start": "08:00", "work_end": "17:00", "work_days": "mon,tue,wed,thu,fri", "timezone": "Europe/Oslo",
        "ramp_start_share": 0.5, "ramp_weekly_step": 0.15,
    }  # fmt: skip
    values.update(limits)
    with db.write() as s:
        account = accounts.current(s, settings)
        accounts.change_limits(s, account, accounts.LimitChange(**values), settings, "test", datetime.now(OSLO))


uploads = st.lists(
    st.tuples(
        st.sampled_from(["ana", "ole", "kari", "per"]),  # the analyst
        st.integers(1, 300),  # leads
        st.integers(0, 3 * 24 * 60),  # minutes after the start when the file arrives
    ),
    min_size=1,
    max_size=6,
)


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mix=uploads,
    per_day=st.integers(40, 600),
    per_launch=st.integers(10, 100),
    week=st.sampled_from([datetime(2026, 3, 23, 6), datetime(2026, 10, 19, 6), datetime(2026, 11, 30, 6)]),
    pause_at=st.one_of(st.none(), st.integers(60, 4 * 24 * 60)),
)
def test_generated_uploads_stay_inside_the_window_and_the_budget(
    sqlite_template, tmp_path_factory, settings, mix, per_day, per_launch, week, pause_at
):
    db = _fresh_db(sqlite_template, tmp_path_factory)
    try:
        _set_limits(db, settings, profiles_per_day=per_day, profiles_per_launch=per_launch)
        start = week.replace(tzinfo=OSLO)  # a Monday 06:00 (the DST weeks of 2026 included)
        sim = Simulation(db, settings, start)
        for n, (owner, leads, minutes) in enumerate(mix):
            sim.at(start + timedelta(minutes=minutes), "job", owner=owner, companies={f"Company {n}": leads})
        paused: list[tuple[datetime, datetime]] = []
        if pause_at is not None:
            begins, ends = start + timedelta(minutes=pause_at), start + timedelta(minutes=pause_at + 180)
            paused.append((begins, ends))

            def pause(sim: Simulation) -> None:
                with sim.db.write() as s:
                    lifecycle.pause(s, "test", sim.now)

            def resume(sim: Simulation) -> None:
                with sim.db.write() as s:
                    lifecycle.resume(s, sim.now)

            sim.at(begins, "call", fn=pause)
            sim.at(ends, "call", fn=resume)
        sim.run_until(start + timedelta(days=7))
        limits = sim.limits()
        per_local_day: dict = defaultdict(int)
        for at, profiles in sim.ledger():
            assert pacing.in_window(limits, at), f"a launch outside working hours: {at.astimezone(OSLO)}"
            assert not any(b <= at < e for b, e in paused), f"a launch while paused: {at.astimezone(OSLO)}"
            assert profiles <= per_launch
            per_local_day[at.astimezone(OSLO).date()] += profiles
        for day, total in per_local_day.items():
            assert total <= pacing.allowance_on(limits, day), (day, total)
    finally:
        db.dispose()


def test_the_budget_is_spent_fully_and_a_big_file_takes_its_days(sqlite_template, tmp_path_factory, settings):
    db = _fresh_db(sqlite_template, tmp_path_factory)
    try:
        _set_limits(db, settings, profiles_per_day=300, profiles_per_launch=50, min_gap_minutes=10.0)
        start = datetime(2026, 11, 30, 6, tzinfo=OSLO)  # Monday
        sim = Simulation(db, settings, start)
        sim.at(start, "job", owner="ana", companies={"Big AS": 1500})
        sim.run_until(start + timedelta(days=14))
        days = defaultdict(int)
        for at, profiles in sim.ledger():
            days[at.astimezone(OSLO).date()] += profiles
        assert sorted(days.values()) == [300] * 5  # five working days of 300, Monday to Friday
        with db.read() as s:
            assert s.scalar(select(Job.completed_leads)) == 1500
    finally:
        db.dispose()


def test_the_waiting_reason_is_the_dispatchers_in_every_state(sqlite_template, tmp_path_factory, settings):
    db = _fresh_db(sqlite_template, tmp_path_factory)
    try:
        _set_limits(db, settings, profiles_per_day=100, profiles_per_launch=50, min_gap_minutes=20.0)
        with db.write() as s:
            ana = factories.user(s, "ana")
            job = factories.job(s, ana, {"Acme": 60}, batch_size=60)
            later = factories.job(s, ana, {"Beta": 5})
            s.execute(update(Job).where(Job.id == later.id).values(start_after=datetime(2026, 12, 3, 9, tzinfo=OSLO)))

        def check(now: datetime, expect: Reason | None) -> None:
            with db.write() as s:
                decision = gate.decide(s, settings, now)
                reasons = waiting.for_jobs(s, settings, [job.id], now)
                plan = lifecycle.claim_next(s, settings, holder="t", now=now, actor="worker")
                s.rollback()  # look, don't launch
            assert (decision.waiting.reason if decision.waiting else None) == expect
            assert (reasons[job.id].reason if reasons[job.id] else None) == expect
            assert (plan is not None) == (expect is None)

        tuesday = datetime(2026, 12, 1, 10, tzinfo=OSLO)
        check(tuesday.replace(hour=6), Reason.OUTSIDE_HOURS)
        check(tuesday, None)
        with db.write() as s:
            lifecycle.pause(s, "maintenance", tuesday)
        check(tuesday, Reason.ADMIN_PAUSE)
        with db.write() as s:
            lifecycle.resume(s, tuesday)
            account = accounts.current(s, settings)
            accounts.pause(s, account, accounts.Hold.SESSION, "cookie expired", tuesday, "worker")
        check(tuesday, Reason.SESSION_PAUSED)
        with db.write() as s:
            accounts.session_renewed(s, accounts.current(s, settings), "root", tuesday, 0.6)
            accounts.record_launch(
                s, accounts.current(s, settings), run_id=0, fence=0, profiles=60, now=tuesday, gap=1200
            )
        check(tuesday + timedelta(minutes=5), Reason.DAILY_LIMIT)  # 60 of 60 (the 60 % restart share of 100)
        with db.write() as s:
            slot.acquire(s, holder="w", run_id=999, ttl=60, now=tuesday)
        check(datetime(2026, 12, 2, 10, tzinfo=OSLO), Reason.SLOT_HELD)
        with db.read() as s:
            later_reason = waiting.for_jobs(s, settings, [later.id], datetime(2026, 12, 2, 10, tzinfo=OSLO))
        assert later_reason[later.id].reason == Reason.SCHEDULED  # it holds the job longer than the slot
    finally:
        db.dispose()
