"""What PhantomBuster says of the workspace (its time zone, the execution time left), kept for the pages to read.

The worker asks now and then; pages never call PhantomBuster on a refresh, they read the last answer here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core import accounts, heartbeat
from core.config import Settings
from core.phantombuster import PhantomBusterClient
from core.phantombuster_answers import ms_time

NAME = "phantombuster_workspace"


@dataclass(frozen=True, slots=True)
class Workspace:
    """The last answer: execution time used and allowed this month (seconds), its reset, the time zone."""

    monthly_used: float | None
    monthly_plan: float | None
    resets_at: datetime | None
    timezone: str | None
    checked_at: datetime

    @property
    def monthly_left(self) -> float | None:
        if self.monthly_used is None or self.monthly_plan is None:
            return None
        return max(0.0, self.monthly_plan - self.monthly_used)


def ask(client: PhantomBusterClient) -> dict:
    """orgs/fetch-resources and orgs/fetch, as plain values (raises PhantomBusterError when it cannot)."""
    resources = client.fetch_resources()
    org = client.fetch_org()
    reset = ms_time(resources.raw.get("monthlyResourceNextResetAt"))
    return {
        "monthly_used": resources.monthly_execution_time,
        "monthly_plan": resources.plan_monthly_execution_time,
        "resets_at": reset.isoformat() if reset else None,
        "timezone": org.timezone,
    }


def store(session: Session, settings: Settings, answer: dict, now: datetime) -> None:
    """Keep the answer, and give the account the workspace's time zone."""
    heartbeat.beat(session, NAME, now=now, **answer)
    accounts.note_workspace_timezone(session, accounts.current(session, settings), answer.get("timezone"))


def last(session: Session) -> Workspace | None:
    """The last answer the worker stored, if any."""
    beat = heartbeat.last(session, NAME)
    if beat is None:
        return None
    d = beat.details or {}
    resets = d.get("resets_at")
    return Workspace(
        monthly_used=d.get("monthly_used"),
        monthly_plan=d.get("monthly_plan"),
        resets_at=datetime.fromisoformat(resets) if isinstance(resets, str) else None,
        timezone=d.get("timezone"),
        checked_at=beat.at,
    )
