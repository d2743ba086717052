"""Why each queued job waits: one reason per job, taken from the same decision the dispatcher takes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.lifecycle import gate
from core.models import IN_FLIGHT_RUN_STATUSES, Job, Run, RunStatus
from core.wait_reasons import Reason, Waiting

NEEDS_AN_ADMIN = (Reason.ADMIN_PAUSE, Reason.SESSION_PAUSED, Reason.CONFIGURATION)


def _binding(shared: Waiting | None, own: Waiting | None) -> Waiting | None:
    """Of the account's reason and the job's own, the one that holds it longer (what needs an admin first)."""
    if shared is None or own is None:
        return shared or own
    if shared.reason in NEEDS_AN_ADMIN:
        return shared
    if shared.clears_at is None or (own.clears_at is not None and own.clears_at > shared.clears_at):
        return own  # the slot frees within a run's time; a job's own time is the later one
    return shared


def for_jobs(session: Session, settings: Settings, job_ids: Iterable[int], now: datetime) -> dict[int, Waiting | None]:
    """Each active job's reason for waiting now (None: it is next, or launches within moments)."""
    ids = list(dict.fromkeys(job_ids))
    if not ids:
        return {}
    decision = gate.decide(session, settings, now)
    running = set(
        session.scalars(select(Run.job_id).where(Run.job_id.in_(ids), Run.status.in_(IN_FLIGHT_RUN_STATUSES)))
    )
    backoff = dict(
        session.execute(
            select(Run.job_id, func.min(Run.not_before))
            .where(Run.job_id.in_(ids), Run.status == RunStatus.PENDING)
            .group_by(Run.job_id)
        ).all()
    )
    eligible = set(
        session.scalars(
            select(Run.job_id).where(
                Run.job_id.in_(ids),
                Run.status == RunStatus.PENDING,
                (Run.not_before.is_(None)) | (Run.not_before <= now),
            )
        )
    )
    starts = dict(session.execute(select(Job.id, Job.start_after).where(Job.id.in_(ids))).all())
    reasons: dict[int, Waiting | None] = {}
    for job_id in ids:
        if job_id in running:
            reasons[job_id] = Waiting(Reason.RUNNING)
            continue
        own: Waiting | None = None
        start = starts.get(job_id)
        if start is not None and start > now:
            own = Waiting(Reason.SCHEDULED, None, start)
        elif job_id in backoff and job_id not in eligible and backoff[job_id] is not None:
            own = Waiting(Reason.RETRY_BACKOFF, None, backoff[job_id])
        reasons[job_id] = _binding(decision.waiting, own)
    return reasons


def for_slot(session: Session, settings: Settings, now: datetime) -> tuple[Waiting | None, gate.Decision]:
    """The slot lane's reason: PhantomBuster at work, or why nothing launches now; with the decision behind it."""
    decision = gate.decide(session, settings, now)
    if decision.waiting is not None and decision.waiting.reason == Reason.SLOT_HELD:
        return Waiting(Reason.RUNNING), decision
    return decision.waiting, decision
