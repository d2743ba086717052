"""What the slot is doing right now, for the slot lane, the status API and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import queue
from core.lifecycle import slot as slots
from core.models import Run, RunStatus, utcnow


@dataclass(frozen=True, slots=True)
class SlotView:
    """The slot lane: state is one of running, launching, idle, paused, blocked."""

    state: str
    run_id: int | None
    job_id: int | None
    company: str | None
    container_id: str | None
    elapsed_seconds: float | None
    fence: int
    lease_expires_at: datetime | None
    reason: str | None
    idle_since: datetime | None


def slot_view(session: Session, now: datetime | None = None) -> SlotView:
    """Read the slot row and the run holding it (two primary-key reads)."""
    now = now or utcnow()
    slot = slots.get(session)
    run = session.get(Run, slot.run_id) if slot.run_id is not None else None
    state, reason = "idle", None
    if run is not None:
        # What PhantomBuster confirmed, nothing more: a webhook changes nothing until the run's end is confirmed.
        state = "launching" if run.status == RunStatus.LAUNCHING else "running"
        if run.status == RunStatus.LAUNCHING and run.launch_unanswered_at is not None:
            reason = "PhantomBuster has not confirmed the launch yet; it is being looked up before any relaunch."
    elif slot.paused:
        state, reason = "paused", slot.pause_reason
    elif slot.blocked_until is not None and slot.blocked_until > now:
        state, reason = "blocked", slot.blocked_reason
    started = (run.launched_at or run.launch_requested_at) if run is not None else None
    return SlotView(
        state=state,
        run_id=run.id if run else None,
        job_id=run.job_id if run else None,
        company=run.company if run else None,
        container_id=run.container_id if run else None,
        elapsed_seconds=(now - started).total_seconds() if started else None,
        fence=slot.token,
        lease_expires_at=slot.expires_at,
        reason=reason,
        idle_since=slot.idle_since if run is None else None,
    )


def phantom_status(session: Session, *, default_run_seconds: float, now: datetime | None = None) -> dict[str, Any]:
    """The seed's `GET /api/phantom_buster/status` answer, plus the slot state."""
    now = now or utcnow()
    view = slot_view(session, now)
    snap = queue.snapshot(session, default_run_seconds=default_run_seconds, now=now)
    return {
        "is_processing": view.run_id is not None,
        "current_company": view.company,
        "queue_length": snap.pending_runs,
        "current_job_duration": round(view.elapsed_seconds) if view.elapsed_seconds is not None else None,
        "estimated_completion": snap.eta_all.likely.isoformat().replace("+00:00", "Z") if snap.eta_all else None,
        "slot": {
            "state": view.state,
            "run_id": view.run_id,
            "job_id": view.job_id,
            "container_id": view.container_id,
            "fence": view.fence,
            "lease_expires_at": view.lease_expires_at.isoformat() if view.lease_expires_at else None,
            "reason": view.reason,
        },
    }


def runs_by_status(session: Session) -> dict[str, int]:
    """How many runs are in each status (an index-only count, for metrics)."""
    return {status: n for status, n in session.execute(select(Run.status, func.count()).group_by(Run.status))}
