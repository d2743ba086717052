"""Launching a run on PhantomBuster: claim, agents/launch, and what each answer means (busy, no answer, refused).

A launch that got no answer may still have happened: the run keeps the slot while PhantomBuster is asked,
until its lease has expired plus a margin, and is put back only when PhantomBuster runs nothing for the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from core import accounts, lifecycle, run_steps
from core.config import Settings
from core.db import Database
from core.doorbell import Doorbell
from core.errors import CircuitOpen, LeaseLost, PhantomBusterBusy, PhantomBusterError
from core.lifecycle import LaunchPlan, batches
from core.orphans import ACTIVE_CONTAINER_STATUSES, FENCE_TAG, RUN_TAG, AgentContainers, run_tag
from core.phantombuster import PhantomBusterClient, scraper_launch_argument
from core.run_steps import RunSnapshot

log = logging.getLogger(__name__)

LOOKUP_INTERVAL_SECONDS = 2.0


class Launcher:
    """Claims the next run and launches it; records the container, or what PhantomBuster answered instead."""

    def __init__(
        self,
        db: Database,
        client: PhantomBusterClient,
        settings: Settings,
        doorbell: Doorbell,
        containers: AgentContainers,
        *,
        worker_id: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.client = client
        self.settings = settings
        self.doorbell = doorbell
        self.containers = containers
        self.worker_id = worker_id
        self.clock = clock

    def dispatch(self) -> int | None:
        """Launch the next queued run if the slot is free; returns the run id launched, if any."""
        with self.db.write() as session:
            plan = lifecycle.claim_next(session, self.settings, holder=self.worker_id, now=self.clock(), actor="worker")
        if plan is None:
            return None
        self.launch(plan)
        return plan.run_id

    def launch(self, plan: LaunchPlan) -> None:
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
            elif exc.status_code in (400, 401, 402, 403, 404):
                # The same answer would come for every run: the set-up needs a fix, the jobs are fine.
                self._configuration_problem(plan, exc)
            else:
                self._put_back(plan, exc.message, block_seconds=exc.retry_after or 30.0)
        else:
            self.record(plan, container_id, actor="worker")

    def record(
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
                    first_check_in=run_steps.first_check_delay(self.db, self.settings),
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
            self.record(plan, mine.id, actor="worker", adopted=True, launched_at=mine.launched_at)
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

    def _configuration_problem(self, plan: LaunchPlan, exc: PhantomBusterError) -> None:
        reason = (
            f"PhantomBuster refused the launch: {exc.message} Fix the agent or the key, then resume on the Admin page."
        )
        now = self.clock()
        try:
            with self.db.write() as session:
                account = accounts.current(session, self.settings, for_update=True)
                accounts.pause(session, account, accounts.Hold.CONFIGURATION, reason, now, "worker")
                lifecycle.put_back(
                    session, plan.run_id, token=plan.token, reason=reason, count_attempt=False, now=now, actor="worker"
                )
        except LeaseLost:
            return

    def look_up(self, run: RunSnapshot) -> str:
        """A launch that got no answer: adopt its container once PhantomBuster shows it, or put it back in time."""
        if run.launch_unanswered_at is None:
            return "launching"  # a launch in progress; after a crash the reconciler takes the expired lease over
        now = self.clock()
        fetched_since = run.launch_requested_at if run.batch_fetched_at is not None else None
        try:
            found = self.containers.find(run.id, fetched_since=fetched_since)
            running = [] if found is not None else self.containers.running()
        except PhantomBusterError as exc:
            return run_steps.check_later(self.db, self.doorbell, self.clock, run.id, exc, LOOKUP_INTERVAL_SECONDS * 2)
        if found is not None:
            with self.db.write() as session:
                plan = lifecycle.current_plan(session, run.id, now=now, ttl=self.settings.launch_lease_seconds)
            if plan is not None and self.record(
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
            return run_steps.check_later(
                self.db, self.doorbell, self.clock, run.id, None, LOOKUP_INTERVAL_SECONDS if now < deadline else 10.0
            )
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
