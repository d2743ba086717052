"""Task Manager: own jobs only, cancel with confirmation (stopping a run in flight), admin queue actions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from core.lifecycle import slot
from core.models import AuditEvent, Job, Run, utcnow
from tests.pages.conftest import rendered
from tests.support import factories

PAGE = "pages/task_manager.py"


def card_titles(at) -> list[str]:
    return [rendered(m.value) for m in at.markdown if rendered(m.value).startswith("**#")]


def test_analyst_sees_own_jobs_with_progress_and_queue(open_app, app_db):
    with app_db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        mine = factories.job(s, ana, {"Acme": 4, "Beta": 2}, batch_size=2, file_name="mine.xlsx")
        factories.job(s, ole, {"Gamma": 3}, file_name="theirs.xlsx")
    at = open_app(ana, PAGE)
    assert [t.split(" ")[0].strip("*") for t in card_titles(at)] == [f"#{mine.id}"]
    assert not any("theirs.xlsx" in rendered(m.value) for m in at.markdown)
    stats = " ".join(rendered(m.value) for m in at.markdown)
    assert "Enriched] **0**" in stats and "number **1** in the queue, 3 batches to go" in stats
    queue_rows = at.table[0].value
    assert [rendered(f) for f in queue_rows["file"]] == ["mine.xlsx"] and list(queue_rows["place"]) == [1]
    captions = " ".join(rendered(c.value) for c in at.caption)
    assert "Expected done around" in captions and "a first guess until runs have been timed" in captions
    assert "fence" not in stats + captions and "band" not in stats + captions  # developer words stay with admins
    assert not [b for b in at.button if b.key and b.key.startswith("admin_")]


def test_cancel_asks_then_stops_the_run_in_flight(open_app, app_db, rings):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
        job = factories.job(s, ana, {"Acme": 4}, batch_size=2)
        first = s.scalar(select(Run.id).where(Run.job_id == job.id).order_by(Run.seq))
        s.execute(update(Run).where(Run.id == first).values(status="phantom_launched", container_id="c-1"))
    at = open_app(ana, PAGE)
    at.button(key=f"cancel_{job.id}").click().run()
    # The confirmation dialog is open; nothing changed yet.
    assert at.button(key="confirm_cancel").label == "Cancel the job"
    with app_db.read() as s:
        assert s.get(Job, job.id).status == "pending"
    at.button(key="confirm_cancel").click().run()
    with app_db.read() as s:
        assert s.get(Job, job.id).status == "cancelled"
    assert rings.calls == [("stop", first)]
    assert not [b for b in at.button if b.key == "confirm_cancel"]


def test_keep_it_closes_the_dialog_without_cancelling(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
        job = factories.job(s, ana, {"Acme": 2})
    at = open_app(ana, PAGE)
    at.button(key=f"cancel_{job.id}").click().run()
    at.button(key="keep_job").click().run()
    assert not [b for b in at.button if b.key == "confirm_cancel"]
    with app_db.read() as s:
        assert s.get(Job, job.id).status == "pending"


def test_analyst_cannot_cancel_another_analysts_job(open_app, app_db, rings):
    with app_db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        theirs = factories.job(s, ole, {"Acme": 2})
    at = open_app(ana, PAGE)
    assert not [b for b in at.button if b.key == f"cancel_{theirs.id}"]
    # Even a forged request (the dialog opened for a guessed id) gets nothing.
    at.session_state["tm_confirm"] = ("cancel", theirs.id, "guessed")
    at.run()
    at.button(key="confirm_cancel").click().run()
    assert any(f"No job #{theirs.id} is visible to you." in rendered(e.value) for e in at.error)
    with app_db.read() as s:
        assert s.get(Job, theirs.id).status == "pending"
    assert rings.calls == []


def test_finished_jobs_linger_five_seconds_then_leave(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
        just = factories.job(s, ana, {"Acme": 2}, file_name="just.xlsx")
        old = factories.job(s, ana, {"Acme": 2}, file_name="old.xlsx")
        now = utcnow()
        s.execute(update(Job).where(Job.id == just.id).values(status="completed", finished_at=now))
        s.execute(
            update(Job).where(Job.id == old.id).values(status="completed", finished_at=now - timedelta(seconds=6))
        )
    at = open_app(ana, PAGE)
    titles = card_titles(at)
    assert len(titles) == 1 and "just.xlsx" in titles[0]
    assert at.subheader[0].value == "Your jobs (0 active, 1 just finished)"


def test_admin_pause_is_confirmed_and_audited(open_app, app_db, rings):
    with app_db.write() as s:
        root = factories.user(s, "root", "admin")
        ana = factories.user(s, "ana")
        factories.job(s, ana, {"Acme": 2}, file_name="theirs.xlsx")
    at = open_app(root, PAGE)
    assert any("theirs.xlsx" in t for t in card_titles(at))
    at.button(key="admin_pause").click().run()
    with app_db.read() as s:
        assert not slot.get(s).paused
    at.button(key="confirm_admin").click().run()
    with app_db.read() as s:
        assert slot.get(s).paused
        assert s.scalar(select(AuditEvent.action).where(AuditEvent.action == "queue_paused")) == "queue_paused"
    assert rings.calls == []  # a pause only stops new launches: nothing for the worker to do now
    assert any("Paused" in rendered(m.value) for m in at.markdown)


def test_slot_lane_hides_another_analysts_run(open_app, app_db):
    with app_db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        theirs = factories.job(s, ole, {"Secret Company": 2})
        run_id = s.scalar(select(Run.id).where(Run.job_id == theirs.id))
        s.execute(update(Run).where(Run.id == run_id).values(status="phantom_launched", launch_requested_at=utcnow()))
        slot.acquire(s, holder="w", run_id=run_id, ttl=60)
    at = open_app(ana, PAGE)
    text = " ".join(rendered(m.value) for m in at.markdown)
    assert "Running" in text and "another analyst" in text and "Secret Company" not in text
    at = open_app(ole, PAGE)
    assert any("Secret Company" in rendered(m.value) for m in at.markdown)
