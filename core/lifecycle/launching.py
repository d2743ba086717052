"""Launch steps of a run's life: claim the slot, record the container, wait on an unanswered launch, put back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import accounts, audit, jobs, pacing, queue
from core.config import Settings
from core.lifecycle import batches, checks, controls, gate, inbox
from core.lifecycle import slot as slots
from core.models import Account, AccountLaunch, Job, Lead, LeadStatus, Run, RunStatus
from core.phantombuster import Container

PHANTOMBUSTER_HOLDER = "phantombuster"


@dataclass(frozen=True, slots=True)
class LaunchPlan:
    """A run holding the slot under a fencing token, about to be (or being) launched.

    `batch_token` is the secret of the batch URL PhantomBuster downloads; it is known only to the claim that issued
    it (a later step that finds the plan again, to look up or adopt its container, never relaunches it).
    """

    run_id: int
    job_id: int
    token: int
    lead_count: int
    company: str
    attempt: int
    csv_name: str | None
    batch_token: str | None = None


def _plan(session: Session, run: Run, token: int, batch_token: str | None = None) -> LaunchPlan:
    leads = session.scalar(select(func.count()).where(Lead.run_id == run.id, Lead.status == LeadStatus.PENDING))
    return LaunchPlan(run.id, run.job_id, token, int(leads or 0), run.company, run.attempts, run.csv_name, batch_token)


def _run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise LookupError(f"run {run_id} does not exist")
    return run


def claim_next(session: Session, settings: Settings, *, holder: str, now: datetime, actor: str) -> LaunchPlan | None:
    """Take the free slot for the next queued run and mark it `launching` (committed before agents/launch).

    Only when the account's gate is open (pauses, blocks, working hours, today's budget, the spacing of
    launches); the batch is cut to what the launch and today's budget allow, and the rest queued behind it.
    """
    decision = gate.decide(session, settings, now)
    if not decision.open:
        return None
    run_id = queue.next_run_id(session, now)
    if run_id is None:
        return None
    lease = slots.acquire(session, holder=holder, run_id=run_id, ttl=settings.launch_lease_seconds, now=now)
    if lease is None:
        return None
    run = _run(session, run_id)
    size = max(1, min(decision.limits.profiles_per_launch, decision.budget_left))
    pending = list(
        session.scalars(select(Lead).where(Lead.run_id == run.id, Lead.status == LeadStatus.PENDING).order_by(Lead.id))
    )
    if len(pending) > size:
        job = session.get(Job, run.job_id, populate_existing=True)
        assert job is not None
        rest = pending[size:]
        controls.queue_again(session, job, rest, len(rest), now, fresh_attempts=False)
        run.lead_count = size
        audit.record(
            session, actor, "run_cut", job_id=run.job_id, run_id=run.id, at=now, kept=size, queued_behind=len(rest)
        )
    run.status = RunStatus.LAUNCHING
    run.fence = lease.token
    run.attempts += 1
    run.launch_requested_at = now
    run.launch_unanswered_at = None
    run.not_before = None
    run.updated_at = now
    batch_token = batches.issue(run)
    account = accounts.current(session, settings, for_update=True)
    accounts.record_launch(
        session,
        account,
        run_id=run.id,
        fence=lease.token,
        profiles=min(size, len(pending)),
        now=now,
        gap=pacing.spacing(decision.limits, run.id, lease.token),
    )
    jobs.mark_started(session, run.job_id, now)
    session.execute(
        update(Job)
        .where(Job.id == run.job_id)
        .values(current_batch=run.seq, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    plan = _plan(session, run, lease.token, batch_token)
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
        leads=plan.lead_count,
        queue_position=1,
    )
    return plan


def current_plan(
    session: Session, run_id: int, *, now: datetime, ttl: float, take_over_as: str | None = None
) -> LaunchPlan | None:
    """The plan of a `launching` run the slot holds, for a later step (a lookup, or a recovery after a crash).

    With `take_over_as`, an expired lease is taken over first (its holder is presumed dead) and the new token used.
    """
    slot = slots.get(session)
    run = session.get(Run, run_id, populate_existing=True)
    if run is None or run.status != RunStatus.LAUNCHING or slot.run_id != run_id:
        return None
    token = slot.token
    if take_over_as is not None:
        lease = slots.take_over(session, holder=take_over_as, token=token, ttl=ttl, now=now)
        if lease is None:
            return None
        audit.record(
            session,
            "reconciler",
            "lease_taken_over",
            job_id=run.job_id,
            run_id=run.id,
            old_fence=token,
            fence=lease.token,
        )
        token = lease.token
        run.fence = token
    return _plan(session, run, token)


def mark_launched(
    session: Session,
    plan: LaunchPlan,
    container_id: str,
    *,
    now: datetime,
    actor: str,
    hold_seconds: float,
    first_check_in: float,
    adopted: bool = False,
    launched_at: datetime | None = None,
) -> tuple[int, float]:
    """Record the container PhantomBuster runs for the plan (fenced); returns the first check's (ticket, delay)."""
    slots.fence(session, plan.token, holder=PHANTOMBUSTER_HOLDER, expires_at=now + timedelta(seconds=hold_seconds))
    run = _run(session, plan.run_id)
    run.status = RunStatus.PHANTOM_LAUNCHED
    run.container_id = container_id
    run.launched_at = launched_at or now
    run.launch_unanswered_at = None
    run.fence = plan.token
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
    # A webhook that arrived before this was recorded gets its check at once.
    delay = 0.0 if inbox.has_delivery(session, container_id) else first_check_in
    return checks.schedule_check(session, run, delay, now), delay


def mark_unanswered(
    session: Session, plan: LaunchPlan, *, now: datetime, look_up_until: datetime, first_look_in: float
) -> int:
    """agents/launch got no answer: keep the slot until `look_up_until` while PhantomBuster is asked; returns a ticket."""
    slots.fence(session, plan.token, expires_at=look_up_until)
    run = _run(session, plan.run_id)
    run.launch_unanswered_at = now
    audit.record(
        session,
        "worker",
        "launch_unanswered",
        job_id=plan.job_id,
        run_id=plan.run_id,
        at=now,
        fence=plan.token,
        look_up_until=look_up_until.isoformat(),
    )
    return checks.schedule_check(session, run, first_look_in, now)


def put_back(
    session: Session,
    run_id: int,
    *,
    token: int | None,
    reason: str,
    count_attempt: bool,
    now: datetime,
    actor: str,
    block_seconds: float | None = None,
    retry_in: float | None = None,
) -> None:
    """Send a run back to the queue (freeing the slot it holds under `token`); LeaseLost if the lease moved."""
    if token is not None:
        slots.fence(session, token)
    run = _run(session, run_id)
    if not count_attempt:
        # The launch never reached LinkedIn (or found it dead): today's budget gets it back.
        accounts.forget_launch(session, run_id=run_id, fence=run.fence)
    run.status = RunStatus.PENDING
    run.fence = None
    run.container_id = None
    run.launch_unanswered_at = None
    run.next_check_at = None
    run.not_before = now + timedelta(seconds=retry_in) if retry_in else None
    if not count_attempt:
        run.attempts = max(0, run.attempts - 1)
    run.updated_at = now
    audit.record(session, actor, "run_requeued", job_id=run.job_id, run_id=run_id, at=now, reason=reason)
    if token is not None:
        slots.release(
            session, token, now=now, blocked_for=block_seconds, blocked_reason=reason if block_seconds else None
        )


def adopt(
    session: Session,
    run_id: int,
    container: Container,
    *,
    holder: str,
    now: datetime,
    lease_seconds: float,
    hold_seconds: float,
    actor: str,
    launch_fence: int | None,
) -> tuple[int, float] | None:
    """Give a container PhantomBuster ran for this run (found by its tag) back to the run; returns its first check.

    Only a run that holds no container and is queued, or launching, can adopt, and only a container launched after
    the run's last confirmed end (its fence tag is newer): an older one is a past attempt. The slot must be free or
    already the run's. None when the run cannot take it (the caller then stops the container if it still runs).
    """
    run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None or run.container_id is not None:
        return None
    if run.settled_fence is not None and (launch_fence is None or launch_fence <= run.settled_fence):
        return None
    if run.status not in (RunStatus.PENDING, RunStatus.LAUNCHING):
        return None
    if session.scalar(select(Run.id).where(Run.container_id == container.id)) is not None:
        return None
    slot = slots.get(session)
    if slot.run_id == run_id:
        token = slot.token
    elif slot.run_id is None:
        lease = slots.acquire(session, holder=holder, run_id=run_id, ttl=lease_seconds, now=now, even_if_paused=True)
        if lease is None:
            return None
        token = lease.token
    else:
        return None
    if (
        session.scalar(
            select(AccountLaunch.id).where(AccountLaunch.run_id == run_id, AccountLaunch.fence == launch_fence)
        )
        is None
    ):
        # The launch did reach LinkedIn after all: it counts against the day it is found on.
        account = session.get(Account, accounts.ACCOUNT_ID)
        if account is not None:
            pending = session.scalar(
                select(func.count()).where(Lead.run_id == run_id, Lead.status == LeadStatus.PENDING)
            )
            accounts.record_launch(
                session, account, run_id=run_id, fence=launch_fence or 0, profiles=int(pending or 0), now=now, gap=0.0
            )
    if run.status == RunStatus.PENDING:
        run.attempts += 1  # the launch this container came from was put back without counting
        run.launch_requested_at = container.created_at or now
        jobs.mark_started(session, run.job_id, now)
    run.status = RunStatus.LAUNCHING
    plan = _plan(session, run, token)
    launched = container.launched_at or container.created_at or now
    return mark_launched(
        session,
        plan,
        container.id,
        now=now,
        actor=actor,
        hold_seconds=hold_seconds,
        first_check_in=0.0,
        adopted=True,
        launched_at=launched,
    )
