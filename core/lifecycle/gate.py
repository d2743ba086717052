"""Whether the next run may launch now and, if not, the one reason why: the dispatcher and every page ask this.

The order of the checks is the order of the reasons a person is told: what needs an admin first, then what
clears by itself at a known time, then the slot and the spacing of launches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core import accounts, pacing
from core.config import Settings
from core.lifecycle import slot as slots
from core.models import Account
from core.wait_reasons import Reason, Waiting


@dataclass(frozen=True, slots=True)
class Decision:
    """The dispatcher's answer: may it launch, how many profiles today's budget still allows, and the account."""

    open: bool
    waiting: Waiting | None
    budget_left: int
    sent_today: int
    account: Account
    limits: pacing.Limits

    @property
    def zone(self) -> ZoneInfo:
        return self.limits.zone


def decide(session: Session, settings: Settings, now: datetime) -> Decision:
    """Read the slot and the account and apply the pacing rules (reads only; the caller claims if open)."""
    slot = slots.get(session)
    account = accounts.current(session, settings)
    limits = accounts.limits(account, settings)
    sent = accounts.sent_on_day(session, account, now, limits.zone)

    def closed(waiting: Waiting, left: int = 0) -> Decision:
        return Decision(False, waiting, left, sent, account, limits)

    if slot.paused:
        return closed(Waiting(Reason.ADMIN_PAUSE, slot.pause_reason))
    held = accounts.hold(account, now)
    if held is not None:
        return closed(held)
    paced = pacing.gate(limits, now=now, sent_today=sent, next_launch_at=None)
    if not paced.open:
        assert paced.waiting is not None
        return closed(paced.waiting, paced.budget_left)
    if slot.run_id is not None:
        return closed(Waiting(Reason.SLOT_HELD), paced.budget_left)
    if account.next_launch_at is not None and now < account.next_launch_at:
        return closed(Waiting(Reason.SPACING, None, account.next_launch_at), paced.budget_left)
    if slot.blocked_until is not None and slot.blocked_until > now:
        return closed(Waiting(Reason.PHANTOMBUSTER_BUSY, slot.blocked_reason, slot.blocked_until), paced.budget_left)
    return Decision(True, None, paced.budget_left, sent, account, limits)
