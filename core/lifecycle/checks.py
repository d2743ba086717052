"""When a run in flight is next asked about: one pending check per run, whatever rings for it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core.models import IN_FLIGHT_RUN_STATUSES, Run

# A webhook may bring a check forward, but never closer than this to the previous one.
MIN_CHECK_GAP_SECONDS = 1.0


def schedule_check(session: Session, run: Run, delay: float, now: datetime) -> int:
    """Plan the run's next check in `delay` seconds; returns its ticket (every older ticket is now stale)."""
    run.check_ticket = (run.check_ticket or 0) + 1
    run.next_check_at = now + timedelta(seconds=max(0.0, delay))
    run.updated_at = now
    return run.check_ticket


def note_checked(session: Session, run: Run, now: datetime) -> None:
    """Record that PhantomBuster was just asked about the run (a webhook cannot hurry the next check before long)."""
    run.last_checked_at = now


def hurry_check(session: Session, run_id: int, now: datetime) -> tuple[int, float] | None:
    """A webhook arrived for the run's container: bring its check forward; (ticket, delay), or None if one is due."""
    run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None or run.status not in IN_FLIGHT_RUN_STATUSES or run.container_id is None:
        return None
    due = now
    if run.last_checked_at is not None:
        due = max(due, run.last_checked_at + timedelta(seconds=MIN_CHECK_GAP_SECONDS))
    if run.next_check_at is not None and run.next_check_at <= due:
        return None  # the pending check comes soon enough
    delay = (due - now).total_seconds()
    return schedule_check(session, run, delay, now), delay
