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

from core import audit, failures, lifecycle, queue
from core.config import Settings
from core.db import Database
from core.doorbell import Doorbell
from core.errors import CircuitOpen, LeaseLost, PhantomBusterBusy, PhantomBusterError
from core.lifecycle import LaunchPlan, batches, inbox
from core.models import IN_FLIGHT_RUN_STATUSES, Job, JobStatus, Run, RunStatus, utcnow
from core.phantombuster import Container, PhantomBusterClient, scraper_launch_argument
from core.scraper_rows import ScraperRow

log = logging.getLogger(__name__)

RUN_TAG = "leadrelay_run"
FENCE_TAG = "leadrelay_fence"
LOOKUP_INTERVAL_SECONDS = 2.0
UNREACHABLE_RECHECK_SECONDS = 10.0
ACTIVE_CONTAINER_STATUSES = ("starting", "running")


def run_tag(container: Container) -> int | None:
    """The LeadRelay run a container was launched for, from its tags (None for anyone else's container)."""
    value = container.metadata.get(RUN_TAG)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def fence_tag(container: Container) -> int | None:
    """The slot fence the container was launched under."""
    value = container.metadata.get(FENCE_TAG)
    return int(value) if isinstance(value, str) and value.isdigit() else None


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

    def _hold_seconds(self) -> float:
        return self.settings.sequential_queue_timeout + 60.0

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
                    hold_seconds=self._hold_seconds(),
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
        self._settle_orphans(recent)

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

    def find_container(self, run_id: int, *, fetched_since: datetime | None = None) -> Container | None:
        """The newest container PhantomBuster holds for `run_id`, found by the tag given at launch.

        Should PhantomBuster not echo the tags (they are in its published contract only since 2026), a run whose
        batch URL was fetched (`fetched_since`: the launch request) owns the one untagged container started since.
        """
        recent = self.client.recent_containers()
        tagged = [c for c in recent if run_tag(c) == run_id]
        if tagged:
            return tagged[0]
        if fetched_since is None or any(c.metadata for c in recent):
            return None
        since = fetched_since - timedelta(seconds=5)
        started = [c for c in recent if c.created_at is not None and c.created_at >= since]
        return started[0] if len(started) == 1 else None

    def _running_on_agent(self) -> list[Container]:
        return [c for c in self.client.recent_containers() if c.status in ACTIVE_CONTAINER_STATUSES]

    def _look_up_launch(self, run: RunSnapshot) -> str:
        """A launch that got no answer: adopt its container once PhantomBuster shows it, or put it back in time."""
        if run.launch_unanswered_at is None:
            return "launching"  # a launch in progress; after a crash the reconciler takes the expired lease over
        now = self.clock()
        fetched_since = run.launch_requested_at if run.batch_fetched_at is not None else None
        try:
            found = self.find_container(run.id, fetched_since=fetched_since)
            running = [] if found is not None else self._running_on_agent()
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
            self._stop_if_alone(run.container_id, reason="its job was cancelled")
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

    def _stop_if_alone(self, container_id: str, *, reason: str) -> bool:
        """agents/stop stops whatever runs on the agent: call it only when that is this container, alone."""
        running = self._running_on_agent()
        if [c.id for c in running] != [container_id]:
            log.warning(
                "not stopping container %s (%s): the agent runs %s",
                container_id,
                reason,
                ", ".join(c.id for c in running) or "nothing",
            )
            return False
        self.client.stop_agent()
        with self.db.write() as session:
            audit.record(session, "worker", "container_stopped", phantom_container_id=container_id, reason=reason)
        return True

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
            stopped = self._stop_if_alone(run.container_id, reason="its job was cancelled")
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
                self._stop_if_alone(run.container_id, reason=f"no result within {limit} s")
        except PhantomBusterError as exc:
            if exc.status_code != 404:
                raise
        return self._confirm(run, forced=failures.timed_out(limit))

    # -- recovering ------------------------------------------------------------------------------------

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

    def recover_launch_without_slot(self, run_id: int) -> str:
        """A `launching` run the slot no longer points at (it was released by hand): adopt its container or re-queue."""
        found = self.find_container(run_id)
        now = self.clock()
        with self.db.write() as session:
            run = session.get(Run, run_id, populate_existing=True)
            if run is None or run.status != RunStatus.LAUNCHING:
                return "not_launching"
            if found is not None:
                first = lifecycle.adopt(
                    session,
                    run_id,
                    found,
                    holder=self.worker_id,
                    now=now,
                    lease_seconds=self.settings.launch_lease_seconds,
                    hold_seconds=self._hold_seconds(),
                    actor="reconciler",
                    launch_fence=fence_tag(found),
                )
                if first is not None:
                    ticket, delay = first
                    self.doorbell.check(run_id, ticket, delay)
                    return "adopted"
                return "slot_busy"
            lifecycle.put_back(
                session,
                run_id,
                token=None,
                reason="The launch was interrupted while the slot was released by hand; queued again.",
                count_attempt=False,
                now=now,
                actor="reconciler",
            )
        self.doorbell.dispatch()
        return "queued_again"

    def scan_orphans(self) -> list[str]:
        """Adopt (or stop) containers that carry a LeadRelay run tag but that no run holds."""
        return self._settle_orphans(self.client.recent_containers())

    def _settle_orphans(self, containers: list[Container]) -> list[str]:
        done: list[str] = []
        now = self.clock()
        for container in containers:
            run_id = run_tag(container)
            if run_id is None:
                continue
            with self.db.write() as session:
                holder = session.scalar(select(Run.id).where(Run.container_id == container.id))
                if holder is not None:
                    continue
                status = session.scalar(select(Run.status).where(Run.id == run_id))
                if status is None:
                    continue  # not a run of this database (another installation, or removed by retention)
                first = lifecycle.adopt(
                    session,
                    run_id,
                    container,
                    holder=self.worker_id,
                    now=now,
                    lease_seconds=self.settings.launch_lease_seconds,
                    hold_seconds=self._hold_seconds(),
                    actor="reconciler",
                    launch_fence=fence_tag(container),
                )
            if first is not None:
                ticket, delay = first
                self.doorbell.check(run_id, ticket, delay)
                done.append(f"adopted container {container.id} for run {run_id}")
            elif container.status in ACTIVE_CONTAINER_STATUSES:
                reason = f"it was launched for run {run_id}, which no longer needs it"
                if self._stop_if_alone(container.id, reason=reason):
                    done.append(f"stopped container {container.id}: {reason}")
        return done

    def set_aside_delivery(self, container_id: str) -> None:
        """Stop waiting for a run to claim a webhook's container."""
        with self.db.write() as session:
            inbox.set_aside(session, container_id, self.clock())

    def check_overdue(self, run_id: int) -> None:
        """A run in flight whose check never came (a lost message): plan one now."""
        now = self.clock()
        with self.db.write() as session:
            run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
            if run is None or run.status not in IN_FLIGHT_RUN_STATUSES:
                return
            ticket = lifecycle.schedule_check(session, run, 0.0, now)
        self.doorbell.check(run_id, ticket, 0.0)

    def release_stale_slot(self) -> int | None:
        """Free a slot still held by a run that has ended; returns that run."""
        with self.db.write() as session:
            return lifecycle.release_if_holder_ended(session, self.clock())

    # -- timings ---------------------------------------------------------------------------------------

    def _expected(self) -> float:
        with self.db.read() as session:
            return queue.duration_stats(session, self.settings.expected_run_seconds).median

    def _first_check_delay(self) -> float:
        return max(1.0, self._expected() * 1.5)

    def _recheck_delay(self) -> float:
        return min(30.0, max(1.0, self._expected() * 0.5))
