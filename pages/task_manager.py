"""Task Manager: the PhantomBuster slot lane, active jobs with progress, queue positions, ETAs and actions."""

from __future__ import annotations

import streamlit as st

from core import admin, jobs, queue, status, views
from core.models import JobStatus, Role, utcnow
from pages.common import REFRESH_SECONDS, app, attempt, clock, current_user, duration

ctx = app()
user = current_user()
assert user is not None
is_admin = user.role == Role.ADMIN

st.title("Task Manager")

SLOT_LABELS = {
    "running": ":green-badge[:material/play_circle: Running]",
    "launching": ":blue-badge[:material/rocket_launch: Launching]",
    "waiting_for_webhook": ":orange-badge[:material/hourglass_top: Waiting for webhook]",
    "idle": ":gray-badge[:material/pause_circle: Idle]",
    "paused": ":orange-badge[:material/pause: Paused]",
    "blocked": ":red-badge[:material/block: Blocked]",
}


@st.dialog("Cancel job")
def confirm_cancel(job_id: int, file_name: str) -> None:
    st.write(f"Cancel job #{job_id} ({file_name})? Leads not yet sent are dropped; a run in flight is stopped.")
    if st.button("Cancel the job", type="primary"):

        def _cancel() -> int | None:
            with ctx.db.write() as session:
                return jobs.cancel_job(session, user, job_id)

        in_flight = attempt(_cancel)
        if in_flight is not None:
            import worker

            worker.ring("stop_run", in_flight)
        st.rerun()


@st.dialog("Confirm admin action")
def confirm_admin(action: str) -> None:
    texts = {
        "pause": "Pause the queue? The run in flight finishes; nothing new launches until you resume.",
        "resume": "Resume the queue?",
        "restart": "Restart stuck processing? The lease expires now and every run in flight is checked at once.",
        "release": "Release the slot? Use this only when PhantomBuster is known to run nothing for us.",
    }
    st.write(texts[action])
    if st.button("Confirm", type="primary"):

        def _do() -> None:
            with ctx.db.write() as session:
                {
                    "pause": admin.pause,
                    "resume": admin.resume,
                    "restart": admin.restart_stuck,
                    "release": admin.release_slot,
                }[action](session, user)

        attempt(_do, success="Done; the action is in the audit log.")
        import worker

        worker.ring("reconcile")
        st.rerun()


@st.fragment(run_every=REFRESH_SECONDS)
def slot_lane() -> None:
    now = utcnow()
    with ctx.db.read() as session:
        view = status.slot_view(session, now)
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([2, 3, 3, 2])
        c1.markdown(f"**PhantomBuster slot**  \n{SLOT_LABELS.get(view.state, view.state)}")
        if view.run_id is not None:
            c2.markdown(f"**{view.company or '(no company)'}**  \njob #{view.job_id} · run #{view.run_id}")
            c3.markdown(f"container `{view.container_id or '…'}`  \nelapsed {duration(view.elapsed_seconds)}")
        elif view.reason:
            c2.markdown(view.reason)
        else:
            c2.markdown(f"idle since {clock(view.idle_since)}")
        c4.caption(f"fence {view.fence}")


def _toasts(now) -> None:
    since = st.session_state.setdefault("toast_since", now)
    with ctx.db.read() as session:
        ended = views.finished_since(session, user, 0, since)
    seen = st.session_state.setdefault("toasted", set())
    for job in ended:
        if job.id in seen:
            continue
        seen.add(job.id)
        if job.status == JobStatus.COMPLETED:
            st.toast(
                f"✅ Enrichment completed for {job.file_name}: {job.completed_leads} leads enriched",
                icon=":material/check_circle:",
            )
        elif job.status == JobStatus.FAILED:
            st.toast(f"❌ Enrichment failed for {job.file_name}: {job.error_message or ''}", icon=":material/error:")


@st.fragment(run_every=REFRESH_SECONDS)
def active_jobs() -> None:
    now = utcnow()
    _toasts(now)
    with ctx.db.read() as session:
        rows = views.active_jobs(session, user, now)
        snap = queue.snapshot(session, default_run_seconds=ctx.settings.expected_run_seconds, now=now)
    st.subheader(f"Active jobs ({sum(1 for j in rows if j.finished_at is None)})")
    if not rows:
        st.caption("Nothing is queued. Upload a lead file to start.")
    for job in rows:
        place = snap.places.get(job.id)
        with st.container(border=True, key=f"job_card_{job.id}"):
            top, right = st.columns([5, 1])
            top.markdown(f"**#{job.id} · {job.file_name}** · :blue-badge[{job.status}]  \n{job.companies[:120]}")
            if job.finished_at is None and right.button("Cancel", key=f"cancel_{job.id}", icon=":material/cancel:"):
                confirm_cancel(job.id, job.file_name)
            st.progress(min(1.0, job.percentage / 100), text=f"{job.percentage:.0f}%")
            a, b, c, d = st.columns(4)
            a.metric("Leads done", f"{job.completed_leads} / {job.total_leads}")
            b.metric("Failed", job.failed_leads)
            c.metric("Batch", f"{job.current_batch} of {job.total_batches}")
            if place is not None and place.position > 0:
                d.metric(
                    "Queue position",
                    place.position,
                    help=f"{place.runs_left} runs waiting; ETA {clock(place.eta.low)} – {clock(place.eta.high)}",
                )
                st.caption(f"ETA {clock(place.eta.likely)} (80%: {clock(place.eta.low)} – {clock(place.eta.high)})")
            elif job.finished_at is None and place is not None:
                d.metric("Queue position", "running")
                st.caption(f"ETA {clock(place.eta.likely)}")
            if job.error_message:
                st.caption(f":red[{job.error_message}]")


slot_lane()
if is_admin:
    with st.container(horizontal=True):
        for action, label, icon in (
            ("pause", "Pause queue", ":material/pause:"),
            ("resume", "Resume queue", ":material/play_arrow:"),
            ("restart", "Restart stuck processing", ":material/restart_alt:"),
            ("release", "Release slot", ":material/lock_open:"),
        ):
            if st.button(label, icon=icon, key=f"admin_{action}"):
                confirm_admin(action)
active_jobs()
