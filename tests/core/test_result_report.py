"""A finished job's result report: every row of the file counted once by what became of it, and fill rates."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from core import result_report
from core.errors import NotFound
from core.models import Job, Lead, LeadStatus
from tests.support import factories


def _set(s, lead_id: int, **values) -> None:
    s.execute(update(Lead).where(Lead.id == lead_id).values(**values))


def test_the_parts_add_up_to_the_rows_of_the_file(db):
    with db.write() as s:
        ana = factories.user(s, "ana")
        job = factories.job(s, ana, {"Acme": 9})
        # The file had 12 rows: 9 good, 2 refused by the checks, 1 duplicate.
        s.execute(update(Job).where(Job.id == job.id).values(report={"rows": 12, "problems": 2, "duplicates": 1}))
        ids = list(s.scalars(select(Lead.id).where(Lead.job_id == job.id).order_by(Lead.id)))
        full = {"fullName": "Kari Nordmann", "linkedinJobTitle": "CTO", "companyName": "Acme", "location": "Oslo"}
        _set(s, ids[0], status=LeadStatus.SUCCESS, profile=full)
        _set(s, ids[1], status=LeadStatus.SUCCESS, profile={"fullName": "Ola", "headline": "  "})
        _set(s, ids[2], status=LeadStatus.REUSED, profile={"fullName": "Per", "jobTitle": "CFO"})
        _set(s, ids[3], status=LeadStatus.FAILED, error_kind="not_found", error="No Linkedin profile found")
        _set(s, ids[4], status=LeadStatus.FAILED, error_kind="private", error="Profile is private")
        _set(s, ids[5], status=LeadStatus.FAILED, error_kind="run_failed", error="The run failed (exit 1).")
        _set(s, ids[6], status=LeadStatus.FAILED, error_kind="run_failed", error="The run failed (exit 1).")
        _set(s, ids[7], status=LeadStatus.CANCELLED)
        # ids[8] is still waiting
    with db.read() as s:
        r = result_report.report(s, ana, job.id)
    assert (r.rows, r.enriched, r.reused, r.not_found, r.private) == (12, 2, 1, 1, 1)
    assert (r.invalid, r.duplicates, r.cancelled, r.waiting) == (2, 1, 1, 1)
    assert r.failed == [("The run failed (exit 1).", 2)]
    parts = r.enriched + r.reused + r.not_found + r.private + r.invalid + r.duplicates + r.cancelled + r.waiting
    assert parts + sum(n for _, n in r.failed) == r.rows
    assert r.unmatched == 3  # not found and the failed runs: what "retry the unmatched" sends again
    assert r.profiles_sampled == 3
    assert r.fill_rates["Full name"] == 1.0
    assert r.fill_rates["Job title"] == pytest.approx(2 / 3)  # a blank headline is not a title
    assert r.fill_rates["E-mail"] == 0.0


def test_a_job_without_profiles_has_zero_fill_and_another_analyst_sees_nothing(db):
    with db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        job = factories.job(s, ana, {"Acme": 2})
    with db.read() as s:
        r = result_report.report(s, ana, job.id)
        with pytest.raises(NotFound):
            result_report.report(s, ole, job.id)
    assert r.rows == 2 and r.waiting == 2 and r.profiles_sampled == 0
    assert set(r.fill_rates.values()) == {0.0}
