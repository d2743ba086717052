"""The run engine: each step of a run that needs PhantomBuster, asked of the API, then recorded by core.lifecycle.

The engine never changes a run, the slot or the webhook inbox itself: it calls PhantomBuster outside any
transaction, then asks `core.lifecycle` to record what it learnt, then rings the doorbell for the next step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from core import failures, lifecycle, queue
from core.config import Settings
from core.db import Database
from core.doorbell import Doorbell
from core.errors import CircuitOpen, LeaseLost, PhantomBusterBusy, PhantomBusterError
from core.lifecycle import LaunchPlan, batches, inbox
from core.models import IN_FLIGHT_RUN_STATUSES, Job, JobStatus, Run, RunStatus, utcnow
from core.orphans import ACTIVE_CONTAINER_STATUSES, FENCE_TAG, RUN_TAG, AgentContainers, run_tag
from core.phantombuster import Container, PhantomBusterClient, scraper_launch_argument
from core.scraper_rows import ScraperRow

log = logging.getLogger(__name__)

LOOKUP_INTERVAL_SECONDS = 2.0
UNREACHABLE_RECHECK_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """The fields of a run a step decides on, read in one short transaction."""

    id: int
    job_id: int
    status: str
    container_id: str | None
    check_ticket: int
    launch_requested_at: datetime | None
    launch_unanswered_at: datetime | None
    batch_fetched_at: datetime | None
    job_cancelled: bool


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
        self.client = client
        self.settings = settings
        self.doorbell = doorbell
        self.worker_id = worker_id
        self.clock = clock
        self.containers = AgentContainers(db, client, settings, doorbell, worker_id=worker_id, clock=clock)

    # -- reading ---------------------------------------------------------------------------------------

    def _snapshot(self, run_id: int) -> RunSnapshot | None:
        with self.db.read() as session:
            row = session.execute(
                select(
                    Run.id,
                    Run.job_id,
                    Run.status,
                    Run.container_id,
                    Run.check_ticket,
                    Run.launch_requested_at,
                    Run.launch_unanswered_at,
                    Run.batch_fetched_at,
                    Job.status,
                )
                .join(Job, Job.id == Run.job_id)
                .where(Run.id == run_id)
            ).first()
        if row is None:
            return None
        return RunSnapshot(*row[:8], job_cancelled=row[8] == JobStatus.CANCELLED)

    # -- launching -------------------------------------------------------------------------------------

    def dispatch(self) -> int | None:
        """Launch the next queued run if the slot is free; returns the run id launched, if any."""
        with self.db.write() as session:
            plan = lifecycle.claim_next(
                session,
                holder=self.worker_id,
                now=self.clock(),
                lease_seconds=self.settings.launch_lease_seconds,
                actor="worker",
            )
        if plan is None:
            return None
        self._launch(plan)
        return plan.run_id

    def _launch(self, plan: LaunchPlan) -> None:
        metadata = {RUN_TAG: str(plan.run_id), FENCE_TAG: str(plan.token)}
        assert plan.batch_token is not None and plan.csv_name is not None
        argument = scraper_launch_argument(
            batches.url(self.settings.public_base_url, plan.batch_token),
            column_name=batches.COLUMN,
            csv_name=plan.csv_name,
            number_of_adds=max(1, plan.lead_count),
        )
        try:
            container_id = self.client.launch(argument, metadata=metadata, max_instance_count=1)
        except PhantomBusterBusy as exc:
            self._busy(plan, exc)
        except CircuitOpen as exc:
            self._put_back(plan, exc.message, block_seconds=exc.retry_after or 30.0)
        except PhantomBusterError as exc:
            if exc.code in ("no_answer", "server_error"):
                # The launch may have reached PhantomBuster: look for it before launching again.
                self._unanswered(plan)
            elif exc.status_code == 400:
                self._reject(plan, exc)
            else:
                self._put_back(plan, exc.message, block_seconds=exc.retry_after or 30.0)
        else:
            self._record_launch(plan, container_id, actor="worker")

    def _record_launch(
        self,
        plan: LaunchPlan,
        container_id: str,
        *,
        actor: str,
        adopted: bool = False,
        launched_at: datetime | None = None,
    ) -> bool:
        now = self.clock()
        try:
            with self.db.write() as session:
                ticket, delay = lifecycle.mark_launched(
                    session,
                    plan,
                    container_id,
                    now=now,
                    actor=actor,
                    hold_seconds=self.settings.phantom_hold_seconds,
                    first_check_in=self._first_check_delay(),
                    adopted=adopted,
                    launched_at=launched_at,
                )
        except LeaseLost:
            # Another worker took the lease over: the container is an orphan that the next scan adopts or stops.
            log.warning(
                "run %s got container %s after its lease moved; the orphan scan settles it", plan.run_id, container_id
            )
            return False
        self.doorbell.check(plan.run_id, ticket, delay)
        return True

    def _put_back(self, plan: LaunchPlan, reason: str, *, block_seconds: float) -> None:
        try:
            with self.db.write() as session:
                lifecycle.put_back(
                    session,
                    plan.run_id,
                    token=plan.token,
                    reason=reason,
                    count_attempt=False,
                    now=self.clock(),
                    actor="worker",
                    block_seconds=block_seconds,
                )
        except LeaseLost:
            return
        self.doorbell.dispatch(block_seconds)

    def _busy(self, plan: LaunchPlan, exc: PhantomBusterBusy) -> None:
        """PhantomBuster runs something on the agent: adopt it if it is this run's, settle other LeadRelay orphans."""
        try:
            recent = self.client.recent_containers()
        except PhantomBusterError:
            recent = []
        mine = next((c for c in recent if c.status in ACTIVE_CONTAINER_STATUSES and run_tag(c) == plan.run_id), None)
        if mine is not None:
            self._record_launch(plan, mine.id, actor="worker", adopted=True, launched_at=mine.launched_at)
            return
        self._put_back(plan, exc.message, block_seconds=exc.retry_after or self.settings.busy_backoff_seconds)
        self.containers.settle(recent)

    def _unanswered(self, plan: LaunchPlan) -> None:
        now = self.clock()
        until = now + timedelta(seconds=self.settings.launch_lease_seconds + self.settings.launch_lookup_margin_seconds)
        try:
            with self.db.write() as session:
                ticket = lifecycle.mark_unanswered(
                    session, plan, now=now, look_up_until=until, first_look_in=LOOKUP_INTERVAL_SECONDS
                )
        except LeaseLost:
            return
        self.doorbell.check(plan.run_id, ticket, LOOKUP_INTERVAL_SECONDS)

    def _reject(self, plan: LaunchPlan, exc: PhantomBusterError) -> None:
        failure = failures.Failure("launch_rejected", exc.message, retryable=False)
        try:
            with self.db.write() as session:
                lifecycle.reject_launch(session, plan, failure, now=self.clock(), actor="worker")
        except LeaseLost:
            return
        self.doorbell.dispatch()

    def _look_up_launch(self, run: RunSnapshot) -> str:
        """A launch that got no answer: adopt its container once PhantomBuster shows it, or put it back in time."""
        if run.launch_unanswered_at is None:
            return "launching"  # a launch in progress; after a crash the reconciler takes the expired lease over
        now = self.clock()
        fetched_since = run.launch_requested_at if run.batch_fetched_at is not None else None
        try:
            found = self.containers.find(run.id, fetched_since=fetched_since)
            running = [] if found is not None else self.containers.running()
        except PhantomBusterError as exc:
            return self._check_later(run.id, exc, LOOKUP_INTERVAL_SECONDS * 2)
        if found is not None:
            with self.db.write() as session:
                plan = lifecycle.current_plan(session, run.id, now=now, ttl=self.settings.launch_lease_seconds)
            if plan is not None and self._record_launch(
                plan, found.id, actor="worker", adopted=True, launched_at=found.launched_at
            ):
                return "adopted"
            return "lease_lost"
        requested = run.launch_requested_at or run.launch_unanswered_at
        deadline = requested + timedelta(
            seconds=self.settings.launch_lease_seconds + self.settings.launch_lookup_margin_seconds
        )
        if now < deadline or running:
            # Still within the time PhantomBuster may take to process it, or the agent is busy with a container
            # that carries no tag of ours: keep looking rather than risk a second launch.
            return self._check_later(run.id, None, LOOKUP_INTERVAL_SECONDS if now < deadline else 10.0)
        with self.db.write() as session:
            plan = lifecycle.current_plan(session, run.id, now=now, ttl=self.settings.launch_lease_seconds)
            if plan is None:
                return "lease_lost"
            lifecycle.put_back(
                session,
                run.id,
                token=plan.token,
                reason="PhantomBuster never showed the launch and runs nothing for the agent, so it is queued again.",
                count_attempt=False,
                now=now,
                actor="worker",
            )
        self.doorbell.dispatch()
        return "queued_again"

    # -- checking and finishing ------------------------------------------------------------------------

    def check(self, run_id: int, ticket: int | None = None) -> str:
        """Ask PhantomBuster how a run in flight is doing and act on it (a stale ticket does nothing)."""
        run = self._snapshot(run_id)
        if run is None or run.status not in IN_FLIGHT_RUN_STATUSES:
            return "not_in_flight"
        if ticket is not None and run.check_ticket != ticket:
            return "superseded"
        if run.status == RunStatus.LAUNCHING:
            return self._look_up_launch(run)
        return self._confirm(run)

    def _check_later(self, run_id: int, exc: PhantomBusterError | None, delay: float) -> str:
        if exc is not None:
            log.warning("run %s: PhantomBuster did not answer (%s); asking again in %.0f s", run_id, exc.message, delay)
        now = self.clock()
        with self.db.write() as session:
            run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
            if run is None or run.status not in IN_FLIGHT_RUN_STATUSES:
                return "not_in_flight"
            ticket = lifecycle.schedule_check(session, run, delay, now)
        self.doorbell.check(run_id, ticket, delay)
        return "unreachable" if exc is not None else "waiting"

    def _confirm(self, run: RunSnapshot, forced: failures.Failure | None = None) -> str:
        assert run.container_id is not None
        try:
            container = self.client.fetch_container(run.container_id)
            rows = self.client.fetch_result_rows(run.container_id) if container.ended else None
        except PhantomBusterError as exc:
            if exc.status_code == 404:
                container = Container(id=run.container_id, status="unknown")
                return self._finish(run, container, None, forced or failures.container_lost(run.container_id))
            return self._check_later(run.id, exc, UNREACHABLE_RECHECK_SECONDS)
        if container.ended or forced is not None:
            return self._finish(run, container, rows, forced)
        if run.job_cancelled:
            self.containers.stop_if_alone(run.container_id, reason="its job was cancelled")
        now = self.clock()
        delay = self._recheck_delay()
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
    ) -> str:
        now = self.clock()
        with self.db.write() as session:
            finished = lifecycle.finish(
                session,
                run.id,
                container,
                rows,
                now=now,
                max_attempts=self.settings.max_run_attempts,
                max_lead_attempts=self.settings.max_lead_attempts,
                holder=self.worker_id,
                lease_seconds=self.settings.launch_lease_seconds,
                actor="worker",
                forced=forced,
            )
        if finished is None:
            return "not_in_flight"
        if finished.next_plan is not None:
            self._launch(finished.next_plan)
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
        run = self._snapshot(run_id)
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
            return self._check_later(run_id, exc, UNREACHABLE_RECHECK_SECONDS)
        self._check_later(run_id, None, 1.0)
        return "stopped" if stopped else "not_stopped"

    def time_out(self, run_id: int) -> str:
        """End a run older than SEQUENTIAL_QUEUE_TIMEOUT: stop its container (only if it is the one running)."""
        run = self._snapshot(run_id)
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

    # -- timings ---------------------------------------------------------------------------------------

    def _expected(self) -> float:
        with self.db.read() as session:
            return queue.duration_stats(session, self.settings.expected_run_seconds).median

    def _first_check_delay(self) -> float:
        return max(1.0, self._expected() * 1.5)

    def _recheck_delay(self) -> float:
        return min(30.0, max(1.0, self._expected() * 0.5))
