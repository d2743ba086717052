"""The stall watch: tells admins once when queued work stops moving, or PhantomBuster's webhooks stop arriving."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import notifications
from core.config import Settings
from core.lifecycle import inbox
from core.models import IN_FLIGHT_RUN_STATUSES, Run, RunStatus, Slot


def queue_stall(session: Session, now: datetime, *, stall_after: float, run_timeout: float) -> dict[str, Any] | None:
    """The facts of a stall, or None: runs are ready to launch but nothing launched or ended for `stall_after` s.

    A paused or rate-blocked slot is not a stall (someone or something chose it); a run in flight may take its
    timeout before anything ends, so it gets `run_timeout` on top.
    """
    slot = session.get(Slot, 1)
    if slot is not None and (slot.paused or (slot.blocked_until is not None and slot.blocked_until > now)):
        return None
    ready = (Run.status == RunStatus.PENDING) & (Run.not_before.is_(None) | (Run.not_before <= now))
    queued, oldest_ready = session.execute(
        select(func.count(), func.min(func.coalesce(Run.not_before, Run.created_at))).where(ready)
    ).one()
    if not queued:
        return None
    last_launch, last_end = session.execute(select(func.max(Run.launch_requested_at), func.max(Run.ended_at))).one()
    in_flight = session.scalar(select(func.count()).where(Run.status.in_(IN_FLIGHT_RUN_STATUSES))) or 0
    moments = [m for m in (last_launch, last_end, slot.updated_at if slot else None) if m is not None]
    last_activity = max(moments) if moments else None
    # The clock starts when the work became ready or when anything last moved, whichever is later.
    reference = max([m for m in (last_activity, oldest_ready) if m is not None])
    allowed = stall_after + (run_timeout if in_flight else 0.0)
    if now - reference < timedelta(seconds=allowed):
        return None
    return {
        "queued_runs": int(queued),
        "runs_in_flight": int(in_flight),
        "last_activity": last_activity.isoformat() if last_activity else None,
        "stalled_minutes": round((now - reference).total_seconds() / 60),
    }


def silent_webhooks(session: Session, runs: int) -> dict[str, Any] | None:
    """The facts when the last `runs` launched runs all ended with no webhook in the inbox, else None."""
    rows = session.execute(
        select(Run.id, Run.container_id, Run.webhook_received_at, Run.ended_at)
        .where(
            Run.ended_at.is_not(None),
            Run.container_id.is_not(None),
            Run.status.in_((RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.TIMED_OUT)),
        )
        .order_by(Run.ended_at.desc(), Run.id.desc())
        .limit(runs)
    ).all()
    if len(rows) < runs:
        return None
    for _run_id, container_id, webhook_at, _ended in rows:
        if webhook_at is not None or inbox.has_delivery(session, container_id):
            return None
    return {"runs": runs, "last_run_ended": rows[0][3].isoformat(), "run_ids": [r[0] for r in rows]}


def watch(session: Session, settings: Settings, now: datetime) -> list[str]:
    """One look at the queue and the webhooks; opens (and tells) or closes each alert; returns what changed."""
    changed = []
    stall = queue_stall(
        session, now, stall_after=settings.stall_after_seconds, run_timeout=settings.phantom_hold_seconds
    )
    silent = silent_webhooks(session, settings.webhook_silent_runs)
    for name, facts in ((notifications.QUEUE_STALLED, stall), (notifications.WEBHOOKS_SILENT, silent)):
        if facts is not None:
            if notifications.tell_admins(session, name, facts, now) is not None:
                changed.append(f"{name} opened")
        elif notifications.close_alert(session, name, now):
            changed.append(f"{name} closed")
    return changed
