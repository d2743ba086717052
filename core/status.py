"""What the slot is doing right now, for the slot lane, the status API and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import forecast, waiting
from core.config import Settings
from core.lifecycle import slot as slots
from core.models import Run, RunStatus, utcnow
from core.wait_reasons import Waiting


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


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _waiting_json(waiting: Waiting | None, zone: ZoneInfo, now: datetime) -> dict[str, Any] | None:
    if waiting is None:
        return None
    return {"reason": str(waiting.reason), "text": waiting.sentence(zone, now), "clears_at": _iso(waiting.clears_at)}


def phantom_status(session: Session, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """The seed's `GET /api/phantom_buster/status` answer, plus the slot, why work waits, and each job's ETA."""
    now = now or utcnow()
    view = slot_view(session, now)
    reason, decision = waiting.for_slot(session, settings, now)
    plan = forecast.forecast(session, settings, now)
    job_reasons = waiting.for_jobs(session, settings, plan.jobs, now)
    return {
        "is_processing": view.run_id is not None,
        "current_company": view.company,
        "queue_length": plan.pending_runs,
        "current_job_duration": round(view.elapsed_seconds) if view.elapsed_seconds is not None else None,
        "estimated_completion": _iso(plan.queue_empty_at.likely) if plan.queue_empty_at else None,
        "estimates_measured": plan.measured,
        "waiting": _waiting_json(reason, decision.zone, now),
        "today": {"sent": decision.sent_today, "left": decision.budget_left, "time_zone": decision.zone.key},
        "slot": {
            "state": view.state,
            "run_id": view.run_id,
            "job_id": view.job_id,
            "container_id": view.container_id,
            "fence": view.fence,
            "lease_expires_at": _iso(view.lease_expires_at),
            "reason": view.reason,
        },
        "jobs": [
            {
                "job_id": job_id,
                "position": place.position,
                "runs_left": place.runs_left,
                "estimated_completion": _iso(place.eta.likely),
                "band": [_iso(place.eta.low), _iso(place.eta.high)],
                "waiting": _waiting_json(job_reasons.get(job_id), decision.zone, now),
            }
            for job_id, place in sorted(plan.jobs.items(), key=lambda item: item[1].position)
        ][:100],
    }


def runs_by_status(session: Session) -> dict[str, int]:
    """How many runs are in each status (an index-only count, for metrics)."""
    return {status: n for status, n in session.execute(select(Run.status, func.count()).group_by(Run.status))}
