"""The workspace as PhantomBuster reports it (sandbox over HTTP): asked by the worker, kept, read back by pages."""

from __future__ import annotations

from datetime import UTC, datetime

from core import accounts, workspace
from core.models import utcnow


def test_the_answer_is_kept_read_back_and_gives_the_account_its_time_zone(db, settings, sandbox_process):
    sandbox_process.reset(org_timezone="Europe/Oslo")
    answer = workspace.ask(sandbox_process.client())
    assert answer["timezone"] == "Europe/Oslo"
    now = utcnow()
    with db.write() as s:
        assert workspace.last(s) is None
        workspace.store(s, settings, answer, now)
    with db.read() as s:
        kept = workspace.last(s)
        account = accounts.current(s, settings)
    assert kept is not None and kept.timezone == "Europe/Oslo"
    assert account.workspace_timezone == "Europe/Oslo"
    assert kept.monthly_plan is not None and kept.monthly_used is not None
    assert kept.monthly_left == max(0.0, kept.monthly_plan - kept.monthly_used)
    assert kept.resets_at is not None and kept.resets_at > now  # next month's reset, a UTC time
    assert kept.checked_at == now


def test_a_time_zone_python_does_not_know_is_kept_but_not_given_to_the_account(db, settings):
    with db.write() as s:
        workspace.store(s, settings, {"timezone": "Mars/Olympus", "monthly_used": None, "monthly_plan": None}, utcnow())
    with db.read() as s:
        kept = workspace.last(s)
        assert accounts.current(s, settings).workspace_timezone is None
    assert kept.timezone == "Mars/Olympus" and kept.monthly_left is None and kept.resets_at is None


def test_over_the_plan_reads_as_nothing_left_and_no_reset_as_unknown(db, settings):
    stored = {"timezone": None, "monthly_used": 10.0, "monthly_plan": 5.0, "resets_at": None}
    with db.write() as s:
        workspace.store(s, settings, stored, datetime(2026, 12, 1, tzinfo=UTC))
    with db.read() as s:
        kept = workspace.last(s)
    assert kept.monthly_left == 0.0 and kept.resets_at is None  # never a negative time left
