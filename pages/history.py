"""History: every job the user may see, filtered and searched, a job's detail, downloads, retry, and charts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import streamlit as st

from core import analytics, audit, exports, job_actions, read_models, result_report, users
from core.errors import LeadRelayError
from core.models import ACTIVE_JOB_STATUSES, Job, JobStatus, Role, User
from pages.common import (
    REFRESH_SECONDS,
    app,
    attempt,
    clock,
    duration,
    page_user,
    plain,
    rerun_fragment,
    short_clock,
    show_toasts,
)

ctx = app()
user = page_user()
is_admin = user.role == Role.ADMIN
# A notification's link (APP_BASE_URL/history?job=<id>) opens that job once; job_detail refuses anyone else's.
if (linked := st.query_params.get("job")) is not None:
    if linked.isascii() and linked.isdigit() and len(linked) <= 19:
        st.session_state["hist_selected"] = int(linked)
    del st.query_params["job"]
PER_PAGE = 25

st.title("History")

# -- filters (outside the refreshing parts, so half-typed text is never disturbed) ---------------------
s1, s2 = st.columns([5, 1])
search = s1.text_input(
    "Search", key="hist_search", placeholder="file name, company or job id", icon=":material/search:"
)
s2.number_input(
    "Open job #",
    min_value=1,
    step=1,
    value=None,
    key="hist_job_id",
    placeholder="id",
    on_change=lambda: _open_typed_id(),
)
f1, f2, f3 = st.columns(3)
statuses = f1.multiselect("Status", [s.value for s in JobStatus], key="hist_status", placeholder="any status")
today = datetime.now(UTC).date()
dates = f2.date_input("Created between", value=(today - timedelta(days=30), today), key="hist_dates")
owner_id = None
if is_admin:
    with ctx.db.read() as session:
        analysts = users.names(session)
    owner_id = f3.selectbox(
        "Analyst", [None, *analysts], format_func=lambda i: "everyone" if i is None else analysts[i], key="hist_owner"
    )

since = until = None
if isinstance(dates, tuple) and len(dates) == 2:
    since = datetime.combine(dates[0], datetime.min.time(), UTC)
    until = datetime.combine(dates[1], datetime.min.time(), UTC) + timedelta(days=1)
flt = read_models.HistoryFilter(statuses=tuple(statuses), since=since, until=until, owner_id=owner_id, search=search)
cursors: list[int | None] = st.session_state.setdefault(f"hist_cursors_{hash(flt)}", [None])


def _select_row(key: str) -> None:
    """Turn the table's row selection into a job id at once (rows move when the list refreshes)."""
    rows = st.session_state[key].selection.rows
    # The ids the table showed under this key: a late event from a table already replaced maps to its own rows.
    ids = st.session_state.get(f"{key}_ids", [])
    if rows and rows[0] < len(ids):
        st.session_state["hist_selected"] = ids[rows[0]]


def _open_typed_id() -> None:
    typed = st.session_state.get("hist_job_id")
    if typed:
        st.session_state["hist_selected"] = int(typed)


def job_list() -> None:
    """One page of the jobs the user may see, newest first, with row selection and paging."""
    with ctx.db.read() as session:
        page = read_models.history(session, user, flt, before_id=cursors[-1], per_page=PER_PAGE)
    if not page.jobs:
        st.caption("No job matches.")
    else:
        ids = [j.id for j in page.jobs]
        # The key follows the rows shown: when they move, the stale row selection is dropped, not moved.
        key = f"hist_table_{hash(tuple(ids))}"
        st.session_state[f"{key}_ids"] = ids
        st.dataframe(
            [
                {
                    "job": j.id,
                    "file": j.file_name,
                    "companies": j.companies[:80],
                    **({"analyst": page.owners.get(j.owner_id, "?")} if is_admin else {}),
                    "status": j.status,
                    "done": j.percentage / 100,
                    "enriched": f"{j.completed_leads} of {j.total_leads}",
                    "created": short_clock(j.created_at),
                    "took": duration((j.finished_at - j.created_at).total_seconds()) if j.finished_at else "—",
                }
                for j in page.jobs
            ],
            hide_index=True,
            width="stretch",
            key=key,
            on_select=lambda: _select_row(key),
            selection_mode="single-row",
            # Widths that fit 1280 px without a horizontal scroll: the company and the times stay in view.
            column_config={
                "job": st.column_config.NumberColumn("job", format="#%d", width=50),
                "file": st.column_config.TextColumn("file", width=150 if is_admin else 180),
                "companies": st.column_config.TextColumn("companies", width=130 if is_admin else 170),
                "analyst": st.column_config.TextColumn("analyst", width=70),
                "status": st.column_config.TextColumn("status", width=75),
                "done": st.column_config.ProgressColumn("done", min_value=0, max_value=1, format="percent", width=75),
                "enriched": st.column_config.TextColumn("enriched", width=75),
                "created": st.column_config.TextColumn("created", width=90),
                "took": st.column_config.TextColumn("took", width=55),
            },
        )
    p1, p2, p3 = st.columns([1, 1, 5], vertical_alignment="center")
    if len(cursors) > 1 and p1.button("Newer", key="hist_newer", icon=":material/chevron_left:"):
        cursors.pop()
        rerun_fragment()
    if page.has_more and p2.button("Older", key="hist_older", icon=":material/chevron_right:", icon_position="right"):
        cursors.append(page.jobs[-1].id)
        rerun_fragment()
    p3.caption(f"Page {len(cursors)} · newest first · select a row to open its detail")


def _retry(job_id: int, *, unmatched_only: bool) -> None:
    """Queue a finished job's failed (or unmatched) leads again."""
    queued = attempt(
        lambda: job_actions.retry_failed_leads(ctx.db, ctx.doorbell, user, job_id, unmatched_only=unmatched_only)
    )
    if queued is not None:
        st.toast(f"{queued} leads of job #{job_id} queued again.", icon=":material/replay:")


def _export(job_id: int, fmt: Literal["xlsx", "csv"], failed_only: bool) -> Callable[[], bytes]:
    """The download's bytes, built only when the button is pressed (with the permission check)."""

    def build() -> bytes:
        with ctx.db.read() as session:
            return exports.job_export(session, user, job_id, fmt, failed_only=failed_only)[1]

    return build


def _report(job_id: int) -> Callable[[], bytes]:
    """The validation report's bytes, built when the button is pressed."""

    def build() -> bytes:
        with ctx.db.read() as session:
            return read_models.validation_report(session, user, job_id)[1]

    return build


def _downloads(job: Job) -> None:
    """The enriched leads, the failed rows only, the validation report."""
    downloads: tuple[tuple[Literal["xlsx", "csv"], bool, str], ...] = (
        ("xlsx", False, "Enriched (.xlsx)"),
        ("csv", False, "Enriched (.csv)"),
        ("xlsx", True, "Failed rows only (.xlsx)"),
    )
    for fmt, failed_only, label in downloads:
        st.download_button(
            label,
            _export(job.id, fmt, failed_only),
            file_name=exports.download_name(job.file_name, job.id, "failed" if failed_only else "enriched", fmt),
            mime=exports.MEDIA_TYPES[fmt],
            key=f"dl_{job.id}_{fmt}_{failed_only}",
            icon=":material/download:",
            on_click="ignore",
            help=exports.CSV_HELP if fmt == "csv" else None,
        )
    st.download_button(
        "Validation report (.csv)",
        _report(job.id),
        file_name=exports.download_name(job.file_name, job.id, "validation", "csv"),
        mime="text/csv",
        key=f"dl_{job.id}_report",
        icon=":material/fact_check:",
        on_click="ignore",
    )


def _retries(job: Job, result: result_report.ResultReport) -> None:
    """Send the failed leads again, or only the unmatched ones."""
    if not job.failed_leads or job.status in ACTIVE_JOB_STATUSES:
        return
    if st.button("Retry failed leads", key=f"retry_{job.id}", icon=":material/replay:", type="primary"):
        _retry(job.id, unmatched_only=False)
    if result.unmatched and st.button(
        f"Retry the unmatched only ({result.unmatched})",
        key=f"retry_unmatched_{job.id}",
        icon=":material/person_search:",
        help="The leads no profile came back for; not the private ones, which another try does not change.",
    ):
        _retry(job.id, unmatched_only=True)


def _result(result: result_report.ResultReport) -> None:
    """Every row of the file, counted by what became of it, and how full the profiles are."""
    parts = [
        ("Enriched", result.enriched),
        ("Reused", result.reused),
        ("Not found", result.not_found),
        ("Private or unavailable", result.private),
        ("Invalid rows", result.invalid),
        ("Duplicates in the file", result.duplicates),
        ("Cancelled", result.cancelled),
        ("Still to do", result.waiting),
        *((f"Failed: {reason}", n) for reason, n in result.failed),
    ]
    left, right = st.columns([3, 2])
    with left:
        st.markdown(f"**What became of the {result.rows:,} rows of the file**")
        st.table([{"result": plain(label), "rows": n} for label, n in parts if n])
    with right:
        st.markdown(f"**Profile fields filled** (of {result.profiles_sampled:,} profiles)")
        st.table([{"field": label, "filled": f"{rate:.0%}"} for label, rate in result.fill_rates.items()])


def _tabs(detail: read_models.JobDetail) -> None:
    """The leads, the batches and the audit trail, in words (the ids and codes for admins)."""
    job = detail.job
    leads_tab, runs_tab, audit_tab = st.tabs(
        [f"Leads ({min(len(detail.leads), job.total_leads or len(detail.leads))})", "Batches", "What happened"]
    )
    with leads_tab:
        st.dataframe(
            [
                {
                    "row": lead.row_number,
                    "company": lead.company,
                    "status": lead.status,
                    "name": (lead.profile or {}).get("fullName") or "",
                    "title": (lead.profile or {}).get("linkedinJobTitle") or (lead.profile or {}).get("jobTitle") or "",
                    "why": lead.error or "",
                    "linkedin": lead.linkedin_url,
                }
                for lead in detail.leads
            ],
            hide_index=True,
            width="stretch",
            column_config={"linkedin": st.column_config.LinkColumn("linkedin", width="small")},
        )
        if len(detail.leads) >= 200:
            st.caption("The first 200 leads in file order; download the file for all of them.")
    with runs_tab:
        st.dataframe(
            [
                {
                    "batch": r.seq,
                    "company": r.company,
                    "leads": r.lead_count,
                    "status": r.status,
                    "tries": r.attempts,
                    "started": clock(r.launched_at),
                    "took": duration((r.ended_at - r.launch_requested_at).total_seconds())
                    if r.ended_at and r.launch_requested_at
                    else "—",
                    "why": r.dead_reason or r.error_message or "",
                    **({"run": r.id, "container": r.container_id or "", "exit": r.exit_code} if is_admin else {}),
                }
                for r in detail.runs
            ],
            hide_index=True,
            width="stretch",
        )
    with audit_tab:
        for event in detail.audit:
            st.markdown(f"{clock(event.at)} · {plain(audit.sentence(event.action, event.details))}")
            if is_admin:
                with st.expander("Details (admin)", expanded=False):
                    st.caption(f"{event.actor} · {event.action}")
                    st.json(event.details, expanded=False)


def job_detail(job_id: int) -> None:
    """A job's figures, its result report, downloads, retries, and its leads, batches and history."""
    try:
        with ctx.db.read() as session:
            detail = read_models.job_detail(session, user, job_id)
            result = result_report.report(session, user, job_id)
    except LeadRelayError as exc:
        st.error(plain(exc.message), icon=":material/visibility_off:")
        return
    job = detail.job
    with st.container(border=True, key="job_detail"):
        st.markdown(
            f"#### #{job.id} · {plain(job.file_name)}\n"
            f"{f'by **{plain(detail.owner)}** · ' if is_admin else ''}**{job.status}** · created {clock(job.created_at)}"
            + (f" · finished {clock(job.finished_at)}" if job.finished_at else "")
        )
        st.progress(min(1.0, job.percentage / 100), text=f"{job.percentage:.0f}%")
        m = st.columns(4)
        m[0].metric("Leads sent", job.total_leads)
        m[1].metric("Enriched", job.completed_leads)
        m[2].metric("Reused", result.reused)
        m[3].metric("No profile", job.failed_leads)
        if job.error_message:
            st.warning(plain(job.error_message), icon=":material/error:")
        with st.container(horizontal=True):
            _downloads(job)
            _retries(job, result)
        if job.finished_at is not None:
            _result(result)
        _tabs(detail)


@st.cache_data(ttl=60, show_spinner=False)
def _chart_data(user_id: int, days: int, _user: User) -> analytics.Charts:
    """The charts' data, computed at most once a minute per user and window."""
    with ctx.db.read() as session:
        return analytics.charts(session, _user, days)


def charts() -> None:
    """Jobs and leads per day, run durations and failures by reason over the last 7 or 30 days."""
    days = st.segmented_control(
        "Window", [7, 30], default=7, required=True, format_func=lambda d: f"Last {d} days", key="hist_days"
    )
    data = _chart_data(user.id, days or 7, user)
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Jobs per day**")
        st.bar_chart(
            {"day": [d.day for d in data.days], "jobs": [d.jobs for d in data.days]}, x="day", y="jobs", height=220
        )
        st.markdown("**Leads per day**")
        st.bar_chart(
            {
                "day": [d.day for d in data.days],
                "enriched": [d.enriched for d in data.days],
                "failed": [d.failed for d in data.days],
            },
            x="day",
            y=["enriched", "failed"],
            color=["#2e7d32", "#c62828"],
            height=220,
        )
    with c2:
        st.markdown("**Run duration (seconds, median and 90th percentile)**")
        st.line_chart(
            {
                "day": [d.day for d in data.run_days],
                "median": [d.median_seconds for d in data.run_days],
                "p90": [d.p90_seconds for d in data.run_days],
            },
            x="day",
            y=["median", "p90"],
            height=220,
        )
        st.markdown("**Failed leads by reason**")
        if data.reasons:
            st.bar_chart(
                {"reason": [r.reason[:70] for r in data.reasons], "leads": [r.leads for r in data.reasons]},
                x="reason",
                y="leads",
                horizontal=True,
                height=220,
            )
        else:
            st.caption("No failed lead in this window.")


@st.fragment(run_every=REFRESH_SECONDS)
def jobs_and_detail() -> None:
    """The refreshing part: the job list and the selected job's detail (a row click reruns only this)."""
    show_toasts()
    job_list()
    selected = st.session_state.get("hist_selected")
    if selected:
        job_detail(int(selected))


jobs_and_detail()
with st.expander(":material/bar_chart: Trends", expanded=False):
    charts()
