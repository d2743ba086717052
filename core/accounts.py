"""The LinkedIn account as LeadRelay keeps it: its limits, what it sent today, and what holds it back.

The one place that changes the account row and its launch ledger. Pauses wait for an admin (a dead session, a
PhantomBuster set-up to fix); blocks clear by themselves (execution time until its reset, LinkedIn slowing the
account down for some hours).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core import audit, notifications, pacing
from core.config import Settings
from core.errors import InvalidInput
from core.models import Account, AccountLaunch
from core.wait_reasons import Reason, Waiting

ACCOUNT_ID = 1


class Hold:
    """The kinds of pause (an admin acts) and block (clears at a time)."""

    SESSION = "session"
    CONFIGURATION = "configuration"
    EXECUTION_TIME = "execution_time"
    RATE_LIMITED = "rate_limited"


PAUSE_REASONS = {Hold.SESSION: Reason.SESSION_PAUSED, Hold.CONFIGURATION: Reason.CONFIGURATION}
BLOCK_REASONS = {Hold.EXECUTION_TIME: Reason.EXECUTION_TIME, Hold.RATE_LIMITED: Reason.RATE_LIMITED}


def current(session: Session, settings: Settings, *, for_update: bool = False) -> Account:
    """The account (created on first use with the settings' conservative defaults)."""
    account = session.get(Account, ACCOUNT_ID, with_for_update=for_update, populate_existing=True)
    if account is None:
        defaults = settings.account_defaults()
        start, end = defaults.work_hours.split("-")
        account = Account(
            id=ACCOUNT_ID,
            name="LinkedIn account",
            agent_id=settings.effective_agent_id,
            profiles_per_day=defaults.profiles_per_day,
            profiles_per_launch=defaults.profiles_per_launch,
            min_gap_seconds=defaults.min_gap_minutes * 60,
            gap_jitter_seconds=defaults.gap_jitter_minutes * 60,
            work_start=start,
            work_end=end,
            work_days=defaults.work_days,
            timezone=None,
            workspace_timezone=None,
            ramp_start_share=settings.account_ramp_start_share,
            ramp_weekly_step=settings.account_ramp_weekly_step,
            ramp_started_at=None,
        )
        session.add(account)
        session.flush()
    return account


def zone(account: Account, settings: Settings) -> ZoneInfo:
    """The account's time zone: an admin's choice, else the PhantomBuster workspace's, else the setting."""
    for name in (account.timezone, account.workspace_timezone, settings.account_timezone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def limits(account: Account, settings: Settings) -> pacing.Limits:
    """The account's pacing rules."""
    return pacing.Limits(
        profiles_per_day=account.profiles_per_day,
        profiles_per_launch=min(account.profiles_per_launch, settings.profiles_per_launch_max),
        min_gap_seconds=account.min_gap_seconds,
        gap_jitter_seconds=account.gap_jitter_seconds,
        work_start=time.fromisoformat(account.work_start),
        work_end=pacing.parse_end(account.work_end),
        work_days=pacing.parse_days(account.work_days),
        zone=zone(account, settings),
        ramp_start_share=account.ramp_start_share,
        ramp_weekly_step=account.ramp_weekly_step,
        ramp_started_at=account.ramp_started_at,
    )


def sent_on_day(session: Session, account: Account, now: datetime, where: ZoneInfo) -> int:
    """Profiles the account sent to LinkedIn on the local day around `now` (from the ledger, whoever launched)."""
    start, end = pacing.day_bounds(now, where)
    total = session.scalar(
        select(func.coalesce(func.sum(AccountLaunch.profiles), 0)).where(
            AccountLaunch.account_id == account.id, AccountLaunch.at >= start, AccountLaunch.at < end
        )
    )
    return int(total or 0)


def hold(account: Account, now: datetime) -> Waiting | None:
    """What holds the account back now, if anything (a pause before a block)."""
    if account.paused_kind:
        return Waiting(PAUSE_REASONS.get(account.paused_kind, Reason.CONFIGURATION), account.paused_reason)
    if account.blocked_kind and account.blocked_until is not None and account.blocked_until > now:
        reason = BLOCK_REASONS.get(account.blocked_kind, Reason.RATE_LIMITED)
        return Waiting(reason, account.blocked_reason, account.blocked_until)
    return None


def record_launch(
    session: Session, account: Account, *, run_id: int, fence: int, profiles: int, now: datetime, gap: float
) -> None:
    """A launch takes `profiles` from today's budget; the next may follow after `gap` seconds."""
    session.add(AccountLaunch(account_id=account.id, run_id=run_id, fence=fence, at=now, profiles=profiles))
    following = now + timedelta(seconds=gap)
    account.next_launch_at = max(following, account.next_launch_at or following)
    account.updated_at = now


def forget_launch(session: Session, *, run_id: int, fence: int | None) -> None:
    """A launch that never reached LinkedIn (PhantomBuster busy, refused, never showed it) gives its budget back."""
    stmt = delete(AccountLaunch).where(AccountLaunch.run_id == run_id)
    if fence is not None:
        stmt = stmt.where(AccountLaunch.fence == fence)
    session.execute(stmt)


def pause(session: Session, account: Account, kind: str, reason: str, now: datetime, actor: str) -> bool:
    """Hold the account until an admin acts; False when it was already paused (the first reason is kept)."""
    if account.paused_kind:
        return False
    account.paused_kind, account.paused_reason, account.paused_at = kind, reason, now
    account.updated_at = now
    audit.record(session, actor, "account_paused", at=now, kind=kind, reason=reason)
    # In the same transaction, so the admins and the waiting jobs' owners hear of it exactly when it is committed.
    notifications.account_needs_admin(session, reason, now)
    return True


def block(session: Session, account: Account, kind: str, reason: str, until: datetime, now: datetime) -> None:
    """Hold the account until `until` (a later block wins)."""
    if account.blocked_until is not None and account.blocked_until > until and account.blocked_kind:
        return
    account.blocked_kind, account.blocked_reason, account.blocked_until = kind, reason, until
    account.updated_at = now
    audit.record(session, "worker", "account_blocked", at=now, kind=kind, reason=reason, until=until.isoformat())


def session_renewed(session: Session, account: Account, by: str, now: datetime, reconnect_share: float) -> None:
    """An admin reconnected LinkedIn: launches resume at a lower share of the limit and ramp back up."""
    if account.paused_kind != Hold.SESSION:
        raise InvalidInput("The LinkedIn session is not paused; there is nothing to confirm.")
    account.paused_kind = account.paused_reason = None
    account.paused_at = None
    account.ramp_started_at, account.ramp_start_share = now, reconnect_share
    account.updated_at = now
    audit.record(session, "admin", "session_renewed", at=now, by=by, restart_share=reconnect_share)
    notifications.account_resumed(session, now)


def resume(session: Session, account: Account, by: str, now: datetime) -> None:
    """An admin fixed what held the account (the set-up, or the execution time came back early)."""
    if not account.paused_kind and not account.blocked_kind:
        raise InvalidInput("The LinkedIn account is not held back; there is nothing to resume.")
    was = account.paused_kind or account.blocked_kind
    account.paused_kind = account.paused_reason = None
    account.paused_at = None
    account.blocked_kind = account.blocked_reason = None
    account.blocked_until = None
    account.updated_at = now
    audit.record(session, "admin", "account_resumed", at=now, by=by, was=was)
    notifications.account_resumed(session, now)


@dataclass(frozen=True, slots=True)
class LimitChange:
    """The admin-editable limits, as typed on the Admin page."""

    profiles_per_day: int
    profiles_per_launch: int
    min_gap_minutes: float
    gap_jitter_minutes: float
    work_start: str
    work_end: str
    work_days: str
    timezone: str | None
    ramp_start_share: float
    ramp_weekly_step: float


def _checked(change: LimitChange, settings: Settings) -> dict[str, Any]:
    if not 1 <= change.profiles_per_day <= 10_000:
        raise InvalidInput("Profiles per day must be between 1 and 10,000.")
    if not 1 <= change.profiles_per_launch <= settings.profiles_per_launch_max:
        raise InvalidInput(f"Profiles per launch must be between 1 and {settings.profiles_per_launch_max}.")
    if change.min_gap_minutes < 0 or change.gap_jitter_minutes < 0:
        raise InvalidInput("The time between launches cannot be negative.")
    try:
        start, end = time.fromisoformat(change.work_start), pacing.parse_end(change.work_end)
        days = pacing.parse_days(change.work_days)
    except ValueError as exc:
        raise InvalidInput(f"Working hours and days: {exc}.") from None
    if start >= end or not days:
        raise InvalidInput("Working hours need a start before their end and at least one working day.")
    if change.timezone:
        try:
            ZoneInfo(change.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"{change.timezone!r} is not a time zone (for example Europe/Oslo).") from None
    if not (0 < change.ramp_start_share <= 1 and 0 <= change.ramp_weekly_step <= 1):
        raise InvalidInput("The ramp's share and weekly step are fractions between 0 and 1.")
    return {
        "profiles_per_day": change.profiles_per_day,
        "profiles_per_launch": change.profiles_per_launch,
        "min_gap_seconds": change.min_gap_minutes * 60,
        "gap_jitter_seconds": change.gap_jitter_minutes * 60,
        "work_start": f"{start:%H:%M}",
        "work_end": pacing.format_end(end),
        "work_days": pacing.format_days(days),
        "timezone": change.timezone or None,
        "ramp_start_share": change.ramp_start_share,
        "ramp_weekly_step": change.ramp_weekly_step,
    }


def change_limits(
    session: Session, account: Account, change: LimitChange, settings: Settings, by: str, now: datetime
) -> None:
    """Apply an admin's new limits (validated), auditing each value that changed."""
    new = _checked(change, settings)
    changed = {k: {"old": getattr(account, k), "new": v} for k, v in new.items() if getattr(account, k) != v}
    for key, value in new.items():
        setattr(account, key, value)
    account.updated_at = now
    if changed:
        audit.record(session, "admin", "account_limits_changed", at=now, by=by, changes=changed)


def start_ramp(session: Session, account: Account, by: str, now: datetime) -> None:
    """Treat the account as new or reconnected: its volume starts at the ramp's share and rises each week."""
    account.ramp_started_at = now
    account.updated_at = now
    audit.record(session, "admin", "account_ramp_started", at=now, by=by, share=account.ramp_start_share)


def note_workspace_timezone(session: Session, account: Account, name: str | None) -> None:
    """Remember the PhantomBuster workspace's time zone (orgs/fetch), used when no admin chose one."""
    if name and name != account.workspace_timezone:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return
        account.workspace_timezone = name
