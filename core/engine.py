"""The run engine: claim the slot, launch on PhantomBuster, confirm completions and hand the slot on at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit, failures, jobs, outcomes, queue
from core import slot as slots
from core.config import Settings
from core.db import Database
from core.errors import CircuitOpen, LeaseLost, PhantomBusterBusy, PhantomBusterError
from core.models import IN_FLIGHT_RUN_STATUSES, Job, Lead, Run, RunStatus, WebhookDelivery, utcnow
from core.phantombuster import Container, PhantomBusterClient

log = logging.getLogger(__name__)

RUN_TAG = "leadrelay_run"
FENCE_TAG = "leadrelay_fence"


class Scheduler(Protocol):
    """How the engine asks for follow-up work (Huey in production, a list in unit tests)."""

    def wake(self, delay: float = 0.0) -> None: ...

    def check_run(self, run_id: int, delay: float) -> None: ...

    def complete(self, container_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class LaunchPlan:
    """A run claimed under a lease and about to be launched."""

    run_id: int
    job_id: int
    token: int
    urls: list[str]
    company: str
    attempt: int


class Engine:
    """Drives runs through PhantomBuster's one slot; every write is fenced by the slot token."""

    def __init__(
        self,
        db: Database,
        client: PhantomBusterClient,
        settings: Settings,
        scheduler: Scheduler,
        *,
        worker_id: str,
    ) -> None:
        self.db = db
        self.client = client
        self.settings = settings
        self.scheduler = scheduler
        self.worker_id = worker_id

    # -- launching -----------------------------------------------------------------------------------

    def dispatch(self, actor: str = "worker") -> int | None:
        """Launch the next queued run if the slot is free; returns the run id launched, if any."""
        with self.db.write() as session:
            plan = self.claim_next(session, utcnow(), actor)
        if plan is None:
            return None
        self._launch(plan, actor)
        return plan.run_id

    def claim_next(self, session: Session, now: datetime, actor: str) -> LaunchPlan | None:
        slot = slots.get(session)
        if slot.run_id is not None or slot.paused or (slot.blocked_until is not None and slot.blocked_until > now):
            return None
        run_id = queue.next_run_id(session, now)
        if run_id is None:
            return None
        lease = slots.acquire(
            session, holder=self.worker_id, run_id=run_id, ttl=self.settings.launch_lease_seconds, now=now
        )
        if lease is None:
            return None
        run = session.get(Run, run_id, populate_existing=True)
        assert run is not None
        run.status = RunStatus.LAUNCHING
        run.fence = lease.token
        run.attempts += 1
        run.launch_requested_at = now
        run.not_before = None
        run.updated_at = now
        jobs.mark_started(session, run.job_id, now)
        session.execute(
            update(Job)
            .where(Job.id == run.job_id)
            .values(current_batch=run.seq, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        urls = list(session.scalars(select(Lead.linkedin_url).where(Lead.run_id == run_id).order_by(Lead.id)))
        audit.record(
            session,
            actor,
            "run_launching",
            job_id=run.job_id,
            run_id=run.id,
            at=now,
            fence=lease.token,
            attempt=run.attempts,
            company=run.company,
            leads=len(urls),
            queue_position=1,
        )
        return LaunchPlan(run.id, run.job_id, lease.token, urls, run.company, run.attempts)

    def _launch(self, plan: LaunchPlan, actor: str) -> None:
        metadata = {RUN_TAG: str(plan.run_id), FENCE_TAG: str(plan.token)}
        argument = {"profileUrls": plan.urls, "numberOfAddsPerLaunch": len(plan.urls)}
        try:
            container_id = self.client.launch(argument, metadata=metadata, max_instance_count=1)
        except PhantomBusterBusy as exc:
            self._launch_refused(plan, exc, busy=True)
        except CircuitOpen as exc:
            self._launch_refused(plan, exc, busy=False)
        except PhantomBusterError as exc:
            if exc.code in ("no_answer", "server_error"):
                # The launch may have reached PhantomBuster: look before launching again.
                self._resolve_ambiguous_launch(plan)
            elif exc.status_code == 400:
                self._launch_rejected(plan, exc)
            else:
                self._launch_refused(plan, exc, busy=False)
        else:
            self.record_launched(plan, container_id, actor)

    def record_launched(self, plan: LaunchPlan, container_id: str, actor: str, *, adopted: bool = False) -> None:
        now = utcnow()
        first_check = self._first_check_delay()
        try:
            with self.db.write() as session:
                slots.fence(
                    session,
                    plan.token,
                    holder="phantombuster",
                    expires_at=now + timedelta(seconds=self.settings.sequential_queue_timeout + 60),
                )
                run = session.get(Run, plan.run_id, populate_existing=True)
                assert run is not None
                run.status = RunStatus.PHANTOM_LAUNCHED
                run.container_id = container_id
                run.launched_at = run.launched_at if adopted and run.launched_at else now
                run.fence = plan.token
                run.next_check_at = now + timedelta(seconds=first_check)
                run.updated_at = now
                audit.record(
                    session,
                    actor,
                    "run_adopted" if adopted else "phantom_launched",
                    job_id=plan.job_id,
                    run_id=plan.run_id,
                    at=now,
                    phantom_container_id=container_id,
                    fence=plan.token,
                    attempt=plan.attempt,
                    company=plan.company,
                )
                delivered = session.scalar(
                    select(WebhookDelivery.id).where(WebhookDelivery.container_id == container_id)
                )
        except LeaseLost:
            log.warning(
                "run %s launched as container %s after its lease moved; the reconciler adopts it",
                plan.run_id,
                container_id,
            )
            return
        self.scheduler.check_run(plan.run_id, first_check)
        if delivered is not None:
            self.scheduler.complete(container_id)

    def _launch_refused(self, plan: LaunchPlan, exc: PhantomBusterError, *, busy: bool) -> None:
        if busy and self._adopt_orphan(plan):
            return
        wait = exc.retry_after or (self.settings.busy_backoff_seconds if busy else 30.0)
        reason = exc.message
        with self.db.write() as session:
            try:
                slots.fence(session, plan.token)
            except LeaseLost:
                return
            self.put_back(session, plan, reason=reason, not_launched=True)
            slots.release(session, plan.token, blocked_for=wait, blocked_reason=reason)
        self.scheduler.wake(wait)

    def _launch_rejected(self, plan: LaunchPlan, exc: PhantomBusterError) -> None:
        now = utcnow()
        with self.db.write() as session:
            try:
                slots.fence(session, plan.token)
            except LeaseLost:
                return
            run = session.get(Run, plan.run_id, populate_existing=True)
            assert run is not None
            failure = failures.Failure("launch_rejected", exc.message, retryable=False)
            container = Container(id=f"rejected-{run.id}-{plan.token}", status="launch error", ended_at=now)
            outcomes.apply(session, run, container, None, now=now, max_attempts=0, actor="worker", forced=failure)
            run.container_id = None
            jobs.refresh_progress(session, run.job_id, now)
            slots.release(session, plan.token, now=now)
            next_plan = self.claim_next(session, now, "worker")
        if next_plan is not None:
            self._launch(next_plan, "worker")

    def put_back(self, session: Session, plan: LaunchPlan, *, reason: str, not_launched: bool) -> None:
        run = session.get(Run, plan.run_id, populate_existing=True)
        assert run is not None
        run.status = RunStatus.PENDING
        run.fence = None
        run.container_id = None
        if not_launched:
            run.attempts = max(0, run.attempts - 1)
        run.updated_at = utcnow()
        audit.record(session, "worker", "run_requeued", job_id=plan.job_id, run_id=plan.run_id, reason=reason)

    def _resolve_ambiguous_launch(self, plan: LaunchPlan) -> None:
        try:
            found = self.find_container(plan.run_id)
        except PhantomBusterError as exc:
            log.warning("could not look for run %s's container (%s); the reconciler will", plan.run_id, exc.message)
            return
        if found is not None:
            self.record_launched(plan, found.id, "worker", adopted=True)
            return
        self._launch_refused(
            plan, PhantomBusterError("PhantomBuster did not answer the launch.", retry_after=5.0), busy=False
        )

    def find_container(self, run_id: int) -> Container | None:
        """The container PhantomBuster holds for `run_id`, found by the tag given at launch."""
        tagged = [c for c in self.client.recent_containers() if c.metadata.get(RUN_TAG) == str(run_id)]
        return tagged[0] if tagged else None

    def _adopt_orphan(self, plan: LaunchPlan) -> bool:
        """On a busy answer: if the running container is this run's own earlier launch, adopt it."""
        try:
            found = self.find_container(plan.run_id)
        except PhantomBusterError:
            return False
        if found is None:
            return False
        self.record_launched(plan, found.id, "worker", adopted=True)
        return True

    # -- completing ----------------------------------------------------------------------------------

    def complete_container(self, container_id: str, source: str = "webhook") -> str:
        """Handle a completion hint for a container: confirm with PhantomBuster, then finish its run."""
        with self.db.read() as session:
            run_id = session.scalar(select(Run.id).where(Run.container_id == container_id))
        if run_id is None:
            return "unknown_container"
        return self.finish_run(run_id, source=source)

    def check_run(self, run_id: int) -> str:
        """Polling fallback: ask PhantomBuster how a run in flight is doing and act on it."""
        return self.finish_run(run_id, source="poll")

    def finish_run(self, run_id: int, *, source: str, forced: failures.Failure | None = None) -> str:
        """Confirm a run's end with containers/fetch, store its results, free the slot and launch the next run."""
        actor = {"webhook": "webhook", "poll": "worker", "reconciler": "reconciler"}.get(source, source)
        with self.db.read() as session:
            run = session.get(Run, run_id)
            if run is None or run.status not in (RunStatus.PHANTOM_LAUNCHED, RunStatus.WEBHOOK_RECEIVED):
                return "not_in_flight"
            container_id = run.container_id
            slot = slots.get(session)
            token = slot.token if slot.run_id == run_id else None
            delivery_at = session.scalar(
                select(WebhookDelivery.received_at).where(WebhookDelivery.container_id == container_id)
            )
        assert container_id is not None
        container = self.client.fetch_container(container_id)
        now = utcnow()
        if not container.ended and forced is None:
            delay = self._recheck_delay()
            with self.db.write() as session:
                run = session.get(Run, run_id, populate_existing=True)
                if run is None or run.container_id != container_id:
                    return "not_in_flight"
                run.next_check_at = now + timedelta(seconds=delay)
                if delivery_at is not None and run.status == RunStatus.PHANTOM_LAUNCHED:
                    run.status = RunStatus.WEBHOOK_RECEIVED
                    run.webhook_received_at = delivery_at
                    audit.record(
                        session,
                        "webhook",
                        "webhook_received",
                        job_id=run.job_id,
                        run_id=run.id,
                        phantom_container_id=container_id,
                        webhook_received_at=delivery_at.isoformat(),
                        confirmed=False,
                        container_status=container.status,
                    )
            self.scheduler.check_run(run_id, delay)
            return "not_finished"
        profiles = self.client.fetch_result_object(container_id)
        next_plan: LaunchPlan | None = None
        with self.db.write() as session:
            if token is not None:
                try:
                    slots.fence(session, token)
                except LeaseLost:
                    return "lease_lost"
            run = session.get(Run, run_id, populate_existing=True)
            if run is None or run.status not in IN_FLIGHT_RUN_STATUSES or run.container_id != container_id:
                return "not_in_flight"
            outcome = outcomes.apply(
                session,
                run,
                container,
                profiles,
                now=now,
                max_attempts=self.settings.max_run_attempts,
                actor=actor,
                forced=forced,
            )
            jobs.refresh_progress(session, run.job_id, now)
            if token is not None:
                slots.release(session, token, now=now)
                next_plan = self.claim_next(session, now, "worker")
                audit.record(
                    session,
                    actor,
                    "slot_handed_over",
                    job_id=run.job_id,
                    run_id=run_id,
                    at=now,
                    phantom_container_id=container_id,
                    next_job_queued=next_plan is not None,
                    next_run_id=next_plan.run_id if next_plan else None,
                )
        if next_plan is not None:
            self._launch(next_plan, "worker")
        elif token is None or outcome.retry:
            self.scheduler.wake(0.0 if not outcome.retry else 0.5)
        return outcome.status

    def stop_run(self, run_id: int) -> bool:
        """Ask PhantomBuster to stop a run in flight (cancel or timeout); its end arrives like any other."""
        with self.db.read() as session:
            run = session.get(Run, run_id)
            if run is None or run.status not in IN_FLIGHT_RUN_STATUSES:
                return False
        self.client.stop_agent()
        self.scheduler.check_run(run_id, 1.0)
        return True

    # -- timings -------------------------------------------------------------------------------------

    def _expected(self) -> float:
        with self.db.read() as session:
            return queue.duration_stats(session, self.settings.expected_run_seconds).median

    def _first_check_delay(self) -> float:
        return max(1.0, self._expected() * 1.5)

    def _recheck_delay(self) -> float:
        return min(30.0, max(1.0, self._expected() * 0.5))
