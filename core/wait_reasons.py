"""Why queued work waits: the fixed list of reasons, each as a sentence with when it is expected to clear."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


class Reason(enum.StrEnum):
    """Every reason LeadRelay may give for not launching; the dispatcher decides on exactly these."""

    ADMIN_PAUSE = "admin_pause"
    SESSION_PAUSED = "session_paused"
    CONFIGURATION = "configuration"
    EXECUTION_TIME = "execution_time"
    RATE_LIMITED = "rate_limited"
    PHANTOMBUSTER_BUSY = "phantombuster_busy"
    SLOT_HELD = "slot_held"
    RUNNING = "running"
    OUTSIDE_HOURS = "outside_hours"
    DAILY_LIMIT = "daily_limit"
    SPACING = "spacing"
    SCHEDULED = "scheduled"
    RETRY_BACKOFF = "retry_backoff"


TITLES = {
    Reason.ADMIN_PAUSE: "Paused by an admin",
    Reason.SESSION_PAUSED: "Waiting for the LinkedIn session to be renewed",
    Reason.CONFIGURATION: "Waiting for a fix of the PhantomBuster set-up",
    Reason.EXECUTION_TIME: "PhantomBuster's execution time is used up",
    Reason.RATE_LIMITED: "LinkedIn is slowing the account down",
    Reason.PHANTOMBUSTER_BUSY: "PhantomBuster is busy with another run",
    Reason.SLOT_HELD: "Another run holds the PhantomBuster slot",
    Reason.RUNNING: "Waiting for PhantomBuster to finish",
    Reason.OUTSIDE_HOURS: "Outside working hours",
    Reason.DAILY_LIMIT: "Today's LinkedIn limit reached",
    Reason.SPACING: "Spacing launches out",
    Reason.SCHEDULED: "Scheduled for later",
    Reason.RETRY_BACKOFF: "Waiting to try again",
}


def when(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    """A moment as an analyst reads it in the account's time zone: "14:05", "Tue 08:00", "3 Dec 08:00"."""
    local, today = moment.astimezone(zone), now.astimezone(zone)
    days = (local.date() - today.date()).days
    if days == 0:
        text = local.strftime("%H:%M")
    elif 0 < days < 7:
        text = local.strftime("%a %H:%M")
    else:
        text = f"{local.day} {local.strftime('%b %H:%M')}"
    return f"{text} {zone.key}"


@dataclass(frozen=True, slots=True)
class Waiting:
    """One reason, the words that go with it, and when it should clear (None: when someone acts)."""

    reason: Reason
    detail: str | None = None
    clears_at: datetime | None = None

    def sentence(self, zone: ZoneInfo, now: datetime) -> str:
        """E.g. "Today's LinkedIn limit reached (1,500 of 1,500); resumes Tue 08:00 Europe/Oslo"."""
        text = TITLES[self.reason] + (f" ({self.detail})" if self.detail else "")
        if self.clears_at is not None:
            text += f"; resumes {when(self.clears_at, zone, now)}"
        return text
