"""A simulated clock over the real dispatcher: jobs arrive, runs launch through core.lifecycle and end on time.

No PhantomBuster: a launched run's container "ends" after a duration that grows with its batch, and every lead
comes back enriched. What is real is everything that decides: the gate, the ledger, the budget cut, the queue.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from core import accounts, lifecycle
from core.config import Settings
from core.db import Database
from core.lifecycle import gate
from core.models import AccountLaunch, Lead, LeadStatus, Run, User
from core.phantombuster import Container
from core.scraper_rows import parse_rows
from tests.support import factories


@dataclass(order=True)
class Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: dict = field(compare=False, default_factory=dict)


class Simulation:
    """Advance a controlled clock from event to event, dispatching whenever the real gate opens."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        start: datetime,
        *,
        seconds_per_profile: float = 6.0,
        launch_overhead: float = 30.0,
        duration: Callable[[int], float] | None = None,
    ) -> None:
        self.db, self.settings, self.now = db, settings, start
        self.seconds_per_profile, self.launch_overhead = seconds_per_profile, launch_overhead
        self._duration = duration
        self.events: list[Event] = []
        self._seq = itertools.count()
        self.in_flight: int | None = None
        self.launches: list[tuple[datetime, int]] = []
        self.on_launch: Callable[[Simulation, int], None] | None = None

    def at(self, when: datetime, kind: str, **data: object) -> None:
        heapq.heappush(self.events, Event(when, next(self._seq), kind, dict(data)))

    def duration(self, profiles: int) -> float:
        if self._duration is not None:
            return self._duration(profiles)
        return self.launch_overhead + self.seconds_per_profile * profiles

    def _arrive(self, data: dict) -> None:
        with self.db.write() as s:
            owner = s.scalar(select(User).where(User.name == data["owner"]))
            owner = owner or factories.user(s, data["owner"])
            job = factories.job(s, owner, data["companies"], batch_size=data.get("batch_size", 100))
            data.setdefault("jobs", []).append(job.id)

    def _finish(self, run_id: int) -> None:
        with self.db.write() as s:
            run = s.get(Run, run_id)
            urls = list(
                s.scalars(select(Lead.linkedin_url).where(Lead.run_id == run_id, Lead.status == LeadStatus.PENDING))
            )
            container = Container(
                id=run.container_id, status="finished", exit_code=0, end_type="finished", ended_at=self.now
            )
            rows = parse_rows([{"profileUrl": url, "firstName": "Sim"} for url in urls])
            finished = lifecycle.finish(
                s, run_id, container, rows, settings=self.settings, now=self.now, holder="sim", actor="worker"
            )
        self.in_flight = None
        if finished is not None and finished.next_plan is not None:
            self._launched(finished.next_plan)  # the end claimed the next run at once, as the engine's does

    def _try_launch(self) -> datetime | None:
        """Claim and launch if the gate is open; otherwise when it says it clears (None: an event must come)."""
        with self.db.write() as s:
            plan = lifecycle.claim_next(s, self.settings, holder="sim", now=self.now, actor="worker")
            if plan is None:
                decision = gate.decide(s, self.settings, self.now)
                return decision.waiting.clears_at if decision.waiting else None
        self._launched(plan)
        return None

    def _launched(self, plan: lifecycle.LaunchPlan) -> None:
        with self.db.write() as s:
            lifecycle.mark_launched(
                s,
                plan,
                f"c{plan.run_id}-{plan.token}",
                now=self.now,
                actor="worker",
                hold_seconds=3600,
                first_check_in=1,
            )
        self.in_flight = plan.run_id
        self.launches.append((self.now, plan.lead_count))
        self.at(self.now + timedelta(seconds=self.duration(plan.lead_count)), "end", run_id=plan.run_id)
        if self.on_launch:
            self.on_launch(self, plan.run_id)

    def run_until(self, end: datetime) -> None:
        while self.now < end:
            clears = self._try_launch() if self.in_flight is None else None
            upcoming = [self.events[0].at] if self.events else []
            if self.in_flight is None and clears is not None:
                upcoming.append(clears)
            if not upcoming:
                if not self._queued():
                    break
                upcoming.append(self.now + timedelta(minutes=15))  # runs in back-off or scheduled: look again
            self.now = min(end, max(self.now, min(upcoming)))
            while self.events and self.events[0].at <= self.now:
                event = heapq.heappop(self.events)
                if event.kind == "end":
                    self._finish(event.data["run_id"])
                elif event.kind == "job":
                    self._arrive(event.data)
                elif event.kind == "call":
                    event.data["fn"](self)

    def _queued(self) -> bool:
        with self.db.read() as s:
            return s.scalar(select(Run.id).where(Run.status == "pending").limit(1)) is not None

    def ledger(self) -> list[tuple[datetime, int]]:
        with self.db.read() as s:
            return [(row.at, row.profiles) for row in s.scalars(select(AccountLaunch).order_by(AccountLaunch.at))]

    def limits(self):
        with self.db.read() as s:
            return accounts.limits(accounts.current(s, self.settings), self.settings)
