"""The end of a run: its confirmed container applied to the run and its leads, the slot handed to the next run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import accounts, audit, failures, jobs, outcomes
from core.config import Settings
from core.lifecycle import controls, inbox
from core.lifecycle import slot as slots
from core.lifecycle.launching import LaunchPlan, claim_next
from core.models import IN_FLIGHT_RUN_STATUSES, Job, JobStatus, Lead, LeadStatus, Run, RunStatus
from core.phantombuster import Container
from core.scraper_rows import ScraperRow


@dataclass(frozen=True, slots=True)
class Finished:
    """What ending a run did: its status, lead counts, a retry's delay, and the next run now holding the slot."""

    status: str
    enriched: int
    failed: int
    retry_in: float | None
    next_plan: LaunchPlan | None
    freed_slot: bool


def _apply_leads(session: Session, outcome: outcomes.Outcome, now: datetime) -> None:
    for lead_id, profile in outcome.enriched.items():
        session.execute(
            update(Lead)
            .where(Lead.id == lead_id)
            .values(status=LeadStatus.SUCCESS, profile=profile, error=None, error_kind=None, enriched_at=now)
            .execution_options(synchronize_session=False)
        )
    by_reason: dict[tuple[str, str | None], list[int]] = {}
    for lead_id, reason in outcome.failed.items():
        by_reason.setdefault((reason, outcome.kinds.get(lead_id)), []).append(lead_id)
    if outcome.cancelled:
        by_reason.setdefault((failures.CANCELLED, "cancelled"), []).extend(outcome.cancelled)
    for (reason, kind), ids in by_reason.items():
        status = LeadStatus.CANCELLED if reason == failures.CANCELLED else LeadStatus.FAILED
        session.execute(
            update(Lead)
            .where(Lead.id.in_(ids))
            .values(status=status, error=reason, error_kind=kind)
            .execution_options(synchronize_session=False)
        )


EXECUTION_TIME_END_TYPES = ("global timeout", "org timeout")


def _held_by_account(
    session: Session,
    run: Run,
    container: Container,
    *,
    settings: Settings,
    now: datetime,
    actor: str,
    execution_resets_at: datetime | None,
) -> Finished:
    """The run ended on the account or the plan, not on its leads: it goes back to the queue as if never sent."""
    account = accounts.current(session, settings, for_update=True)
    if container.session_problem:
        reason = failures.session_expired(container.exit_code).message
        accounts.pause(session, account, accounts.Hold.SESSION, reason, now, actor)
    else:
        reason = (
            "PhantomBuster's execution time for the plan is used up; launches resume when it is reset, "
            "or when an admin resumes them."
        )
        until = execution_resets_at or now + timedelta(hours=24)
        accounts.block(session, account, accounts.Hold.EXECUTION_TIME, reason, until, now)
    accounts.forget_launch(session, run_id=run.id, fence=run.fence)
    inbox.settle(session, container, now)
    run.status = RunStatus.PENDING
    run.settled_fence = max(run.settled_fence or 0, run.fence or 0) or None
    run.fence = None
    run.container_id = None
    run.attempts = max(0, run.attempts - 1)
    run.next_check_at = None
    run.exit_code, run.exit_message = container.exit_code, container.end_type or container.status
    run.error_message = reason
    run.updated_at = now
    audit.record(
        session,
        actor,
        "run_requeued",
        job_id=run.job_id,
        run_id=run.id,
        at=now,
        phantom_container_id=container.id,
        exit_code=container.exit_code,
        end_type=container.end_type,
        reason=reason,
    )
    jobs.refresh_progress(session, run.job_id, now)
    slot = slots.get(session)
    if slot.run_id == run.id:
        slots.release(session, slot.token, now=now)
    return Finished(status=RunStatus.PENDING, enriched=0, failed=0, retry_in=None, next_plan=None, freed_slot=True)


def finish(
    session: Session,
    run_id: int,
    container: Container,
    rows: list[ScraperRow] | None,
    *,
    settings: Settings,
    now: datetime,
    holder: str,
    actor: str,
    forced: failures.Failure | None = None,
    execution_resets_at: datetime | None = None,
) -> Finished | None:
    """Apply an ended container to its run; None when the run no longer holds that container (someone was first).

    A dead LinkedIn session or PhantomBuster's execution time used up holds the account, not the run: the run
    goes back to the queue without counting an attempt and its leads stay pending.
    """
    run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None or run.status not in IN_FLIGHT_RUN_STATUSES or run.container_id != container.id:
        return None
    if container.ended and (container.session_problem or container.end_type in EXECUTION_TIME_END_TYPES):
        return _held_by_account(
            session, run, container, settings=settings, now=now, actor=actor, execution_resets_at=execution_resets_at
        )
    job = session.get(Job, run.job_id, populate_existing=True)
    assert job is not None
    pending = [
        outcomes.PendingLead(lead_id, url, attempts)
        for lead_id, url, attempts in session.execute(
            select(Lead.id, Lead.linkedin_url, Lead.attempts).where(
                Lead.run_id == run.id, Lead.status == LeadStatus.PENDING
            )
        )
    ]
    outcome = outcomes.decide(
        container,
        rows,
        pending,
        attempts=run.attempts,
        max_attempts=settings.max_run_attempts,
        max_lead_attempts=settings.max_lead_attempts,
        job_cancelled=job.status == JobStatus.CANCELLED,
        forced=forced,
    )
    _apply_leads(session, outcome, now)
    if outcome.unanswered:
        session.execute(
            update(Lead)
            .where(Lead.id.in_(outcome.unanswered))
            .values(attempts=Lead.attempts + 1)
            .execution_options(synchronize_session=False)
        )
    if outcomes.rate_limited(rows):
        account = accounts.current(session, settings, for_update=True)
        until = now + timedelta(hours=settings.rate_limit_backoff_hours)
        reason = "LinkedIn answered that the account makes too many requests; launches wait some hours."
        accounts.block(session, account, accounts.Hold.RATE_LIMITED, reason, until, now)
    requeued = None
    if outcome.requeue:
        # A new run of its own for the leads this run never got to: the finished run keeps its history.
        again = list(session.scalars(select(Lead).where(Lead.id.in_(outcome.requeue)).order_by(Lead.id)))
        requeued = controls.queue_again(session, job, again, len(again), now, fresh_attempts=False)[0]

    delivery = inbox.settle(session, container, now)
    if delivery is not None:
        run.webhook_payload = delivery.payload
        run.webhook_received_at = delivery.received_at
    run.exit_code = container.exit_code
    run.exit_message = container.end_type or container.status
    run.ended_at = container.ended_at or now
    run.next_check_at = None
    run.updated_at = now
    failure = outcome.failure
    if outcome.status == RunStatus.SUCCESS:
        run.error_message = None  # an earlier attempt's error no longer describes this run
    elif outcome.retry:
        run.error_message = failure.message if failure else None
        run.not_before = now + timedelta(seconds=outcome.retry_in_seconds or 0.0)
    elif failure is not None and outcome.status != RunStatus.CANCELLED:
        run.dead_reason = run.error_message = failure.message
        job.error_code, job.error_message, job.error_at = failure.code, failure.message, now

    audit.record(
        session,
        actor,
        "run_retry_scheduled" if outcome.retry else f"run_{outcome.status}",
        job_id=run.job_id,
        run_id=run.id,
        at=now,
        phantom_container_id=container.id,
        container_status=container.status,
        exit_code=container.exit_code,
        end_type=container.end_type,
        enriched=len(outcome.enriched),
        failed=len(outcome.failed),
        requeued=len(outcome.requeue),
        requeued_as_run=requeued.id if requeued else None,
        attempt=run.attempts,
        reason=failure.message if failure else None,
        webhook_received_at=delivery.received_at.isoformat() if delivery else None,
        webhook_payload=delivery.payload if delivery else None,
    )
    # Containers launched up to this fence are settled: one that turns up later is a past attempt, never adopted.
    run.settled_fence = max(run.settled_fence or 0, run.fence or 0) or None
    if outcome.retry:
        run.container_id = None
    run.fence = None
    run.status = outcome.status
    jobs.refresh_progress(session, run.job_id, now)

    slot = slots.get(session)
    next_plan, freed = None, False
    if slot.run_id == run_id:
        slots.release(session, slot.token, now=now)
        freed = True
        next_plan = claim_next(session, settings, holder=holder, now=now, actor="worker")
        audit.record(
            session,
            actor,
            "slot_handed_over",
            job_id=run.job_id,
            run_id=run_id,
            at=now,
            phantom_container_id=container.id,
            next_job_queued=next_plan is not None,
            next_run_id=next_plan.run_id if next_plan else None,
        )
    return Finished(
        status=outcome.status,
        enriched=len(outcome.enriched),
        failed=len(outcome.failed),
        retry_in=outcome.retry_in_seconds if outcome.retry else None,
        next_plan=next_plan,
        freed_slot=freed,
    )
