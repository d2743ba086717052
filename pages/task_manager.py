"""Task Manager: what PhantomBuster is doing, each job with its progress, place, reason to wait and ETA."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from core import board, job_actions, queue_controls, read_models
from core.models import JobStatus, Role, utcnow
from core.wait_reasons import Reason, when
from pages.common import REFRESH_SECONDS, app, attempt, clock, duration, page_user, plain, rerun_fragment, show_toasts

ctx = app()
user = page_user()
is_admin = user.role == Role.ADMIN

SLOT_LABELS = {
    "running": ":green-badge[:material/play_circle: Running]",
    "launching": ":blue-badge[:material/rocket_launch: Starting a run]",
    "idle": ":gray-badge[:material/radio_button_unchecked: Idle]",
    "paused": ":orange-badge[:material/pause: Paused]",
    "blocked": ":orange-badge[:material/hourglass_top: Waiting]",
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


def _when(moment) -> str:
    return when(moment, board_zone(), utcnow())


def board_zone():
    return st.session_state.get("tm_zone") or ZoneInfo("UTC")


def _lane(b: board.Board) -> None:
    """What the one PhantomBuster slot is doing now, and why nothing launches when nothing does."""
    view = b.lane
    with st.container(border=True, key="slot_lane"):
        c1, c2, c3 = st.columns([2, 5, 3], vertical_alignment="center")
        c1.markdown(f"**PhantomBuster**  \n{SLOT_LABELS.get(view.state, view.state)}")
        if view.run_id is not None:
            c2.markdown(f"**{plain(view.company or '(no company)')}** · job #{view.job_id}")
            c3.markdown(f"running for **{duration(view.elapsed_seconds)}**")
        elif view.elapsed_seconds is not None:
            c2.markdown("Busy with another analyst's run")
            c3.markdown(f"running for **{duration(view.elapsed_seconds)}**")
        elif b.lane_waiting is not None and b.lane_waiting.reason != Reason.RUNNING:
            c2.markdown(plain(b.lane_waiting.sentence(b.zone, b.now)))
        elif b.plan.pending_runs:
            c2.markdown("Launching the next batch.")
        else:
            c2.markdown("Nothing is queued.")
        st.caption(
            f"LinkedIn account today: {b.sent_today:,} of {b.allowance_today:,} profiles sent · times in {b.zone.key}"
        )
        if is_admin:
            with st.expander("Details (admin)", expanded=False):
                st.caption(
                    f"Run #{view.run_id or '—'} · container {view.container_id or '—'} · lease fence {view.fence}"
                    f" · lease until {clock(view.lease_expires_at)}"
                    + (f" · {plain(view.reason)}" if view.reason else "")
                )


def _eta_line(b: board.Board, card: board.Card) -> str | None:
    place = card.place
    if place is None or card.job.finished_at is not None:
        return None
    guess = "" if b.plan.measured else " (a first guess until runs have been timed)"
    if place.eta.high - place.eta.low < timedelta(minutes=2):
        return f":material/schedule: Expected done around **{_when(place.eta.likely)}**{guess}"
    return (
        f":material/schedule: Expected done around **{_when(place.eta.likely)}**, between "
        f"{_when(place.eta.low)} and {_when(place.eta.high)}{guess}"
    )


def _where(card: board.Card, running_job_id: int | None) -> str:
    job, place = card.job, card.place
    if job.finished_at is not None:
        return f"finished {_when(job.finished_at)}"
    if job.id == running_job_id:
        return "**PhantomBuster is working on it**"
    if place is not None and place.position > 0:
        batches = f"{place.runs_left} batch{'es' if place.runs_left != 1 else ''} to go"
        return f"number **{place.position}** in the queue, {batches}"
    return "waiting"


def _card(b: board.Board, card: board.Card, running_job_id: int | None) -> None:
    """One job as a card: progress, counts, place in the queue, why it waits, ETA and its action."""
    job = card.job
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
        st.progress(min(1.0, job.percentage / 100), text=f"{job.percentage:.0f}% · {done} of {job.total_leads} leads")
        st.markdown(
            f":gray[Enriched] **{job.completed_leads}** · :gray[Not found or failed] **{job.failed_leads}** · "
            f"{_where(card, running_job_id)}"
        )
        if card.waiting is not None and card.waiting.reason != Reason.RUNNING and job.finished_at is None:
            st.caption(f":material/hourglass_top: {plain(card.waiting.sentence(b.zone, b.now))}")
        eta = _eta_line(b, card)
        if eta:
            st.caption(eta)
        if job.error_message:
            st.caption(f":red[:material/error: {plain(job.error_message)}]")


@st.fragment(run_every=REFRESH_SECONDS)
def live_board() -> None:
    """The slot lane, the job cards (finished ones linger 5 s) and the queue with ETAs."""
    show_toasts()
    now = utcnow()
    with ctx.db.read() as session:
        b = board.board(session, ctx.settings, user, now)
    st.session_state["tm_zone"] = b.zone
    _lane(b)
    active, finished = b.active, b.just_finished
    counts = f"{len(active)} active" + (f", {len(finished)} just finished" if finished else "")
    st.subheader(f"Your jobs ({counts})" if not is_admin else f"Jobs ({counts})")
    if not b.cards:
        st.caption("Nothing is queued or running. Upload a lead file to start.")
    running_job_id = b.lane.job_id
    for card in b.cards:
        _card(b, card, running_job_id)

    st.subheader("Queue")
    queued = sorted((c for c in active if c.place is not None and c.place.position > 0), key=lambda c: c.place.position)
    if queued:
        st.table(
            [
                {
                    "place": card.place.position,
                    "job": f"#{card.job.id}",
                    "file": plain(card.job.file_name),
                    "batches to go": card.place.runs_left,
                    f"expected done ({b.zone.key})": _when(card.place.eta.likely),
                }
                for card in queued
            ]
        )
    else:
        st.caption("No job of yours is waiting for PhantomBuster." if not is_admin else "No job is waiting.")
    if b.plan.queue_empty_at is not None and b.plan.pending_runs:
        batches = f"{b.plan.pending_runs} batch{'es' if b.plan.pending_runs != 1 else ''}"
        pace = f"{b.plan.seconds_per_profile:.0f} s a profile"
        st.caption(
            f"{batches} queued in all; the queue should be empty around {_when(b.plan.queue_empty_at.likely)} "
            + (f"(measured: {pace})." if b.plan.measured else f"({pace} is a first guess until runs have been timed).")
        )


st.title("Task Manager")
if is_admin:
    with ctx.db.read() as session:
        paused = read_models.queue_paused(session)
    with st.container(horizontal=True):
        for action, (label, icon, _) in ADMIN_ACTIONS.items():
            if action == ("resume" if not paused else "pause"):
                continue  # only the control that applies
            if st.button(label, icon=icon, key=f"admin_{action}"):
                st.session_state["tm_confirm"] = (action,)
live_board()

pending = st.session_state.get("tm_confirm")
if pending and pending[0] == "cancel":
    confirm_cancel(pending[1], pending[2])
elif pending and is_admin:
    confirm_admin(pending[0])
