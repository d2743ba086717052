"""The analyst's console in Debian's Chromium: sign-in, upload to download, privacy, and refreshes that disturb nothing."""

from __future__ import annotations

import http.server
import io
import re
import threading
import time

import openpyxl
import pytest
from sqlalchemy import select

from core import jobs, lifecycle
from core.lifecycle import slot
from core.models import AuditEvent, Job, User, utcnow
from tests.browser.harness import go, settled, sign_in, write_leads_csv
from tests.support import factories

pytestmark = pytest.mark.browser
PROGRESS = re.compile(r"^\d+% · \d+ of \d+ leads")


def _user(live, name: str) -> User:
    with live.stack.db.read() as s:
        return s.query(User).filter_by(name=name).one()


def test_upload_queue_watch_progress_toast_and_download(live, context, tmp_path):
    page = context.new_page()
    sign_in(page, live.url, "ana")
    leads = write_leads_csv(tmp_path / "nordic-leads.csv", {"VING NORGE AS": 6, "Acme": 5, "Beta AS": 5}, bad_rows=2)
    page.locator("input[type=file]").set_input_files(str(leads))
    page.get_by_text("Validation report").wait_for()
    report = page.get_by_test_id("stMetric").filter(has_text="Rows with problems")
    assert report.get_by_test_id("stMetricValue").inner_text() == "2"
    batch = page.get_by_label("Batch size (leads per PhantomBuster run)")
    batch.fill("2")
    batch.press("Enter")
    settled(page)
    page.get_by_role("button", name="Queue Processing").click()
    busy = page.get_by_role("button", name=re.compile(r"^Processing (VING NORGE AS|Acme|Beta AS)$"))
    busy.wait_for()
    assert busy.is_disabled()
    page.get_by_text(re.compile(r"Enrichment queued for VING NORGE AS, Acme, Beta AS \(job #\d+\)")).first.wait_for()
    # Seed 002's sidebar indicator: a turning spinner and the number of active jobs.
    indicator = page.locator(".st-key-busy_indicator")
    indicator.get_by_text("1 active job").wait_for()
    spinner = indicator.get_by_role("img", name="progress_activity icon")
    assert spinner.evaluate("e => getComputedStyle(e).animationName") == "leadrelay-spin"

    go(page, "Task Manager")
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        texts = [t for t in page.get_by_test_id("stProgress").all_inner_texts() if PROGRESS.match(t.strip())]
        if texts and (not seen or texts[0] != seen[-1]):
            seen.append(texts[0])
        if seen and seen[-1].startswith("100%"):
            break
        time.sleep(0.3)
    # The card moved forward on its own (no reload) and reached 100%.
    assert len(seen) >= 2 and seen[-1].startswith("100% · 16 of 16 leads"), seen
    page.get_by_text("Enrichment completed for nordic-leads.csv: 16 of 16 leads enriched").wait_for(timeout=30_000)
    # The finished card lingers 5 s, then leaves at the next 3-second refresh: within about 8 s.
    page.get_by_text("Nothing is queued or running.").wait_for(timeout=15_000)
    assert page.locator("[class*='st-key-job_card_']").count() == 0

    with live.stack.db.read() as s:
        job_id = s.query(Job.id).filter_by(file_name="nordic-leads.csv").scalar()
    go(page, "History")
    page.get_by_label("Open job #").fill(str(job_id))
    page.get_by_label("Open job #").press("Enter")
    page.get_by_text(f"#{job_id} · nordic-leads.csv").wait_for()
    with page.expect_download() as info:
        page.get_by_role("button", name="Enriched (.xlsx)").click()
    book = openpyxl.load_workbook(io.BytesIO(info.value.path().read_bytes()), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    header = [str(c) for c in rows[0]]
    assert "Company" in header and "LinkedIn URL" in header
    assert len(rows) == 1 + 16
    status = header.index(next(h for h in header if h.lower().endswith("status")))
    assert {r[status] for r in rows[1:]} == {"success"}
    full_name = next(i for i, h in enumerate(header) if "full" in h.lower() and "name" in h.lower())
    assert all(r[full_name] for r in rows[1:])


def test_sign_in_survives_a_reload_and_sign_out_ends_it(live, context):
    page = context.new_page()
    sign_in(page, live.url, "ana")
    page.reload()
    page.get_by_text("Signed in as ana").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("User name").wait_for()
    page.reload()
    page.get_by_label("User name").wait_for()
    assert page.get_by_text("Signed in as").count() == 0


def test_wrong_password_and_unknown_user_look_the_same(live, context):
    page = context.new_page()
    page.goto(live.url)
    messages = []
    for name in ("ana", "nobody-here"):
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password", exact=True).fill("not-the-password")
        page.get_by_role("button", name="Sign in", exact=True).click()
        alert = page.get_by_test_id("stAlert").filter(has_text="Wrong")
        alert.wait_for()
        messages.append(alert.inner_text().strip())
    assert messages[0] == messages[1]


def test_a_second_analyst_sees_nothing_of_the_first(live, context):
    ana, root = _user(live, "ana"), _user(live, "root")
    with live.stack.db.write() as s:
        lifecycle.pause(s, "browser test", utcnow())  # keep the job active while the other analyst looks
        job = factories.job(s, ana, {"Private Company AS": 3}, file_name="private-leads.xlsx")
    try:
        page = context.new_page()
        sign_in(page, live.url, "ole")
        page.get_by_text("No active jobs").wait_for()
        go(page, "Task Manager")
        page.get_by_text("Nothing is queued or running.").wait_for()
        go(page, "History")
        page.get_by_text("No job matches.").wait_for()
        page.get_by_label("Open job #").fill(str(job.id))
        page.get_by_label("Open job #").press("Enter")
        page.get_by_text(f"No job #{job.id} is visible to you.").wait_for()
        body = page.locator("body").inner_text()
        assert "private-leads" not in body and "Private Company" not in body
        assert page.get_by_role("button", name="Enriched (.xlsx)").count() == 0
        assert page.get_by_role("link", name="Admin").count() == 0
    finally:
        with live.stack.db.write() as s:
            lifecycle.resume(s, utcnow())
            jobs.cancel_job(s, root, job.id)


def test_dialog_typed_text_chosen_file_and_selection_survive_refreshes(live, context, tmp_path):
    root = _user(live, "root")
    with live.stack.db.write() as s:
        first = factories.job(s, root, {"Alpha": 1}, file_name="alpha.xlsx")
        second = factories.job(s, root, {"Beta": 1}, file_name="beta.xlsx")
        jobs.cancel_job(s, root, first.id)
        jobs.cancel_job(s, root, second.id)

    manager = context.new_page()
    sign_in(manager, live.url, "root")
    go(manager, "Task Manager")
    manager.get_by_role("button", name="Pause queue").click()
    dialog = manager.get_by_role("dialog")
    dialog.get_by_text("Pause the queue?").wait_for()

    history = context.new_page()
    history.goto(live.url)
    history.get_by_text("Signed in as root").wait_for()
    go(history, "History")
    grid = history.get_by_test_id("stDataFrame").first
    grid.wait_for()
    box = grid.bounding_box()
    # Select the second row (beta is newest, so alpha is row 2) by its checkbox in the canvas grid.
    history.mouse.click(box["x"] + 18, box["y"] + 35 + 35 + 17)
    history.get_by_text(f"#{first.id} · alpha.xlsx").wait_for()
    search = history.get_by_role("textbox", name="Search")
    search.click()
    history.keyboard.type("half-typ")

    upload = context.new_page()
    upload.goto(live.url)
    upload.get_by_text("Signed in as root").wait_for()
    upload.locator("input[type=file]").set_input_files(str(write_leads_csv(tmp_path / "kept.csv", {"Kept AS": 2})))
    upload.get_by_text("Validation report").wait_for()

    # Refreshes happen: a job appears on every page's sidebar indicator, then leaves it (two refreshes each).
    with live.stack.db.write() as s:
        lifecycle.pause(s, "the test keeps this job waiting", utcnow())
        newer = factories.job(s, root, {"Gamma": 1}, file_name="gamma.xlsx")  # History's rows move down by one
    for page in (manager, history, upload):
        page.locator(".st-key-busy_indicator").get_by_text("1 active job").wait_for()
    with live.stack.db.write() as s:
        jobs.cancel_job(s, root, newer.id)
        lifecycle.resume(s, utcnow())
    for page in (manager, history, upload):
        page.locator(".st-key-idle_indicator").get_by_text("No active jobs").wait_for()

    assert dialog.get_by_text("Pause the queue?").is_visible()
    dialog.get_by_role("button", name="Back").click()
    dialog.wait_for(state="detached")
    assert search.input_value() == "half-typ"
    assert history.evaluate("document.activeElement === document.querySelector('input[aria-label=\"Search\"]')")
    assert history.get_by_text(f"#{first.id} · alpha.xlsx").is_visible()
    assert history.get_by_text(f"#{second.id} · beta.xlsx").count() == 0
    assert upload.get_by_text("kept.csv").is_visible() and upload.get_by_text("Validation report").is_visible()
    with live.stack.db.read() as s:
        assert not slot.get(s).paused  # "Back" closed the dialog without pausing
        pauses = [e.details for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "queue_paused"))]
    assert pauses == []  # the only pause was the test's own, straight in core


def test_user_text_that_looks_like_markdown_loads_nothing(live, context):
    """A company named like a Markdown image is shown as text: no viewer's browser fetches its address."""
    hits: list[str] = []

    class Counter(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    company = f"![t](http://127.0.0.1:{server.server_port}/x.png)"
    ana = _user(live, "ana")
    with live.stack.db.write() as s:
        lifecycle.pause(s, "browser test", utcnow())  # keep the job queued while the page shows it
        job = factories.job(s, ana, {company: 2}, file_name="[leads](javascript:alert(1)).xlsx")
    try:
        page = context.new_page()
        sign_in(page, live.url, "ana")
        go(page, "Task Manager")
        page.get_by_text(company).first.wait_for()
        page.get_by_text("[leads](javascript:alert(1)).xlsx").first.wait_for()
        go(page, "History")
        page.get_by_label("Open job #").fill(str(job.id))
        page.get_by_label("Open job #").press("Enter")
        page.get_by_text(f"#{job.id} · [leads](javascript:alert(1)).xlsx").wait_for()
        assert page.locator(f"img[src*='{server.server_port}']").count() == 0
        assert page.locator("a[href^='javascript']").count() == 0
        assert hits == []
    finally:
        server.shutdown()
        with live.stack.db.write() as s:
            lifecycle.resume(s, utcnow())
            jobs.cancel_job(s, ana, job.id)
