"""History: every job the user may see, filtered and searched, a job's detail, downloads, retry, and charts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import streamlit as st

from core import analytics, exports, job_actions, read_models, users
from core.errors import LeadRelayError
from core.models import ACTIVE_JOB_STATUSES, JobStatus, Role, User
from pages.common import REFRESH_SECONDS, app, attempt, clock, duration, page_user, plain, rerun_fragment, show_toasts

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
    ids = st.session_state.get("hist_row_ids", [])
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
        st.session_state["hist_row_ids"] = ids
        # The key follows the rows shown: when they move, the stale row selection is dropped, not moved.
        key = f"hist_table_{hash(tuple(ids))}"
        st.dataframe(
            [
                {
                    "job": j.id,
                    "file": j.file_name,
                    **({"analyst": page.owners.get(j.owner_id, "?")} if is_admin else {}),
                    "status": j.status,
                    "progress": j.percentage / 100,
                    "enriched": j.completed_leads,
                    "failed": j.failed_leads,
                    "leads": j.total_leads,
                    "companies": j.companies[:80],
                    "created": clock(j.created_at),
                    "took": duration((j.finished_at - j.created_at).total_seconds()) if j.finished_at else "—",
                }
                for j in page.jobs
            ],
            hide_index=True,
            width="stretch",
            key=key,
            on_select=lambda: _select_row(key),
            selection_mode="single-row",
            column_config={
                "job": st.column_config.NumberColumn("job", format="#%d", width="small"),
                "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1, format="percent"),
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


def _retry(job_id: int) -> None:
    """Queue a finished job's failed leads again."""

    queued = attempt(lambda: job_actions.retry_failed_leads(ctx.db, ctx.doorbell, user, job_id))
    if queued is not None:
        st.toast(f"{queued} failed leads of job #{job_id} queued again.", icon=":material/replay:")


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


def job_detail(job_id: int) -> None:
    """A job's figures, downloads, retry, and its leads, runs and audit trail."""
    try:
        with ctx.db.read() as session:
            detail = read_models.job_detail(session, user, job_id)
    except LeadRelayError as exc:
        st.error(plain(exc.message), icon=":material/visibility_off:")
        return
    job = detail.job
    with st.container(border=True, key="job_detail"):
        st.markdown(
            f"#### #{job.id} · {plain(job.file_name)}\n"
            f"by **{plain(detail.owner)}** · **{job.status}** · created {clock(job.created_at)}"
            + (f" · finished {clock(job.finished_at)}" if job.finished_at else "")
        )
        st.progress(min(1.0, job.percentage / 100), text=f"{job.percentage:.0f}%")
        m = st.columns(5)
        m[0].metric("Leads sent", job.total_leads)
        m[1].metric("Enriched", job.completed_leads)
        m[2].metric("Failed", job.failed_leads)
        m[3].metric("Batches", f"{job.completed_batches} of {job.total_batches}")
        m[4].metric("Skipped (recent)", (job.report or {}).get("skipped_recent", 0))
        if job.error_message:
            st.warning(plain(job.error_message), icon=":material/error:")
        with st.container(horizontal=True):
            downloads: tuple[tuple[Literal["xlsx", "csv"], bool, str], ...] = (
                ("xlsx", False, "Enriched (.xlsx)"),
                ("csv", False, "Enriched (.csv)"),
                ("xlsx", True, "Failed rows only (.xlsx)"),
            )
            for fmt, failed_only, label in downloads:
                st.download_button(
                    label,
                    _export(job.id, fmt, failed_only),
                    file_name=exports.download_name(
                        job.file_name, job.id, "failed" if failed_only else "enriched", fmt
                    ),
                    mime=exports.MEDIA_TYPES[fmt],
                    key=f"dl_{job.id}_{fmt}_{failed_only}",
                    icon=":material/download:",
                    on_click="ignore",
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
            can_retry = job.failed_leads and job.status not in ACTIVE_JOB_STATUSES
            if can_retry and st.button(
                "Retry failed leads", key=f"retry_{job.id}", icon=":material/replay:", type="primary"
            ):
                _retry(job.id)
        leads_tab, runs_tab, audit_tab = st.tabs(
            [
                f"Leads ({min(len(detail.leads), job.total_leads or len(detail.leads))})",
                f"Runs ({len(detail.runs)})",
                "Audit trail",
            ]
        )
        with leads_tab:
            st.dataframe(
                [
                    {
                        "row": lead.row_number,
                        "company": lead.company,
                        "status": lead.status,
                        "error": lead.error or "",
                        "name": (lead.profile or {}).get("fullName") or "",
                        "title": (lead.profile or {}).get("linkedinJobTitle")
                        or (lead.profile or {}).get("jobTitle")
                        or "",
                        "linkedin": lead.linkedin_url,
                    }
                    for lead in detail.leads
                ],
                hide_index=True,
                width="stretch",
                column_config={"linkedin": st.column_config.LinkColumn("linkedin")},
            )
            if len(detail.leads) >= 200:
                st.caption("The first 200 leads in file order; download the file for all of them.")
        with runs_tab:
            st.dataframe(
                [
                    {
                        "run": r.id,
                        "batch": r.seq,
                        "company": r.company,
                        "leads": r.lead_count,
                        "status": r.status,
                        "container": r.container_id or "",
                        "attempts": r.attempts,
                        "launched": clock(r.launched_at),
                        "took": duration((r.ended_at - r.launch_requested_at).total_seconds())
                        if r.ended_at and r.launch_requested_at
                        else "—",
                        "exit": r.exit_code,
                        "end": r.exit_message or "",
                        "reason": r.dead_reason or r.error_message or "",
                    }
                    for r in detail.runs
                ],
                hide_index=True,
                width="stretch",
            )
        with audit_tab:
            for event in detail.audit:
                with st.expander(f"{clock(event.at)} · {event.actor} · {event.action}"):
                    st.json(event.details, expanded=False)


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
