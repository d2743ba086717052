"""Task Manager: the PhantomBuster slot lane, active jobs with progress, the queue with ETAs, and actions."""

from __future__ import annotations

import streamlit as st

from core import job_actions, queue, queue_controls, read_models
from core.models import Job, JobStatus, Role, utcnow
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

SLOT_LABELS = {
    "running": ":green-badge[:material/play_circle: Running]",
    "launching": ":blue-badge[:material/rocket_launch: Launching]",
    "idle": ":gray-badge[:material/radio_button_unchecked: Idle]",
    "paused": ":orange-badge[:material/pause: Paused]",
    "blocked": ":red-badge[:material/block: Blocked]",
}
STATUS_BADGES = {
    JobStatus.PENDING: ":gray-badge[:material/schedule: queued]",
    JobStatus.RUNNING: ":blue-badge[:material/sync: running]",
    JobStatus.COMPLETED: ":green-badge[:material/check: completed]",
    JobStatus.FAILED: ":red-badge[:material/error: failed]",
    JobStatus.CANCELLED: ":gray-badge[:material/cancel: cancelled]",
}
ADMIN_ACTIONS = {
    "pause": ("Pause queue", ":material/pause:", "Pause the queue? The run in flight finishes; nothing new launches."),
    "resume": ("Resume queue", ":material/play_arrow:", "Resume the queue? Queued runs launch again."),
    "restart": (
        "Restart stuck processing",
        ":material/restart_alt:",
        "Restart stuck processing? The lease expires now and every run in flight is checked at once.",
    ),
    "release": (
        "Release slot",
        ":material/lock_open:",
        "Release the slot? Use this only when PhantomBuster is known to be running nothing for LeadRelay.",
    ),
}


def _clear_confirm() -> None:
    st.session_state.pop("tm_confirm", None)


@st.dialog("Cancel job", on_dismiss=_clear_confirm)
def confirm_cancel(job_id: int, file_name: str) -> None:
    """Ask before cancelling a job; a run in flight is stopped."""
    st.write(
        f"Cancel job **#{job_id}** ({plain(file_name)})? Leads not yet sent are dropped; a run in flight is stopped."
    )
    left, right = st.columns(2)
    if left.button("Cancel the job", type="primary", icon=":material/cancel:", key="confirm_cancel"):

        def _cancel() -> bool:
            job_actions.cancel_job(ctx.db, ctx.doorbell, user, job_id)
            return True

        if attempt(_cancel, success=f"Job #{job_id} cancelled.") is not None:
            _clear_confirm()
            st.rerun()
    if right.button("Keep it", key="keep_job"):
        _clear_confirm()
        st.rerun()


@st.dialog("Confirm admin action", on_dismiss=_clear_confirm)
def confirm_admin(action: str) -> None:
    """Ask before an admin queue action; it is audited."""
    label, icon, text = ADMIN_ACTIONS[action]
    st.write(text)
    st.caption("The action is recorded in the audit log with your name.")
    left, right = st.columns(2)
    if left.button(label, type="primary", icon=icon, key="confirm_admin"):

        def _do() -> bool:
            control = {
                "pause": queue_controls.pause,
                "resume": queue_controls.resume,
                "restart": queue_controls.restart_stuck,
                "release": queue_controls.release_slot,
            }[action]
            control(ctx.db, ctx.doorbell, user)
            return True

        if attempt(_do, success=f"{label}: done.") is not None:
            _clear_confirm()
            st.rerun()
    if right.button("Back", key="admin_back"):
        _clear_confirm()
        st.rerun()


def _retry(job_id: int) -> None:
    """Queue a finished job's failed leads again."""

    attempt(
        lambda: job_actions.retry_failed_leads(ctx.db, ctx.doorbell, user, job_id),
        success=f"Failed leads of job #{job_id} queued again.",
    )


@st.fragment(run_every=REFRESH_SECONDS)
def slot_lane() -> None:
    """What the one PhantomBuster slot is doing now."""
    now = utcnow()
    with ctx.db.read() as session:
        view = read_models.slot_lane(session, user, now)
    with st.container(border=True, key="slot_lane"):
        c1, c2, c3, c4 = st.columns([2, 3, 3, 2], vertical_alignment="center")
        c1.markdown(f"**PhantomBuster slot**  \n{SLOT_LABELS.get(view.state, view.state)}")
        if view.run_id is not None:
            c2.markdown(f"**{plain(view.company or '(no company)')}**  \njob #{view.job_id} · run #{view.run_id}")
            c3.markdown(f"container `{view.container_id or '…'}`  \nelapsed **{duration(view.elapsed_seconds)}**")
        elif view.elapsed_seconds is not None:
            c2.markdown(f"Busy with {view.reason}")
            c3.markdown(f"elapsed **{duration(view.elapsed_seconds)}**")
        elif view.reason:
            c2.markdown(plain(view.reason))
        elif view.idle_since is not None:
            c2.markdown(f"Idle since {clock(view.idle_since)}")
        else:
            c2.markdown("Idle: nothing is queued.")
        if is_admin:
            c4.caption(f"fence {view.fence}")


def _eta(place: queue.JobPlace) -> str:
    return (
        f":material/schedule: ETA **{short_clock(place.eta.likely)}** · 80% band "
        f"{short_clock(place.eta.low)} – {short_clock(place.eta.high)} UTC"
    )


def _card(job: Job, place: queue.JobPlace | None, running_job_id: int | None) -> None:
    """One job as a card: progress, counts, queue place, ETA and its action."""
    with st.container(border=True, key=f"job_card_{job.id}"):
        head, action = st.columns([6, 1], vertical_alignment="center")
        head.markdown(
            f"**#{job.id} · {plain(job.file_name)}** {STATUS_BADGES.get(job.status, job.status)}  \n"
            f":gray[{plain(job.companies[:160])}]"
        )
        if job.finished_at is None:
            if action.button("Cancel", key=f"cancel_{job.id}", icon=":material/cancel:"):
                st.session_state["tm_confirm"] = ("cancel", job.id, job.file_name)
                st.rerun()
        elif job.failed_leads and action.button("Retry failed", key=f"retry_{job.id}", icon=":material/replay:"):
            _retry(job.id)
            rerun_fragment()
        done = job.completed_leads + job.failed_leads
        st.progress(
            min(1.0, job.percentage / 100),
            text=f"{job.percentage:.0f}% · {done} of {job.total_leads} leads · batch {job.current_batch} of "
            f"{job.total_batches}",
        )
        if job.finished_at is not None:
            where = f"finished {short_clock(job.finished_at)}"
        elif job.id == running_job_id:
            where = "**running now**" + (f", next batch is #{place.position} in the queue" if place else "")
        elif place is not None and place.position > 0:
            where = f"queue position **{place.position}** ({place.runs_left} runs waiting)"
        else:
            where = "waiting"
        st.markdown(
            f":gray[Enriched] **{job.completed_leads} / {job.total_leads}** · :gray[Failed] **{job.failed_leads}** · "
            f":gray[Batch] **{job.current_batch} of {job.total_batches}** · {where}"
        )
        if place is not None and job.finished_at is None:
            st.caption(_eta(place))
        if job.error_message:
            st.caption(f":red[:material/error: {plain(job.error_message)}]")


@st.fragment(run_every=REFRESH_SECONDS)
def active_jobs() -> None:
    """The active job cards (finished ones linger 5 s) and the queue with ETAs."""
    show_toasts()
    now = utcnow()
    with ctx.db.read() as session:
        rows = read_models.active_jobs(session, user, now)
        snap = queue.snapshot(session, default_run_seconds=ctx.settings.expected_run_seconds, now=now)
        running_job_id = read_models.slot_lane(session, user, now).job_id
    active = [j for j in rows if j.finished_at is None]
    st.subheader(f"Active jobs ({len(active)})")
    if not rows:
        st.caption("Nothing is queued or running. Upload a lead file to start.")
    for job in rows:
        _card(job, snap.places.get(job.id), running_job_id)

    st.subheader("Queue")
    queued = sorted(
        ((snap.places[j.id], j) for j in active if j.id in snap.places and snap.places[j.id].position > 0),
        key=lambda item: item[0].position,
    )
    if queued:
        st.table(
            [
                {
                    "position": place.position,
                    "job": f"#{job.id}",
                    "file": plain(job.file_name),
                    "runs waiting": place.runs_left,
                    "ETA (UTC)": short_clock(place.eta.likely),
                    "80% band": f"{short_clock(place.eta.low)} – {short_clock(place.eta.high)}",
                }
                for place, job in queued
            ]
        )
    else:
        st.caption("No job of yours is waiting for the slot." if not is_admin else "No job is waiting for the slot.")
    if snap.eta_all is not None:
        st.caption(
            f"{snap.pending_runs} runs queued in all; the queue should be empty around {clock(snap.eta_all.likely)} "
            f"(runs take about {duration(snap.stats.median)} each"
            + (f", measured on {snap.stats.samples} runs)." if snap.stats.samples else ", a first guess).")
        )


st.title("Task Manager")
slot_lane()
if is_admin:
    with st.container(horizontal=True):
        for action, (label, icon, _) in ADMIN_ACTIONS.items():
            if st.button(label, icon=icon, key=f"admin_{action}"):
                st.session_state["tm_confirm"] = (action,)
active_jobs()

pending = st.session_state.get("tm_confirm")
if pending and pending[0] == "cancel":
    confirm_cancel(pending[1], pending[2])
elif pending and is_admin:
    confirm_admin(pending[0])
