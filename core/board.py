"""The Task Manager's read model: the slot lane, the jobs with their places, ETAs and reasons, in one read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core import accounts, forecast, pacing, read_models, status, waiting, workspace
from core.config import Settings
from core.models import Job, Role, User
from core.wait_reasons import Waiting


@dataclass(frozen=True, slots=True)
class Card:
    """One job on the board: the job, its place and ETA if queued, and why it waits (None: it is next)."""

    job: Job
    place: forecast.JobForecast | None
    waiting: Waiting | None


@dataclass(frozen=True, slots=True)
class Board:
    """Everything the Task Manager shows at one moment."""

    lane: status.SlotView
    lane_waiting: Waiting | None
    cards: list[Card]
    plan: forecast.Forecast
    zone: ZoneInfo
    sent_today: int
    allowance_today: int
    account_hold: Waiting | None
    now: datetime

    @property
    def active(self) -> list[Card]:
        return [c for c in self.cards if c.job.finished_at is None]

    @property
    def just_finished(self) -> list[Card]:
        return [c for c in self.cards if c.job.finished_at is not None]


def board(session: Session, settings: Settings, user: User, now: datetime) -> Board:
    """The board for `user` (an analyst sees their own jobs, and that another's run holds the slot)."""
    jobs = read_models.active_jobs(session, user, now)
    plan = forecast.forecast(session, settings, now)
    lane = read_models.slot_lane(session, user, now)
    lane_waiting, decision = waiting.for_slot(session, settings, now)
    reasons = waiting.for_jobs(session, settings, [j.id for j in jobs if j.finished_at is None], now)
    account = decision.account
    return Board(
        lane=lane,
        lane_waiting=lane_waiting,
        cards=[Card(j, plan.jobs.get(j.id), reasons.get(j.id)) for j in jobs],
        plan=plan,
        zone=decision.zone,
        sent_today=decision.sent_today,
        allowance_today=decision.sent_today + decision.budget_left,
        account_hold=accounts.hold(account, now),
        now=now,
    )


def account_banner(session: Session, settings: Settings, user: User, now: datetime) -> str | None:
    """For admins, on every page: what holds the LinkedIn account back and what to do (None when nothing)."""
    if user.role != Role.ADMIN:
        return None
    account = accounts.current(session, settings)
    held = accounts.hold(account, now)
    if held is None:
        return None
    zone = accounts.zone(account, settings)
    todo = {
        accounts.Hold.SESSION: "Reconnect LinkedIn in PhantomBuster, then confirm on the Admin page.",
        accounts.Hold.CONFIGURATION: "Fix it in PhantomBuster, then resume on the Admin page.",
    }.get(account.paused_kind or "", "")
    return f"{held.sentence(zone, now)}. {todo}".strip()


@dataclass(frozen=True, slots=True)
class AccountView:
    """The Admin page's view of the LinkedIn account: limits as entered, today's use, what holds it back."""

    account: accounts.Account
    zone: ZoneInfo
    zone_source: str
    sent_today: int
    allowance_today: int
    share_today: float
    hold: Waiting | None
    hold_kind: str | None


def account_view(session: Session, settings: Settings, user: User, now: datetime) -> AccountView:
    """The account panel's data (admins only)."""
    read_models.require_admin(user)
    account = accounts.current(session, settings)
    limits = accounts.limits(account, settings)
    day = now.astimezone(limits.zone).date()
    source = (
        "set by an admin"
        if account.timezone
        else ("the PhantomBuster workspace's" if account.workspace_timezone else "the ACCOUNT_TIMEZONE setting")
    )
    return AccountView(
        account=account,
        zone=limits.zone,
        zone_source=source,
        sent_today=accounts.sent_on_day(session, account, now, limits.zone),
        allowance_today=pacing.allowance_on(limits, day),
        share_today=pacing.share_on(limits, day),
        hold=accounts.hold(account, now),
        hold_kind=account.paused_kind or (account.blocked_kind if accounts.hold(account, now) else None),
    )


def account_zone(session: Session, settings: Settings) -> ZoneInfo:
    """The time zone working hours are counted in."""
    return accounts.zone(accounts.current(session, settings), settings)


@dataclass(frozen=True, slots=True)
class UploadCost:
    """What a file will take, as the Upload page says it before anything is queued."""

    done: forecast.Eta
    working_days: int
    execution_seconds: float
    monthly_left: float | None
    measured: bool
    zone: ZoneInfo
    limits_text: str


def file_cost(
    session: Session, settings: Settings, user: User, profiles: int, start: datetime, now: datetime
) -> UploadCost:
    """The cost of `user` queueing `profiles` leads to start at `start` (now, or the time they chose)."""
    cost = forecast.file_cost(session, settings, profiles, max(start, now), owner_id=user.id)
    account = accounts.current(session, settings)
    limits = accounts.limits(account, settings)
    hours = f"{account.work_start}-{account.work_end}"
    days = account.work_days.replace(",", ", ")
    left = workspace.last(session)
    return UploadCost(
        done=cost.done,
        working_days=cost.working_days,
        execution_seconds=cost.execution_seconds,
        monthly_left=left.monthly_left if left else None,
        measured=cost.measured,
        zone=limits.zone,
        limits_text=f"{limits.profiles_per_day:,} a day, {hours} {days}, {limits.zone.key}",
    )
