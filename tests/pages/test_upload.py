"""Upload page: validation report, Queue Processing, the busy button, and the per-analyst limit."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import streamlit as st
from sqlalchemy import func, select, update

from core.models import Job, Lead, utcnow
from tests.support import factories


def lead_file(n: int = 6, bad: int = 2, dupes: int = 1) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Name", "Company", "LinkedIn"])
    for i in range(n):
        writer.writerow([f"Person {i}", "VING NORGE AS" if i % 2 else "Acme", f"https://www.linkedin.com/in/p-{i}"])
    for _ in range(dupes):
        writer.writerow(["Again", "Acme", "https://www.linkedin.com/in/p-0"])
    for i in range(bad):
        writer.writerow([f"Broken {i}", "Acme", "not a url"])
    return out.getvalue().encode()


def upload(at, data: bytes, name: str = "leads.csv"):
    at.file_uploader(key="upload_file").set_value((name, data, "text/csv"))
    return at.run()


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_validation_report_then_queue_processing(open_app, app_db, rings):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
    at = upload(open_app(ana), lead_file())
    assert not at.exception
    got = metrics(at)
    assert (got["Good leads"], got["Duplicates in file"], got["Rows with problems"]) == ("6", "1", "2")
    assert len(at.dataframe[0].value) == 3
    assert any(b.label == "Download the validation report" for b in at.get("download_button"))

    queue = at.button(key="queue_processing")
    assert queue.label == "Queue Processing" and not queue.disabled
    at = queue.click().run()
    assert not at.error, [e.value for e in at.error]
    with app_db.read() as s:
        job = s.scalar(select(Job))
    assert (job.owner_id, job.total_leads, job.report["problems"], len(job.report["issues"])) == (ana.id, 6, 2, 3)
    assert rings.calls == [("dispatch",)]
    assert any(f"job #{job.id}" in t.value for t in at.toast)
    busy = at.button(key="queue_busy")
    assert busy.disabled and busy.label == "Processing Acme"
    assert not [b for b in at.button if b.key == "queue_processing"]


def test_busy_button_survives_a_new_session(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
    at = upload(open_app(ana), lead_file())
    at.button(key="queue_processing").click().run()
    # A reload is a new session: the busy state comes from the database, not from the old session.
    again = upload(open_app(ana), lead_file())
    assert again.button(key="queue_busy").label == "Processing Acme"
    # Another analyst uploading the same file is not busy.
    with app_db.write() as s:
        ole = factories.user(s, "ole")
    other = upload(open_app(ole), lead_file())
    assert other.button(key="queue_processing").label == "Queue Processing"


def test_active_job_limit_is_explained_and_enforced(open_app, app_db, monkeypatch):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
        for i in range(3):
            factories.job(s, ana, {"Acme": 2}, file_name=f"f{i}.xlsx")
    at = upload(open_app(ana), lead_file())
    assert at.button(key="queue_processing").disabled
    assert any("limit is 3" in w.value for w in at.warning)
    assert any("You have 3 of 3 active jobs" in c.value for c in at.caption)
    # The limit is a setting; the button comes back when a job ends or the limit is raised.
    monkeypatch.setenv("MAX_ACTIVE_JOBS_PER_ANALYST", "4")
    st.cache_resource.clear()
    at = upload(open_app(ana), lead_file())
    assert not at.button(key="queue_processing").disabled
    at.button(key="queue_processing").click().run()
    assert any("You have 4 of 4 active jobs" in c.value for c in at.caption) or at.button(key="queue_busy")
    with app_db.write() as s:
        factories.job(s, ana, {"Beta": 1}, file_name="g.xlsx")
    other = upload(open_app(ana), lead_file(n=3))
    assert other.button(key="queue_processing").disabled
    assert any("limit is 4" in w.value for w in other.warning)


def test_a_file_without_leads_cannot_be_queued(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
    at = upload(open_app(ana), lead_file(n=0, bad=3, dupes=0))
    assert metrics(at)["Good leads"] == "0"
    assert at.button(key="queue_processing").disabled


def _colleague_enriched_last_week(app_db, n: int) -> Job:
    """ana's job of `n` Acme leads, enriched a week ago (factories name them acme-person-0 …)."""
    with app_db.write() as s:
        ana = factories.user(s, "ana")
        job = factories.job(s, ana, {"Acme": n}, file_name="anas-secret-leads.xlsx")
        s.execute(
            update(Lead)
            .where(Lead.job_id == job.id)
            .values(status="success", enriched_at=utcnow() - timedelta(days=7), profile={"fullName": "Kari Nordmann"})
        )
    return job


def _file_of(urls: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Name", "Company", "LinkedIn"])
    writer.writerows([f"Person {i}", "Acme", url] for i, url in enumerate(urls))
    return out.getvalue().encode()


def _page_text(at) -> str:
    parts = [e.value for kind in ("markdown", "info", "warning", "success", "caption", "error") for e in at.get(kind)]
    return " ".join(str(p) for p in parts)


def test_a_colleagues_recent_results_are_reused_and_nothing_of_theirs_is_shown(open_app, app_db):
    theirs = _colleague_enriched_last_week(app_db, 3)
    with app_db.write() as s:
        ole = factories.user(s, "ole")
    urls = [f"https://www.linkedin.com/in/acme-person-{i}" for i in range(3)] + ["https://www.linkedin.com/in/new-1"]
    at = upload(open_app(ole), _file_of(urls))
    assert not at.exception
    assert metrics(at)["Reused"] == "3"
    text = _page_text(at)
    assert "3 leads will be reused from enrichments in the last 30 days" in text
    assert f"#{theirs.id}" not in text and "anas-secret" not in text and "ana" not in text.replace("analyst", "")
    at = at.button(key="queue_processing").click().run()
    with app_db.read() as s:
        job = s.scalar(select(Job).where(Job.owner_id == ole.id))
        statuses = sorted(s.scalars(select(Lead.status).where(Lead.job_id == job.id)))
    assert job.total_leads == 1 and statuses == ["pending", "reused", "reused", "reused"]


def test_a_file_with_nothing_to_send_offers_the_reused_results_instead_of_a_job(open_app, app_db, rings):
    _colleague_enriched_last_week(app_db, 3)
    with app_db.write() as s:
        ole = factories.user(s, "ole")
    at = upload(open_app(ole), _file_of([f"https://www.linkedin.com/in/acme-person-{i}" for i in range(3)]))
    assert not at.exception
    assert "nothing needs sending to PhantomBuster" in _page_text(at)
    assert not [b for b in at.button if b.key == "queue_processing"]
    labels = {b.label for b in at.get("download_button")}
    assert {"Results (.xlsx)", "Results (.csv)"} <= labels
    with app_db.read() as s:
        assert s.scalar(select(func.count()).select_from(Job).where(Job.owner_id == ole.id)) == 0
    assert rings.calls == []
    at.checkbox(key="include_recent").check().run()  # "Enrich them again": then it can be queued
    assert [b for b in at.button if b.key == "queue_processing"]
