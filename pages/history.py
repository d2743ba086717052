"""History: every job the user may see, filtered and searched, with details, downloads and retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st
from sqlalchemy import select

from core import exports, jobs, views
from core.errors import LeadRelayError
from core.models import JobStatus, Role, User
from pages.common import REFRESH_SECONDS, app, attempt, clock, current_user, duration

ctx = app()
user = current_user()
assert user is not None
is_admin = user.role == Role.ADMIN

st.title("History")

f1, f2, f3, f4 = st.columns([2, 2, 2, 3])
statuses = f1.multiselect("Status", [s.value for s in JobStatus], key="hist_status")
today = datetime.now(UTC).date()
dates = f2.date_input("Created between", value=(today - timedelta(days=30), today), key="hist_dates")
owner_id = None
if is_admin:
    with ctx.db.read() as session:
        analysts = dict(session.execute(select(User.id, User.name).order_by(User.name)).all())
    owner_id = f3.selectbox(
        "Analyst", [None, *analysts], format_func=lambda i: "everyone" if i is None else analysts[i], key="hist_owner"
    )
search = f4.text_input("Search file name, company or job id", key="hist_search")

since = until = None
if isinstance(dates, tuple) and len(dates) == 2:
    since = datetime.combine(dates[0], datetime.min.time(), UTC)
    until = datetime.combine(dates[1], datetime.min.time(), UTC) + timedelta(days=1)
flt = views.HistoryFilter(statuses=tuple(statuses), since=since, until=until, owner_id=owner_id, search=search)
cursor_stack: list[int | None] = st.session_state.setdefault("hist_cursors", [None])


@st.fragment(run_every=REFRESH_SECONDS)
def job_list() -> None:
    with ctx.db.read() as session:
        page = views.history(session, user, flt, before_id=cursor_stack[-1])
    if not page.jobs:
        st.caption("No job matches.")
        return
    st.table(
        [
            {
                "job": f"#{j.id}",
                "file": j.file_name,
                "analyst": page.owners.get(j.owner_id, "?"),
                "status": j.status,
                "leads": f"{j.completed_leads}/{j.total_leads}",
                "failed": j.failed_leads,
                "progress": f"{j.percentage:.0f}%",
                "created": clock(j.created_at),
                "took": duration((j.finished_at - j.created_at).total_seconds()) if j.finished_at else "—",
            }
            for j in page.jobs
        ]
    )
    p1, p2, _ = st.columns([1, 1, 6])
    if len(cursor_stack) > 1 and p1.button("Newer", key="hist_newer"):
        cursor_stack.pop()
        st.rerun()
    if page.has_more and p2.button("Older", key="hist_older"):
        cursor_stack.append(page.jobs[-1].id)
        st.rerun()


job_list()

st.subheader("Job detail")
job_id = st.number_input("Job id", min_value=1, step=1, value=None, key="hist_job_id", placeholder="e.g. 12")
if job_id:
    try:
        with ctx.db.read() as session:
            detail = views.job_detail(session, user, int(job_id))
    except LeadRelayError as exc:
        st.error(exc.message)
        st.stop()
    job = detail.job
    st.markdown(f"**#{job.id} · {job.file_name}** by {detail.owner} · {job.status} · {job.percentage:.0f}%")
    if job.error_message:
        st.warning(job.error_message)
    d1, d2, d3 = st.columns(3)
    for col, fmt, failed_only, label in (
        (d1, "xlsx", False, "Download enriched (.xlsx)"),
        (d2, "csv", False, "Download enriched (.csv)"),
        (d3, "xlsx", True, "Download failed rows only"),
    ):
        with ctx.db.read() as session:
            name, data = exports.job_export(session, user, job.id, fmt, failed_only=failed_only)
        col.download_button(label, data, file_name=name, mime=exports.MEDIA_TYPES[fmt], key=f"dl_{fmt}_{failed_only}")
    if job.failed_leads and job.status not in ("pending", "running") and st.button("Retry failed leads"):

        def _retry() -> int:
            with ctx.db.write() as session:
                return jobs.retry_failed_leads(session, user, job.id)

        if attempt(_retry, success="Failed leads queued again.") is not None:
            import worker

            worker.ring("dispatch")
    tabs = st.tabs(["Leads", "Runs", "Audit trail"])
    with tabs[0]:
        st.dataframe(
            [
                {
                    "row": lead.row_number,
                    "company": lead.company,
                    "linkedin": lead.linkedin_url,
                    "status": lead.status,
                    "name": (lead.profile or {}).get("fullName"),
                    "title": (lead.profile or {}).get("linkedinJobTitle"),
                    "error": lead.error,
                }
                for lead in detail.leads
            ],
            hide_index=True,
            use_container_width=True,
        )
    with tabs[1]:
        st.dataframe(
            [
                {
                    "run": r.id,
                    "batch": r.seq,
                    "company": r.company,
                    "leads": r.lead_count,
                    "status": r.status,
                    "container": r.container_id,
                    "attempts": r.attempts,
                    "launched": clock(r.launched_at),
                    "took": duration((r.ended_at - r.launch_requested_at).total_seconds())
                    if r.ended_at and r.launch_requested_at
                    else "—",
                    "exit": r.exit_code,
                    "end": r.exit_message,
                    "reason": r.dead_reason or r.error_message,
                }
                for r in detail.runs
            ],
            hide_index=True,
            use_container_width=True,
        )
    with tabs[2]:
        for event in detail.audit:
            with st.expander(f"{clock(event.at)} · {event.actor} · {event.action}"):
                st.json(event.details, expanded=False)
