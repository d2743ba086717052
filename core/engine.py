"""The run engine: each step of a run that needs PhantomBuster, asked of the API, then recorded by core.lifecycle.

The engine never changes a run, the slot or the webhook inbox itself: it calls PhantomBuster outside any
transaction, then asks `core.lifecycle` to record what it learnt, then rings the doorbell for the next step.
Launching is `core.launcher`'s part; this is the rest of a run's life: checks, its end, webhooks, stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from core import failures, lifecycle, run_steps
from core.config import Settings
from core.db import Database
from core.doorbell import Doorbell
from core.errors import PhantomBusterError
from core.launcher import Launcher
from core.lifecycle import inbox
from core.lifecycle.ending import EXECUTION_TIME_END_TYPES
from core.models import IN_FLIGHT_RUN_STATUSES, Run, RunStatus, utcnow
from core.orphans import AgentContainers
from core.phantombuster import Container, PhantomBusterClient
from core.phantombuster_answers import ms_time
from core.run_steps import RunSnapshot
from core.scraper_rows import ScraperRow

log = logging.getLogger(__name__)

UNREACHABLE_RECHECK_SECONDS = 10.0


class Engine:
    """Drives runs through PhantomBuster's one slot."""

    def __init__(
        self,
        db: Database,
        client: PhantomBusterClient,
        settings: Settings,
        doorbell: Doorbell,
        *,
        worker_id: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.doorbell = doorbell
        self.worker_id = worker_id
        self.clock = clock
        self.containers = AgentContainers(db, client, settings, doorbell, worker_id=worker_id, clock=clock)
        self.launcher = Launcher(db, client, settings, doorbell, self.containers, worker_id=worker_id, clock=clock)
        self.settings = settings
        self.client = client

    @property
    def client(self) -> PhantomBusterClient:
        return self._client

    @client.setter
    def client(self, value: PhantomBusterClient) -> None:
        # One client for every part (tests hand the engine another one).
        self._client = value
        self.containers.client = self.launcher.client = value

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        # Tests change settings on a running engine: every part sees the same object.
        self._settings = value
        self.containers.settings = self.launcher.settings = value

    def dispatch(self) -> int | None:
        """Launch the next queued run if the slot is free; returns the run id launched, if any."""
        return self.launcher.dispatch()

    # -- checking and finishing ------------------------------------------------------------------------

    def check(self, run_id: int, ticket: int | None = None) -> str:
        """Ask PhantomBuster how a run in flight is doing and act on it (a stale ticket does nothing)."""
        run = run_steps.read_run(self.db, run_id)
        if run is None or run.status not in IN_FLIGHT_RUN_STATUSES:
            return "not_in_flight"
        if ticket is not None and run.check_ticket != ticket:
            return "superseded"
        if run.status == RunStatus.LAUNCHING:
            return self.launcher.look_up(run)
        return self._confirm(run)

    def _confirm(self, run: RunSnapshot, forced: failures.Failure | None = None) -> str:
        assert run.container_id is not None
        try:
            container = self.client.fetch_container(run.container_id)
            rows = self.client.fetch_result_rows(run.container_id) if container.ended else None
        except PhantomBusterError as exc:
            if exc.status_code == 404:
                container = Container(id=run.container_id, status="unknown")
                return self._finish(run, container, None, forced or failures.container_lost(run.container_id))
            return run_steps.check_later(self.db, self.doorbell, self.clock, run.id, exc, UNREACHABLE_RECHECK_SECONDS)
        if container.ended or forced is not None:
            resets = self._execution_resets_at() if container.end_type in EXECUTION_TIME_END_TYPES else None
            return self._finish(run, container, rows, forced, resets)
        if run.job_cancelled:
            self.containers.stop_if_alone(run.container_id, reason="its job was cancelled")
        now = self.clock()
        delay = run_steps.recheck_delay(self.db, self.settings)
        with self.db.write() as session:
            current = session.get(Run, run.id, with_for_update=True, populate_existing=True)
            if (
                current is None
                or current.container_id != run.container_id
                or current.status not in IN_FLIGHT_RUN_STATUSES
            ):
                return "not_in_flight"
            lifecycle.note_checked(session, current, now)
            ticket = lifecycle.schedule_check(session, current, delay, now)
        self.doorbell.check(run.id, ticket, delay)
        return "not_finished"

    def _finish(
        self,
        run: RunSnapshot,
        container: Container,
        rows: list[ScraperRow] | None,
        forced: failures.Failure | None,
        execution_resets_at: datetime | None = None,
    ) -> str:
        now = self.clock()
        with self.db.write() as session:
            finished = lifecycle.finish(
                session,
                run.id,
                container,
                rows,
                settings=self.settings,
                now=now,
                holder=self.worker_id,
                actor="worker",
                forced=forced,
                execution_resets_at=execution_resets_at,
            )
        if finished is None:
            return "not_in_flight"
        if finished.next_plan is not None:
            self.launcher.launch(finished.next_plan)
        elif finished.retry_in is not None:
            self.doorbell.dispatch(finished.retry_in)
        elif not finished.freed_slot:
            self.doorbell.dispatch()
        return finished.status

    def handle_delivery(self, container_id: str) -> str:
        """A webhook arrived for a container: bring its run's check forward (nothing else changes until confirmed)."""
        now = self.clock()
        with self.db.write() as session:
            run = session.execute(select(Run.id, Run.status).where(Run.container_id == container_id)).first()
            if run is None:
                return "unknown_container"  # perhaps an orphan: the reconciler's scan looks for it
            if run.status not in IN_FLIGHT_RUN_STATUSES:
                inbox.settle_late(session, container_id, now)
                return "already_ended"
            hurried = lifecycle.hurry_check(session, run.id, now)
        if hurried is None:
            return "check_due"
        ticket, delay = hurried
        self.doorbell.check(run.id, ticket, delay)
        return "check_hurried"

    # -- stopping --------------------------------------------------------------------------------------

    def stop(self, run_id: int) -> str:
        """Stop a run in flight whose job was cancelled; its end then arrives like any other."""
        run = run_steps.read_run(self.db, run_id)
        if run is None or run.status not in IN_FLIGHT_RUN_STATUSES:
            return "not_in_flight"
        if run.container_id is None:
            return "launching"  # the first check after the launch sees the cancelled job and stops it
        try:
            container = self.client.fetch_container(run.container_id)
            if container.ended:
                return self._confirm(run)
            stopped = self.containers.stop_if_alone(run.container_id, reason="its job was cancelled")
        except PhantomBusterError as exc:
            return run_steps.check_later(self.db, self.doorbell, self.clock, run_id, exc, UNREACHABLE_RECHECK_SECONDS)
        run_steps.check_later(self.db, self.doorbell, self.clock, run_id, None, 1.0)
        return "stopped" if stopped else "not_stopped"

    def time_out(self, run_id: int) -> str:
        """End a run older than SEQUENTIAL_QUEUE_TIMEOUT: stop its container (only if it is the one running)."""
        run = run_steps.read_run(self.db, run_id)
        if run is None or run.status != RunStatus.PHANTOM_LAUNCHED or run.container_id is None:
            return "not_in_flight"
        limit = self.settings.sequential_queue_timeout
        try:
            container = self.client.fetch_container(run.container_id)
            if not container.ended:
                self.containers.stop_if_alone(run.container_id, reason=f"no result within {limit} s")
        except PhantomBusterError as exc:
            if exc.status_code != 404:
                raise
        return self._confirm(run, forced=failures.timed_out(limit))

    def _execution_resets_at(self) -> datetime | None:
        """When PhantomBuster gives execution time back (orgs/fetch-resources), if it says."""
        try:
            raw = self.client.fetch_resources().raw
        except PhantomBusterError:
            return None
        moments = [ms_time(raw.get(k)) for k in ("dailyResourceNextResetAt", "monthlyResourceNextResetAt")]
        known = [m for m in moments if m is not None and m > self.clock()]
        return max(known) if known else None
