"""From a file to a job: shared results without leaks, nothing queued when nothing needs sending, limits applied."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core import intake
from core.errors import NothingToSend
from core.models import AuditEvent, Job, Lead, utcnow
from tests.support import factories


def _enriched_last_week(s, owner, companies, file_name="theirs.xlsx") -> tuple[Job, object]:
    job = factories.job(s, owner, companies, file_name=file_name)
    when = utcnow() - timedelta(days=7)
    s.execute(
        update(Lead)
        .where(Lead.job_id == job.id)
        .values(status="success", enriched_at=when, profile={"fullName": "Kari Nordmann", "linkedinJobTitle": "CTO"})
    )
    return job, when


def test_a_colleagues_recent_results_are_reused_and_nothing_of_theirs_shows(db, settings):
    with db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        theirs, when = _enriched_last_week(s, ana, {"Acme": 3})
        preview = factories.preview({"Acme": 3, "Beta": 2}, "mine.xlsx")
        preview.parsed.content_hash = theirs.content_hash  # the same file, and two more leads
        checks = intake.check(s, settings, preview, ole)
        assert len(checks.recent) == 3 and checks.same_file_jobs == []  # the colleague's job is not named
        job = intake.queue(s, settings, ole, preview, batch_size=5, checks=checks)
        leads = {
            lead.linkedin_url.rsplit("/", 1)[1]: lead for lead in s.scalars(select(Lead).where(Lead.job_id == job.id))
        }
    reused = [lead for lead in leads.values() if lead.status == "reused"]
    assert len(reused) == 3 and all(lead.profile["fullName"] == "Kari Nordmann" for lead in reused)
    assert all(abs((lead.enriched_at - when).total_seconds()) < 1 and lead.run_id is None for lead in reused)
    assert {lead.status for lead in leads.values() if lead not in reused} == {"pending"}
    assert job.total_leads == 2 and job.report["reused"] == 3
    with db.read() as s:
        text = " ".join(str(lead.error) for lead in leads.values()) + str(job.report)
        text += " ".join(str(e.details) for e in s.scalars(select(AuditEvent).where(AuditEvent.job_id == job.id)))
    assert f"#{theirs.id}" not in text and "theirs.xlsx" not in text and "ana" not in text


def test_fresh_enrichment_may_still_be_asked_for(db, settings):
    with db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        _enriched_last_week(s, ana, {"Acme": 3})
        job = intake.queue(
            s, settings, ole, factories.preview({"Acme": 3}, "again.xlsx"), batch_size=5, include_recent=True
        )
        assert job.total_leads == 3
        assert set(s.scalars(select(Lead.status).where(Lead.job_id == job.id))) == {"pending"}


def test_a_file_with_nothing_to_send_is_not_queued(db, settings):
    with db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        _enriched_last_week(s, ana, {"Acme": 3})
        before = s.query(Job).count()
        with pytest.raises(NothingToSend) as refused:
            intake.queue(s, settings, ole, factories.preview({"Acme": 3}, "again.xlsx"), batch_size=5)
        assert s.query(Job).count() == before
    assert refused.value.reused == 3 and "nothing to send" in refused.value.message


def test_old_enrichments_are_not_reused(db, settings):
    with db.write() as s:
        ana = factories.user(s, "ana")
        job, _ = _enriched_last_week(s, ana, {"Acme": 2})
        s.execute(update(Lead).where(Lead.job_id == job.id).values(enriched_at=utcnow() - timedelta(days=45)))
        checks = intake.check(s, settings, factories.preview({"Acme": 2}, "later.xlsx"), ana)
    assert checks.recent == {}


def test_the_batch_size_is_capped_at_the_scrapers_per_launch_maximum(db, settings):
    with db.write() as s:
        ana = factories.user(s, "ana")
        job = intake.queue(s, settings, ana, factories.preview({"Acme": 250}), batch_size=2500)
    assert job.batch_size == settings.profiles_per_launch_max and job.total_batches == 3
