"""Upload: pick a lead file and sheet, confirm the column mapping, read the validation report, queue it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time

import streamlit as st

from core import board, exports, intake, job_actions, jobs, read_models
from core.errors import LeadRelayError
from core.intake import FIELDS
from core.leadfile import FILE_TYPES, ParsedFile, build_preview, parse_file, report_csv
from core.models import Role, utcnow
from core.wait_reasons import when
from pages.common import (
    REFRESH_SECONDS,
    app,
    attempt,
    duration,
    page_user,
    plain,
    rerun_fragment,
    show_toasts,
    toast_later,
)

ctx = app()
user = page_user()
limit = ctx.settings.max_active_jobs_per_analyst

st.title("Upload a lead file")
st.caption(
    intake.limits_sentence(ctx.settings) + " Each lead needs a LinkedIn profile URL; leads are grouped by company "
    "and sent to PhantomBuster in batches, one run at a time."
)

uploaded = st.file_uploader("Lead file", type=list(FILE_TYPES), key="upload_file")
if uploaded is None:
    st.info("Choose a file to see its columns and validation report before anything is queued.", icon=":material/info:")
    st.stop()

data = uploaded.getvalue()
file_key = hashlib.sha256(data).hexdigest()


@st.cache_data(max_entries=4, show_spinner="Reading the file…")
def _parse(file_key: str, name: str, sheet: str | None, _data: bytes) -> ParsedFile:
    """Parse the upload once per file content and sheet (a child process does the parsing)."""
    return parse_file(_data, name, intake.limits(ctx.settings), sheet=sheet)


try:
    parsed = _parse(file_key, uploaded.name, st.session_state.get(f"sheet_{file_key}"), data)
except LeadRelayError as exc:
    st.error(exc.message, icon=":material/error:")
    st.stop()

if len(parsed.sheet_names) > 1:
    st.selectbox(
        "Sheet",
        parsed.sheet_names,
        index=parsed.sheet_names.index(parsed.sheet_name),
        key=f"sheet_{file_key}",
        help="The workbook has several sheets; choose the one with the leads.",
    )

suggested = build_preview(parsed).mapping
found = ", ".join(f"{FIELDS[f]}: {c}" for f, c in suggested.items() if c and f in ("linkedin_url", "company"))
with st.expander(
    f":material/table_chart: Columns · header on row {parsed.header_row_number} · {plain(found) or 'check the mapping'}",
    expanded=not (suggested.get("linkedin_url") and suggested.get("company")),
):
    st.caption("Check which column holds what; change any that is wrong.")
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
    checks = intake.check(session, ctx.settings, preview, user)

st.subheader("Validation report")
counts = preview.counts
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("Rows read", counts["rows"], border=True)
m2.metric("Good leads", counts["good"], border=True)
m3.metric("Duplicates in file", counts["duplicates"], border=True)
m4.metric("Rows with problems", counts["problems"], border=True)
days = ctx.settings.recently_enriched_days
m5.metric(
    "Reused",
    len(checks.recent),
    border=True,
    help=f"Leads someone enriched in the last {days} days: their profiles are copied in, nothing is sent again.",
)
if checks.recent:
    st.info(
        f"{len(checks.recent):,} lead{'s' if len(checks.recent) != 1 else ''} will be reused from enrichments in the "
        f'last {days} days (tick "Enrich them again" below to send them anyway).',
        icon=":material/recycling:",
    )
if checks.same_file_jobs:
    st.warning(
        "You uploaded this exact file before, as job " + ", ".join(f"#{j}" for j in checks.same_file_jobs) + ".",
        icon=":material/content_copy:",
    )
if parsed.formula_cells_without_value:
    n = parsed.formula_cells_without_value
    st.warning(
        f"{n:,} formula cell{'s have' if n != 1 else ' has'} no saved value and import{'' if n != 1 else 's'} empty: "
        "open and save the file in Excel, or these import empty.",
        icon=":material/function:",
    )
issues = sorted(preview.problems + preview.duplicates, key=lambda p: p.row_number)
if issues:
    st.dataframe(
        [{"row": p.row_number, "column": p.column, "reason": p.reason} for p in issues[:500]],
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * min(len(issues), 8), 320),
    )
    st.download_button(
        "Download the validation report",
        report_csv(preview),
        file_name=f"{uploaded.name.rsplit('.', 1)[0]}-validation.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )
else:
    st.success("Every row has a valid LinkedIn profile URL.", icon=":material/check_circle:")

st.subheader("Queue")
q1, q2, q3 = st.columns(3)
batch_size = q1.number_input(
    "Batch size (leads per PhantomBuster run)",
    min_value=1,
    max_value=ctx.settings.profiles_per_launch_max,
    value=min(ctx.settings.default_batch_size, ctx.settings.profiles_per_launch_max),
    step=1,
    key="batch_size",
)
include_recent = q2.checkbox(
    "Enrich them again",
    value=False,
    key="include_recent",
    help=f"Leads enriched in the last {days} days are reused unless you tick this; then they are sent again.",
)
priority = q3.number_input(
    "Priority",
    value=0,
    step=1,
    disabled=user.role != Role.ADMIN,
    help="Higher runs first. Admins only.",
    key="priority",
)


with ctx.db.read() as session:
    account_zone = board.account_zone(session, ctx.settings)
later = st.toggle("Start later", key="start_later", help="The job waits in the queue until then.")
start_after = None
if later:
    d1, d2 = st.columns(2)
    day = d1.date_input("Not before (day)", value=utcnow().astimezone(account_zone).date(), key="start_day")
    at = d2.time_input(f"and time ({account_zone.key})", value=time(8, 0), key="start_time")
    start_after = datetime.combine(day, at, account_zone).astimezone(UTC)

to_send = counts["good"] - (0 if include_recent else len(checks.recent))


@st.fragment(run_every=REFRESH_SECONDS * 10)
def cost_panel() -> None:
    """What the file will take at the account's limits, behind the work already queued."""
    if to_send <= 0:
        return
    now = utcnow()
    with ctx.db.read() as session:
        cost = board.file_cost(session, ctx.settings, user, to_send, start_after or now, now)
    guess = "" if cost.measured else " These are first guesses until runs have been timed."
    days = f"about {cost.working_days} working day{'s' if cost.working_days != 1 else ''}"
    st.info(
        f"{to_send:,} leads to send. At the LinkedIn account's limits ({cost.limits_text}), behind the work already "
        f"queued, they should be done around **{when(cost.done.likely, cost.zone, now)}** ({days}). "
        f"PhantomBuster execution time: about {duration(cost.execution_seconds)}"
        + (f", {duration(cost.monthly_left)} left this month." if cost.monthly_left is not None else ".")
        + guess,
        icon=":material/calendar_month:",
    )
    if cost.monthly_left is not None and cost.execution_seconds > cost.monthly_left:
        st.warning(
            "This file needs more PhantomBuster execution time than the plan has left this month: part of it waits "
            "for the monthly reset (or a bigger plan).",
            icon=":material/timer_off:",
        )


cost_panel()


def _queue() -> job_actions.QueuedJob:
    return job_actions.queue_file(
        ctx.db,
        ctx.doorbell,
        ctx.settings,
        user,
        preview,
        batch_size=int(batch_size),
        include_recent=include_recent,
        priority=int(priority),
        checks=checks,
        start_after=start_after,
    )


@st.fragment(run_every=REFRESH_SECONDS)
def queue_button() -> None:
    """Seed 000's button: 'Queue Processing' when idle, 'Processing {company}' (disabled) while this file runs."""
    show_toasts()
    with ctx.db.read() as session:
        busy = read_models.active_job_for_file(session, user, parsed.content_hash)
        active = jobs.active_job_count(session, user.id)
    if busy is not None:
        st.button(f"Processing {plain(busy.company)}", disabled=True, type="primary", icon="spinner", key="queue_busy")
        st.caption(f"Job #{busy.job_id} is {busy.status}: {busy.percentage:.0f}% done. Follow it in the Task Manager.")
        return
    at_limit = user.role != Role.ADMIN and active >= limit
    if at_limit:
        st.warning(
            f"You have {active} active jobs, the limit is {limit}. Wait for one to finish or cancel one in the "
            "Task Manager, then queue this file.",
            icon=":material/block:",
        )
    clicked = st.button(
        "Queue Processing",
        type="primary",
        icon=":material/playlist_add:",
        key="queue_processing",
        disabled=counts["good"] == 0 or at_limit,
    )
    if user.role != Role.ADMIN:
        st.caption(f"You have {active} of {limit} active jobs.")
    if clicked:
        queued = attempt(_queue)
        if queued is not None:
            toast_later(
                f"Enrichment queued for {plain(queued.companies[:80] or uploaded.name)} (job #{queued.job_id})",
                ":material/check_circle:",
            )
            rerun_fragment()


def nothing_to_send() -> None:
    """Every lead was enriched recently: nothing is queued, and the results are here to download."""
    st.success(
        f"Every lead of this file was enriched in the last {days} days: nothing needs sending to PhantomBuster. "
        'Download the results below, or tick "Enrich them again" to send them anyway.',
        icon=":material/recycling:",
    )
    for fmt, label in (("xlsx", "Results (.xlsx)"), ("csv", "Results (.csv)")):

        def build(fmt: str = fmt) -> bytes:
            with ctx.db.read() as session:
                return exports.recent_results(session, ctx.settings, preview, fmt)[1]  # type: ignore[arg-type]

        st.download_button(
            label,
            build,
            file_name=exports.download_name(uploaded.name, 0, "results", fmt).replace("-job0", ""),
            mime=exports.MEDIA_TYPES[fmt],
            icon=":material/download:",
            on_click="ignore",
            key=f"reused_{fmt}",
            help=exports.CSV_HELP if fmt == "csv" else None,
        )


if not include_recent and checks.recent and len(checks.recent) >= counts["good"] > 0:
    nothing_to_send()
else:
    queue_button()
