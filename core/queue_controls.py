"""An admin's controls of the queue and the slot: pause, resume, release, restart stuck processing, retry dead runs.

Each control checks the role, commits in its own transaction with an audit event naming the admin, then rings.
"""

from __future__ import annotations

from core import accounts, audit, lifecycle
from core.config import Settings
from core.db import Database
from core.doorbell import Doorbell
from core.errors import PermissionDenied
from core.models import Role, User, utcnow


def _require_admin(user: User) -> None:
    if user.role != Role.ADMIN:
        raise PermissionDenied("Only an admin can do this.")


def pause(db: Database, doorbell: Doorbell, user: User, reason: str = "") -> None:
    """Stop launching new runs; the run in flight finishes."""
    _require_admin(user)
    with db.write() as session:
        lifecycle.pause(session, reason or f"Paused by {user.name}.", utcnow())
        audit.record(session, "admin", "queue_paused", by=user.name, reason=reason)


def resume(db: Database, doorbell: Doorbell, user: User) -> None:
    """Launch queued runs again."""
    _require_admin(user)
    with db.write() as session:
        lifecycle.resume(session, utcnow())
        audit.record(session, "admin", "queue_resumed", by=user.name)
    doorbell.dispatch()


def release_slot(db: Database, doorbell: Doorbell, user: User) -> int | None:
    """Free the slot whoever holds it; a run still in flight keeps being checked and ends by itself."""
    _require_admin(user)
    with db.write() as session:
        run_id = lifecycle.force_release(session, utcnow())
        audit.record(session, "admin", "slot_released", run_id=run_id, by=user.name)
    doorbell.reconcile()
    return run_id


def restart_stuck(db: Database, doorbell: Doorbell, user: User) -> int:
    """Expire the lease and check every run in flight at once; the reconciler takes it from there."""
    _require_admin(user)
    with db.write() as session:
        rung = lifecycle.expire_lease(session, utcnow())
        audit.record(session, "admin", "processing_restarted", by=user.name, runs_in_flight=len(rung))
    for run_id, ticket in rung:
        doorbell.check(run_id, ticket)
    doorbell.reconcile()
    return len(rung)


def retry_dead_run(db: Database, doorbell: Doorbell, user: User, run_id: int) -> None:
    """Put a run that used up its attempts back in the queue with fresh attempts."""
    _require_admin(user)
    with db.write() as session:
        run = lifecycle.retry_dead_run(session, run_id, utcnow())
        audit.record(session, "admin", "dead_run_retried", job_id=run.job_id, run_id=run_id, by=user.name)
    doorbell.dispatch()


def session_renewed(db: Database, doorbell: Doorbell, settings: Settings, user: User) -> None:
    """An admin reconnected LinkedIn in PhantomBuster: launches resume at a lower volume and ramp back up."""
    _require_admin(user)
    with db.write() as session:
        account = accounts.current(session, settings, for_update=True)
        accounts.session_renewed(session, account, user.name, utcnow(), settings.account_reconnect_share)
    doorbell.dispatch()


def resume_account(db: Database, doorbell: Doorbell, settings: Settings, user: User) -> None:
    """An admin fixed the PhantomBuster set-up (or the execution time came back): launches resume."""
    _require_admin(user)
    with db.write() as session:
        accounts.resume(session, accounts.current(session, settings, for_update=True), user.name, utcnow())
    doorbell.dispatch()


def change_account_limits(
    db: Database, doorbell: Doorbell, settings: Settings, user: User, change: accounts.LimitChange
) -> None:
    """An admin's new limits, hours or ramp for the LinkedIn account (each change audited)."""
    _require_admin(user)
    with db.write() as session:
        account = accounts.current(session, settings, for_update=True)
        accounts.change_limits(session, account, change, settings, user.name, utcnow())
    doorbell.dispatch()


def start_ramp(db: Database, settings: Settings, user: User) -> None:
    """Treat the account as new or reconnected: it starts at the ramp's share of the limit."""
    _require_admin(user)
    with db.write() as session:
        accounts.start_ramp(session, accounts.current(session, settings, for_update=True), user.name, utcnow())
