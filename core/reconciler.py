"""The reconciler: brings every run to an end from database state alone, whatever crashed or went missing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from core import audit, failures, heartbeat
from core import slot as slots
from core.engine import Engine, LaunchPlan
from core.errors import LeaseLost, PhantomBusterError
from core.models import IN_FLIGHT_RUN_STATUSES, Run, RunStatus, WebhookDelivery, utcnow

log = logging.getLogger(__name__)

DELIVERY_GRACE_SECONDS = 2.0
DELIVERY_GIVE_UP = timedelta(hours=6)


@dataclass(slots=True)
class ReconcileReport:
    """What one reconciler pass did, for logs and tests."""

    actions: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.actions.append(text)
        log.info("reconciler: %s", text)


def reconcile(engine: Engine) -> ReconcileReport:
    """One pass: expired leases, overdue and timed-out runs, lost messages, an idle slot with work queued."""
    report = ReconcileReport()
    settings = engine.settings
    now = utcnow()
    with engine.db.read() as session:
        slot = slots.get(session)
        held = session.get(Run, slot.run_id) if slot.run_id is not None else None
        token, expires_at = slot.token, slot.expires_at
        in_flight = list(session.scalars(select(Run).where(Run.status.in_(IN_FLIGHT_RUN_STATUSES))))
        deliveries = list(
            session.execute(
                select(WebhookDelivery.container_id, WebhookDelivery.received_at).where(
                    WebhookDelivery.processed_at.is_(None)
                )
            )
        )
        known = (
            {
                cid
                for (cid,) in session.execute(
                    select(Run.container_id).where(Run.container_id.in_([d.container_id for d in deliveries]))
                )
            }
            if deliveries
            else set()
        )
        pending = session.scalar(select(Run.id).where(Run.status == RunStatus.PENDING).limit(1))
        free = slot.run_id is None and not slot.paused

    if slot.run_id is not None and (held is None or held.status not in IN_FLIGHT_RUN_STATUSES):
        with engine.db.write() as session:
            try:
                slots.release(session, token, now=now)
                audit.record(
                    session,
                    "reconciler",
                    "slot_released",
                    run_id=slot.run_id,
                    reason="the run holding the slot had already ended",
                )
                report.add(f"released the slot held by ended run {slot.run_id}")
                free = not slot.paused
            except LeaseLost:
                pass

    for run in in_flight:
        if run.status == RunStatus.LAUNCHING:
            if held is not None and run.id == held.id and expires_at is not None and expires_at <= now:
                _recover_launch(engine, run, token, report)
            elif held is None or run.id != held.id:
                _recover_launch_without_slot(engine, run, report)
            continue
        started = run.launched_at or run.launch_requested_at or now
        if (now - started).total_seconds() > settings.sequential_queue_timeout:
            _time_out(engine, run, report)
        elif run.next_check_at is None or run.next_check_at <= now - timedelta(seconds=1.0):
            engine.scheduler.check_run(run.id, 0.0)
            report.add(f"run {run.id} overdue for a check: check queued")

    for container_id, received_at in deliveries:
        age = now - received_at
        if container_id in known:
            if age.total_seconds() >= DELIVERY_GRACE_SECONDS:
                engine.scheduler.complete(container_id)
                report.add(f"webhook for container {container_id} not processed yet: completion queued")
        elif age > DELIVERY_GIVE_UP:
            with engine.db.write() as session:
                session.execute(
                    WebhookDelivery.__table__.update()
                    .where(WebhookDelivery.container_id == container_id)
                    .values(processed_at=now)
                )
            report.add(f"webhook for unknown container {container_id} set aside")

    if free and pending is not None:
        engine.scheduler.wake()
        report.add("slot free with runs queued: dispatch queued")
    with engine.db.write() as session:
        heartbeat.beat(session, "worker", now=now, worker_id=engine.worker_id)
    return report


def _recover_launch(engine: Engine, run: Run, token: int, report: ReconcileReport) -> None:
    """A run stuck in `launching` under an expired lease: ask PhantomBuster before launching again."""
    with engine.db.write() as session:
        lease = slots.take_over(
            session, holder=f"{engine.worker_id}:recovery", token=token, ttl=engine.settings.launch_lease_seconds
        )
        if lease is not None:
            audit.record(
                session,
                "reconciler",
                "lease_taken_over",
                job_id=run.job_id,
                run_id=run.id,
                old_fence=token,
                fence=lease.token,
            )
    if lease is None:
        return
    plan = LaunchPlan(run.id, run.job_id, lease.token, [], run.company, run.attempts)
    try:
        found = engine.find_container(run.id)
    except PhantomBusterError as exc:
        report.add(f"run {run.id}: could not ask PhantomBuster ({exc.message}); will try again")
        return
    if found is not None:
        engine.record_launched(plan, found.id, "reconciler", adopted=True)
        report.add(f"run {run.id}: adopted container {found.id} launched before a crash")
        return
    with engine.db.write() as session:
        try:
            slots.fence(session, lease.token)
        except LeaseLost:
            return
        engine.put_back(
            session, plan, reason="the launch never reached PhantomBuster (worker stopped)", not_launched=True
        )
        slots.release(session, lease.token)
    engine.scheduler.wake()
    report.add(f"run {run.id}: never reached PhantomBuster; queued again")


def _recover_launch_without_slot(engine: Engine, run: Run, report: ReconcileReport) -> None:
    """A `launching` run the slot no longer points at (the slot was released by hand): re-queue or adopt it."""
    age = (utcnow() - (run.launch_requested_at or utcnow())).total_seconds()
    if age < engine.settings.launch_lease_seconds:
        return
    try:
        found = engine.find_container(run.id)
    except PhantomBusterError:
        return
    with engine.db.write() as session:
        current = session.get(Run, run.id, populate_existing=True)
        if current is None or current.status != RunStatus.LAUNCHING:
            return
        if found is not None:
            current.status, current.container_id = RunStatus.PHANTOM_LAUNCHED, found.id
            current.launched_at = found.created_at or utcnow()
            current.next_check_at = utcnow()
            audit.record(
                session, "reconciler", "run_adopted", job_id=run.job_id, run_id=run.id, phantom_container_id=found.id
            )
        else:
            current.status, current.fence = RunStatus.PENDING, None
            current.attempts = max(0, current.attempts - 1)
            audit.record(
                session,
                "reconciler",
                "run_requeued",
                job_id=run.job_id,
                run_id=run.id,
                reason="launch interrupted while the slot was released by hand",
            )
    report.add(f"run {run.id}: recovered a launch outside the slot")
    engine.scheduler.wake()


def _time_out(engine: Engine, run: Run, report: ReconcileReport) -> None:
    """Stop a run older than SEQUENTIAL_QUEUE_TIMEOUT and end it as timed out."""
    try:
        engine.client.stop_agent()
    except PhantomBusterError as exc:
        report.add(f"run {run.id}: could not stop it ({exc.message}); will try again")
        return
    status = engine.finish_run(
        run.id, source="reconciler", forced=failures.timed_out(engine.settings.sequential_queue_timeout)
    )
    report.add(f"run {run.id}: timed out after {engine.settings.sequential_queue_timeout} s, stopped ({status})")
