"""Upload: pick a lead file and sheet, confirm the column mapping, read the validation report, queue it."""

from __future__ import annotations

import hashlib

import streamlit as st

from core import intake, jobs, views
from core.errors import LeadRelayError
from core.intake import FIELDS
from core.leadfile import build_preview, parse_file, report_csv
from core.models import ACTIVE_JOB_STATUSES, Role
from pages.common import REFRESH_SECONDS, app, attempt, current_user

ctx = app()
user = current_user()
assert user is not None

st.title("Upload a lead file")
st.caption("Excel (.xlsx, .xls) or CSV/TSV. Each lead needs a LinkedIn profile URL; leads are grouped by company.")

uploaded = st.file_uploader("Lead file", type=["xlsx", "xls", "csv", "tsv"], key="upload_file")
if uploaded is None:
    st.info("Choose a file to see its columns and validation report before anything is queued.")
    st.stop()

data = uploaded.getvalue()
file_key = hashlib.sha256(data).hexdigest()


@st.cache_data(max_entries=4, show_spinner="Reading the file…")
def _parse(file_key: str, name: str, sheet: str | None, _data: bytes):
    return parse_file(_data, name, intake.limits(ctx.settings), sheet=sheet)


try:
    parsed = _parse(file_key, uploaded.name, st.session_state.get(f"sheet_{file_key}"), data)
except LeadRelayError as exc:
    st.error(exc.message)
    st.stop()

if len(parsed.sheet_names) > 1:
    st.selectbox(
        "Sheet",
        parsed.sheet_names,
        index=parsed.sheet_names.index(parsed.sheet_name),
        key=f"sheet_{file_key}",
        help="The workbook has several sheets; choose the one with the leads.",
    )

st.subheader("Columns")
st.caption(f"Header found on row {parsed.header_row_number}. Check the mapping; change any column that is wrong.")
suggested = build_preview(parsed).mapping
choices = [None, *parsed.columns]
mapping: dict[str, str | None] = {}
cols = st.columns(4)
for index, field in enumerate(FIELDS):
    default = suggested.get(field)
    mapping[field] = cols[index % 4].selectbox(
        FIELDS[field],
        choices,
        index=choices.index(default) if default in choices else 0,
        format_func=lambda c: "— not in file —" if c is None else c,
        key=f"map_{file_key}_{field}",
    )

preview = build_preview(parsed, mapping)
with ctx.db.read() as session:
    checks = intake.check(session, ctx.settings, preview)

st.subheader("Validation report")
counts = preview.counts
m1, m2, m3, m4 = st.columns(4)
m1.metric("Good leads", counts["good"])
m2.metric("Duplicates in file", counts["duplicates"])
m3.metric("Rows with problems", counts["problems"])
m4.metric(f"Enriched in the last {ctx.settings.recently_enriched_days} days", len(checks.recent))
if checks.same_file_jobs:
    st.warning("This exact file was uploaded before, as job " + ", ".join(f"#{j}" for j in checks.same_file_jobs) + ".")
issues = preview.problems + preview.duplicates
if issues:
    st.dataframe(
        [{"row": p.row_number, "column": p.column, "reason": p.reason} for p in issues[:500]],
        hide_index=True,
        use_container_width=True,
    )
    st.download_button(
        "Download the validation report",
        report_csv(preview),
        file_name=f"{uploaded.name.rsplit('.', 1)[0]}-validation.csv",
        mime="text/csv",
    )

st.subheader("Queue")
q1, q2, q3 = st.columns(3)
batch_size = q1.number_input(
    "Batch size (leads per PhantomBuster run)",
    min_value=1,
    max_value=2500,
    value=ctx.settings.default_batch_size,
    step=1,
)
include_recent = q2.checkbox("Send recently enriched leads again", value=False)
priority = q3.number_input(
    "Priority", value=0, step=1, disabled=user.role != Role.ADMIN, help="Higher runs first. Admins only."
)


@st.fragment(run_every=REFRESH_SECONDS)
def queue_button() -> None:
    job_id = st.session_state.get(f"job_for_{file_key}")
    busy_company = None
    if job_id is not None:
        with ctx.db.read() as session:
            try:
                detail = views.job_detail(session, user, job_id, lead_limit=0)
            except LeadRelayError:
                detail = None
        if detail is not None and detail.job.status in ACTIVE_JOB_STATUSES:
            running = [r for r in detail.runs if r.status in ("launching", "phantom_launched", "webhook_received")]
            busy_company = (running[0].company if running else detail.runs[0].company if detail.runs else "") or "leads"
    if busy_company is not None:
        with st.spinner(f"Processing {busy_company}"):
            st.button(f"Processing {busy_company}", disabled=True, type="primary", key="queue_busy")
        return
    if st.button("Queue Processing", type="primary", key="queue_processing", disabled=counts["good"] == 0):

        def _queue() -> int:
            with ctx.db.write() as session:
                job = intake.queue(
                    session,
                    ctx.settings,
                    user,
                    preview,
                    batch_size=int(batch_size),
                    include_recent=include_recent,
                    priority=int(priority),
                    checks=checks,
                )
                return job.id

        new_id = attempt(_queue)
        if new_id is not None:
            import worker

            worker.ring("dispatch")
            st.session_state[f"job_for_{file_key}"] = new_id
            st.toast(f"Queued {uploaded.name} as job #{new_id}.", icon=":material/check_circle:")
            st.rerun(scope="fragment")


queue_button()
with ctx.db.read() as session:
    active = jobs.active_job_count(session, user.id)
if user.role != Role.ADMIN:
    st.caption(f"You have {active} of {ctx.settings.max_active_jobs_per_analyst} active jobs.")
