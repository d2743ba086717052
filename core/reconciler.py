"""The reconciler: reads from the database what every run needs next, and asks the engine to do it.

It catches everything a webhook, a Huey message or a crashed worker left undone. Each item is handled on its own:
one that fails (PhantomBuster unreachable, a bug) is reported and tried again next pass, and never keeps the
others from being handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import heartbeat, lifecycle, workspace
from core.config import Settings
from core.db import Database
from core.doorbell import Doorbell
from core.engine import Engine
from core.errors import LeadRelayError
from core.lifecycle import inbox
from core.lifecycle import slot as slots
from core.models import IN_FLIGHT_RUN_STATUSES, Run, RunStatus, utcnow

log = logging.getLogger(__name__)

DELIVERY_GRACE = timedelta(seconds=2)
DELIVERY_GIVE_UP = timedelta(hours=6)
WORKSPACE_EVERY_SECONDS = 600.0


@dataclass(slots=True)
class ReconcileReport:
    """What one pass did, and what failed (raised together once every item has had its turn)."""

    actions: list[str] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.actions.append(text)
        log.info("reconciler: %s", text)

    def attempt(self, what: str, step: Callable[[], object]) -> object:
        """Run one item; a failure is recorded against it and the pass goes on."""
        try:
            return step()
        except LeadRelayError as exc:
            # An expected failure (PhantomBuster unreachable, say): the next pass tries again.
            self.add(f"{what}: {exc.message}; tried again next pass")
        except Exception as exc:
            log.exception("reconciler: %s failed", what)
            self.errors.append(exc)
        return None

    def raise_errors(self) -> None:
        if self.errors:
            raise ExceptionGroup("reconciler items failed", self.errors)


@dataclass(frozen=True, slots=True)
class FlightRow:
    """A run in flight as the reconciler sees it."""

    id: int
    status: str
    launch_requested_at: datetime | None
    launched_at: datetime | None
    next_check_at: datetime | None


@dataclass(frozen=True, slots=True)
class PassState:
    """Everything one pass decides on, read in one transaction."""

    slot_run_id: int | None
    slot_expires_at: datetime | None
    slot_free: bool
    holder_ended: bool
    in_flight: list[FlightRow]
    unmatched: list[tuple[str, datetime]]
    pending: bool


def read_state(session: Session) -> PassState:
    """The slot, the runs in flight, webhooks no run claims, and whether anything is queued."""
    slot = slots.get(session)
    rows = [
        FlightRow(*row)
        for row in session.execute(
            select(Run.id, Run.status, Run.launch_requested_at, Run.launched_at, Run.next_check_at).where(
                Run.status.in_(IN_FLIGHT_RUN_STATUSES)
            )
        )
    ]
    holder_ended = slot.run_id is not None and slot.run_id not in {r.id for r in rows}
    pending = session.scalar(select(Run.id).where(Run.status == RunStatus.PENDING).limit(1)) is not None
    return PassState(
        slot_run_id=slot.run_id,
        slot_expires_at=slot.expires_at,
        slot_free=slot.run_id is None and not slot.paused,
        holder_ended=holder_ended,
        in_flight=rows,
        unmatched=inbox.unmatched(session),
        pending=pending,
    )


class Reconciler:
    """One pass at a time, every RECONCILE_INTERVAL_SECONDS, from any worker."""

    def __init__(
        self,
        db: Database,
        engine: Engine,
        doorbell: Doorbell,
        settings: Settings,
        *,
        worker_id: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.engine = engine
        self.doorbell = doorbell
        self.settings = settings
        self.worker_id = worker_id
        self.clock = clock
        self.client = engine.client
        self._last_scan: datetime | None = None
        self._last_workspace: datetime | None = None

    def overdue_after(self) -> timedelta:
        """How late a planned check may be before it counts as lost (Huey's scheduler runs about once a second)."""
        return timedelta(seconds=max(5.0, 2 * self.settings.reconcile_interval_seconds))

    def run_once(self) -> ReconcileReport:
        """One pass: slot, launches, runs in flight, webhooks no run claims, an idle slot with work queued."""
        report = ReconcileReport()
        now = self.clock()
        with self.db.read() as session:
            state = read_state(session)
        engine = self.engine

        if state.holder_ended:
            freed = report.attempt("free the slot of an ended run", self.release_stale_slot)
            if freed:
                report.add(f"released the slot held by ended run {freed}")

        lease = timedelta(seconds=self.settings.launch_lease_seconds)
        timeout = timedelta(seconds=self.settings.sequential_queue_timeout)
        unanswered = False
        for run in state.in_flight:
            if run.status == RunStatus.LAUNCHING:
                unanswered = True
                held = run.id == state.slot_run_id
                expired = state.slot_expires_at is not None and state.slot_expires_at <= now
                if held and expired:
                    done = report.attempt(f"run {run.id}: recover its launch", lambda r=run.id: self.recover_launch(r))
                    report.add(f"run {run.id}: launch lease expired; looking for its container ({done})")
                elif not held and run.launch_requested_at is not None and now - run.launch_requested_at > lease:
                    done = report.attempt(
                        f"run {run.id}: recover a launch outside the slot",
                        lambda r=run.id: engine.containers.recover_launch_without_slot(r),
                    )
                    report.add(f"run {run.id}: launching outside the slot ({done})")
                continue
            started = run.launched_at or run.launch_requested_at or now
            if now - started > timeout:
                done = report.attempt(f"run {run.id}: time out", lambda r=run.id: engine.time_out(r))
                report.add(f"run {run.id}: timed out after {timeout.total_seconds():.0f} s ({done})")
            elif run.next_check_at is None or run.next_check_at <= now - self.overdue_after():
                report.attempt(f"run {run.id}: plan a check", lambda r=run.id: self.check_overdue(r))
                report.add(f"run {run.id}: overdue for a check; one planned")

        waiting = [(cid, at) for cid, at in state.unmatched if now - at >= DELIVERY_GRACE]
        scan_due = (
            self._last_scan is None or (now - self._last_scan).total_seconds() >= self.settings.orphan_scan_seconds
        )
        if waiting or unanswered or (state.slot_free and scan_due):
            self._last_scan = now
            found = report.attempt("look for orphan containers", engine.containers.scan)
            for line in found or []:
                report.add(str(line))
        for container_id, at in waiting:
            if now - at > DELIVERY_GIVE_UP:
                report.attempt(f"set aside webhook {container_id}", lambda c=container_id: self.set_aside(c))
                report.add(f"webhook for unknown container {container_id} set aside")

        if self._last_workspace is None or (now - self._last_workspace).total_seconds() >= WORKSPACE_EVERY_SECONDS:
            self._last_workspace = now
            report.attempt("ask PhantomBuster about the workspace", self.refresh_workspace)

        if state.slot_free and state.pending:
            self.doorbell.dispatch()
            report.add("slot free with runs queued: dispatch rung")
        with self.db.write() as session:
            heartbeat.beat(session, "worker", now=now, worker_id=self.worker_id)
        report.raise_errors()
        return report

    # -- the steps that need only the database -----------------------------------------------------------

    def release_stale_slot(self) -> int | None:
        """Free a slot still held by a run that has ended; returns that run."""
        with self.db.write() as session:
            return lifecycle.release_if_holder_ended(session, self.clock())

    def recover_launch(self, run_id: int) -> str:
        """A run left `launching` by a worker that stopped: take its expired lease over and look for its container."""
        now = self.clock()
        with self.db.write() as session:
            plan = lifecycle.current_plan(
                session,
                run_id,
                now=now,
                ttl=self.settings.launch_lease_seconds,
                take_over_as=f"{self.worker_id}:recovery",
            )
            if plan is None:
                return "not_held"
            until = now + timedelta(seconds=self.settings.launch_lookup_margin_seconds)
            ticket = lifecycle.mark_unanswered(session, plan, now=now, look_up_until=until, first_look_in=0.0)
        self.doorbell.check(run_id, ticket, 0.0)
        return "looking"

    def check_overdue(self, run_id: int) -> None:
        """A run in flight whose check never came (a lost message): plan one now."""
        now = self.clock()
        with self.db.write() as session:
            run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
            if run is None or run.status not in IN_FLIGHT_RUN_STATUSES:
                return
            ticket = lifecycle.schedule_check(session, run, 0.0, now)
        self.doorbell.check(run_id, ticket, 0.0)

    def refresh_workspace(self) -> None:
        """The workspace's time zone and execution time left, for the pacing and the pages."""
        answer = workspace.ask(self.client)
        with self.db.write() as session:
            workspace.store(session, self.settings, answer, self.clock())

    def set_aside(self, container_id: str) -> None:
        """Stop waiting for a run to claim a webhook's container."""
        with self.db.write() as session:
            inbox.set_aside(session, container_id, self.clock())
