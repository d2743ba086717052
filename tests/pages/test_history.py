"""History: own jobs only, filters and search, job detail with downloads, retry, and guessed ids refused."""

from __future__ import annotations

from sqlalchemy import select, update

from core import exports, read_models
from core.errors import NotFound
from core.models import Job, Lead
from tests.pages.conftest import rendered
from tests.support import factories

PAGE = "pages/history.py"


def listed_ids(at) -> list[int]:
    frames = [d.value for d in at.dataframe if "job" in d.value.columns]
    return list(frames[0]["job"]) if frames else []


def open_job(at, job_id: int):
    at.number_input(key="hist_job_id").set_value(job_id)
    return at.run()


def fail_leads(session, job: Job, n: int) -> None:
    ids = list(session.scalars(select(Lead.id).where(Lead.job_id == job.id).order_by(Lead.id).limit(n)))
    session.execute(
        update(Lead).where(Lead.id.in_(ids)).values(status="failed", error="The LinkedIn session cookie expired.")
    )
    session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(status="completed", failed_leads=n, percentage=100.0, finished_at=job.created_at)
    )


def test_analyst_lists_only_own_jobs_and_admin_filters_by_analyst(open_app, app_db):
    with app_db.write() as s:
        ana, ole, root = factories.user(s, "ana"), factories.user(s, "ole"), factories.user(s, "root", "admin")
        a1 = factories.job(s, ana, {"Acme": 2}, file_name="a1.xlsx")
        o1 = factories.job(s, ole, {"Beta": 2}, file_name="o1.xlsx")
        a2 = factories.job(s, ana, {"Gamma": 2}, file_name="a2.xlsx")
    assert listed_ids(open_app(ana, PAGE)) == [a2.id, a1.id]
    assert listed_ids(open_app(ole, PAGE)) == [o1.id]
    at = open_app(root, PAGE)
    assert listed_ids(at) == [a2.id, o1.id, a1.id]
    at.selectbox(key="hist_owner").set_value(ole.id).run()
    assert listed_ids(at) == [o1.id]


def test_search_and_status_filters(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
        acme = factories.job(s, ana, {"Acme AS": 2}, file_name="nordic.xlsx")
        beta = factories.job(s, ana, {"Beta": 2}, file_name="other.csv")
        s.execute(update(Job).where(Job.id == beta.id).values(status="completed"))
    at = open_app(ana, PAGE)
    at.text_input(key="hist_search").input("acme").run()
    assert listed_ids(at) == [acme.id]
    at.text_input(key="hist_search").input("other").run()
    assert listed_ids(at) == [beta.id]
    at.text_input(key="hist_search").input(f"#{acme.id}").run()
    assert listed_ids(at) == [acme.id]
    at.text_input(key="hist_search").input("").run()
    at.multiselect(key="hist_status").set_value(["completed"]).run()
    assert listed_ids(at) == [beta.id]
    at.text_input(key="hist_search").input("nothing-like-this").run()
    assert any(rendered(c.value) == "No job matches." for c in at.caption)


def test_pages_by_keyset(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
        ids = [factories.job(s, ana, {"Acme": 1}, file_name=f"f{i}.csv").id for i in range(27)]
    at = open_app(ana, PAGE)
    assert listed_ids(at) == ids[::-1][:25]
    at.button(key="hist_older").click().run()
    assert listed_ids(at) == ids[::-1][25:]
    at.button(key="hist_newer").click().run()
    assert listed_ids(at) == ids[::-1][:25]


def test_job_detail_downloads_and_retry_failed_leads(open_app, app_db, rings):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
        job = factories.job(s, ana, {"Acme": 3, "Beta": 2}, batch_size=2, file_name="leads.xlsx")
        fail_leads(s, job, 2)
    at = open_job(open_app(ana, PAGE), job.id)
    assert any(f"#{job.id} · leads.xlsx" in rendered(m.value) for m in at.markdown)
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Enriched (.xlsx)", "Enriched (.csv)", "Failed rows only (.xlsx)", "Validation report (.csv)"]
    leads = at.dataframe[1].value
    assert list(leads["status"]).count("failed") == 2
    assert "The LinkedIn session cookie expired." in list(leads["why"])
    assert len(at.dataframe[2].value) == 3  # runs
    story = " ".join(rendered(m.value) for m in at.markdown)
    assert "The file was queued: 5 leads to send" in story and "job_created" not in story  # words, not codes
    # The finished job's result report: every row of the file, once.
    report = {rendered(r): n for r, n in zip(at.table[0].value["result"], at.table[0].value["rows"], strict=True)}
    assert sum(report.values()) == 5 and report["Failed: The LinkedIn session cookie expired."] == 2
    at.button(key=f"retry_{job.id}").click().run()
    assert ("dispatch",) in rings.calls
    with app_db.read() as s:
        assert s.get(Job, job.id).status == "pending"
        assert set(s.scalars(select(Lead.status).where(Lead.job_id == job.id))) == {"pending"}


def test_a_guessed_job_id_shows_nothing(open_app, app_db):
    with app_db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        theirs = factories.job(s, ole, {"Secret AS": 2}, file_name="secret.xlsx")
        fail_leads(s, theirs, 1)
    at = open_job(open_app(ana, PAGE), theirs.id)
    assert [rendered(e.value) for e in at.error] == [f"No job #{theirs.id} is visible to you."]
    assert not at.get("download_button")
    assert not [b for b in at.button if b.key == f"retry_{theirs.id}"]
    assert not any("secret" in rendered(m.value).lower() for m in at.markdown)
    # The same holds below the page: downloads, report and actions refuse a job that is not yours.
    with app_db.write() as s:
        for call in (
            lambda: exports.job_export(s, ana, theirs.id, "xlsx"),
            lambda: read_models.validation_report(s, ana, theirs.id),
            lambda: read_models.job_detail(s, ana, theirs.id),
        ):
            try:
                call()
            except NotFound:
                continue
            raise AssertionError("an analyst reached another analyst's job")


def test_trends_render_for_both_windows(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
        job = factories.job(s, ana, {"Acme": 3})
        fail_leads(s, job, 1)
    at = open_app(ana, PAGE)
    assert not at.exception
    at.segmented_control(key="hist_days").set_value(30).run()
    assert not at.exception
    assert any(rendered(m.value) == "**Failed leads by reason**" for m in at.markdown)
