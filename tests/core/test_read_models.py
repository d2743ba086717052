"""The core read models behind the pages: charts, users, health, single sign-on, reports and the slot lane."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from core import analytics, auth, read_models, users
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.lifecycle import slot
from core.models import Job, Lead, Run, utcnow
from tests.support import factories


def test_charts_count_per_day_and_stay_scoped(db):
    now = utcnow()
    with db.write() as s:
        ana, ole, root = factories.user(s, "ana"), factories.user(s, "ole"), factories.user(s, "root", "admin")
        today = factories.job(s, ana, {"Acme": 3}, batch_size=3)
        older = factories.job(s, ana, {"Beta": 2}, batch_size=2)
        factories.job(s, ole, {"Gamma": 4})
        s.execute(update(Job).where(Job.id == older.id).values(created_at=now - timedelta(days=2)))
        s.execute(update(Job).where(Job.id == today.id).values(completed_leads=2, failed_leads=1))
        lead = s.scalar(select(Lead.id).where(Lead.job_id == today.id).limit(1))
        s.execute(update(Lead).where(Lead.id == lead).values(status="failed", error="No profile."))
        s.execute(
            update(Run)
            .where(Run.job_id == today.id)
            .values(status="success", launch_requested_at=now - timedelta(seconds=40), ended_at=now)
        )
    with db.read() as s:
        mine = analytics.charts(s, ana, 7, now)
        everyone = analytics.charts(s, root, 30, now)
    assert len(mine.days) == 7 and mine.days[-1].day == now.date()
    assert (mine.days[-1].jobs, mine.days[-1].leads, mine.days[-1].failed) == (1, 3, 1)
    assert mine.days[-3].jobs == 1
    assert sum(d.jobs for d in everyone.days) == 3 and len(everyone.days) == 30
    assert mine.run_days[-1].runs == 1 and mine.run_days[-1].median_seconds == pytest.approx(40, abs=1)
    assert [(r.reason, r.leads) for r in mine.reasons] == [("No profile.", 1)]


def test_user_administration_is_admin_only_and_guarded(db):
    with db.write() as s:
        root, ana = factories.user(s, "root", "admin"), factories.user(s, "ana")
        with pytest.raises(PermissionDenied):
            users.list_users(s, ana)
        with pytest.raises(PermissionDenied):
            users.set_role(s, ana, ana.id, "admin")
        with pytest.raises(InvalidInput):
            users.set_role(s, root, root.id, "analyst")
        token = auth.start_session(s, ana, 1)
        users.set_disabled(s, root, ana.id, True)
        assert auth.user_for_token(s, token) is None
        sso = users.create(s, root, "sso-only", None, "analyst")
        assert sso.password_hash is None
        rows = {u.name: u for u in users.list_users(s, root)}
    assert rows["ana"].disabled and rows["sso-only"].sso_only


def test_single_sign_on_finds_or_creates_an_analyst(db):
    with db.write() as s:
        factories.user(s, "Kari@Example.com", "admin")
        assert users.sso_user(s, "kari@example.com", "Kari").role == "admin"
        new = users.sso_user(s, "ole@example.com", "Ole")
        assert (new.name, new.role, new.password_hash) == ("ole@example.com", "analyst", None)
        assert users.sso_user(s, "ole@example.com", None).id == new.id
        users.set_disabled(s, factories.user(s, "root", "admin"), new.id, True)
        with pytest.raises(PermissionDenied):
            users.sso_user(s, "ole@example.com", None)


def test_failed_sign_ins_are_slowed_the_same_for_unknown_names():
    delays = [auth.failure_delay("ghost-user") for _ in range(6)]
    assert delays == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
    assert [auth.failure_delay("another-ghost") for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]


def test_report_issues_are_stored_capped_and_downloadable(db):
    issues = [SimpleNamespace(row_number=n, column="LinkedIn", reason=f"bad {n}") for n in range(1500, 2, -1)]
    preview = factories.preview({"Acme": 2})
    preview.problems, preview.duplicates = issues, [SimpleNamespace(row_number=1, column="LinkedIn", reason="dup")]
    with db.write() as s:
        ana = factories.user(s, "ana")
        from core import job_store

        job = job_store.create_job(s, owner=ana, preview=preview, batch_size=5)
        name, data = read_models.validation_report(s, ana, job.id)
    assert len(job.report["issues"]) == 1000 and job.report["issues_truncated"]
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == "row,column,reason,kind" and lines[1] == "1,LinkedIn,dup,duplicate"
    assert name.endswith("-validation.csv")


def test_active_job_for_file_and_slot_lane(db):
    with db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        job = factories.job(s, ana, {"Acme": 2, "Beta": 2}, batch_size=2)
        found = read_models.active_job_for_file(s, ana, job.content_hash)
        assert (found.job_id, found.company) == (job.id, "Acme")
        assert read_models.active_job_for_file(s, ole, job.content_hash) is None
        second = s.scalar(select(Run.id).where(Run.job_id == job.id, Run.seq == 2))
        s.execute(update(Run).where(Run.id == second).values(status="phantom_launched", launch_requested_at=utcnow()))
        assert read_models.active_job_for_file(s, ana, job.content_hash).company == "Beta"
        slot.acquire(s, holder="w", run_id=second, ttl=60)
        assert read_models.slot_lane(s, ana).company == "Beta"
        hidden = read_models.slot_lane(s, ole)
        assert (hidden.state, hidden.company, hidden.job_id, hidden.container_id) == ("running", None, None, None)


def test_history_search_is_literal_and_case_free_in_every_script(db):
    with db.write() as s:
        ana = factories.user(s, "ana")
        jobs_by_name = {
            name: factories.job(s, ana, {company: 1}, file_name=name)
            for name, company in (
                ("100% done.xlsx", "Acme"),
                ("a_b.csv", "Beta"),
                ("axb.csv", "Gamma"),
                ("nordic.xlsx", "Ærø Ålesund Čapek"),
            )
        }

    def found(term: str) -> list[str]:
        with db.read() as s:
            page = read_models.history(s, ana, read_models.HistoryFilter(search=term))
        return sorted(job.file_name for job in page.jobs)

    assert found("100%") == ["100% done.xlsx"]  # % is a character, not "anything"
    assert found("a_b") == ["a_b.csv"]  # _ too: "axb" does not match
    assert found("%") == ["100% done.xlsx"]
    assert found("ærø") == found("ÆRØ") == found("ålesund") == found("ČAPEK") == ["nordic.xlsx"]
    assert found(f"#{jobs_by_name['axb.csv'].id}") == ["axb.csv"]
    assert found("#999999999999999999999999") == []  # a huge id is no job, not an overflow
    assert found("#²") == []


def test_a_huge_or_odd_job_id_is_no_such_job(db):
    with db.write() as s:
        ana = factories.user(s, "ana")
    for job_id in (0, -1, 2**63, 10**30):
        with db.read() as s, pytest.raises(NotFound):
            read_models.job_detail(s, ana, job_id)
