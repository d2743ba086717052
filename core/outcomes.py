"""Applying a finished PhantomBuster container to its run and leads: profiles stored, failures explained, retries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit, failures
from core.models import Job, JobStatus, Lead, LeadStatus, Run, RunStatus, WebhookDelivery
from core.phantombuster import Container

MAX_PAYLOAD_CHARS = 20_000


def url_key(url: str) -> str:
    """A comparison key for a profile URL: host, scheme, case, query and trailing slash ignored."""
    text = (url or "").strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    return parts.path.rstrip("/").lower()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a run: its new status, the leads enriched and failed, and whether it will run again."""

    status: str
    enriched: int
    failed: int
    retry: bool
    failure: failures.Failure | None


def trimmed_payload(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """The webhook payload for the audit log, with a long resultObject cut short."""
    if payload is None:
        return None
    result = dict(payload)
    ro = result.get("resultObject")
    if isinstance(ro, str) and len(ro) > MAX_PAYLOAD_CHARS:
        result["resultObject"] = ro[:MAX_PAYLOAD_CHARS] + f"... ({len(ro)} characters)"
    return result


def apply(
    session: Session,
    run: Run,
    container: Container,
    profiles: list[dict[str, Any]] | None,
    *,
    now: datetime,
    max_attempts: int,
    actor: str,
    forced: failures.Failure | None = None,
) -> Outcome:
    """Store the profiles that came back, then end the run or put it back in the queue for another attempt."""
    job = session.get(Job, run.job_id)
    assert job is not None
    delivery = session.scalar(select(WebhookDelivery).where(WebhookDelivery.container_id == container.id))
    leads = list(session.scalars(select(Lead).where(Lead.run_id == run.id, Lead.status == LeadStatus.PENDING)))
    by_key: dict[str, dict[str, Any]] = {}
    for profile in profiles or []:
        query = profile.get("query") or profile.get("linkedinProfileUrl") or profile.get("profileUrl")
        if isinstance(query, str) and query:
            by_key.setdefault(url_key(query), profile)
    enriched = 0
    for lead in leads:
        profile = by_key.get(url_key(lead.linkedin_url))
        if profile is not None:
            lead.status = LeadStatus.SUCCESS
            lead.profile = profile
            lead.error = None
            lead.enriched_at = now
            enriched += 1
    remaining = [lead for lead in leads if lead.status == LeadStatus.PENDING]

    if delivery is not None:
        run.webhook_payload = trimmed_payload(delivery.payload)
        run.webhook_received_at = run.webhook_received_at or delivery.received_at
        delivery.processed_at = now
    run.exit_code = container.exit_code
    run.exit_message = container.end_type or container.status
    run.ended_at = container.ended_at or now
    run.updated_at = now

    failure: failures.Failure | None = forced
    if failure is None and not container.succeeded:
        failure = failures.explain(container.status, container.exit_code, container.end_type)
    if failure is None and leads and enriched == 0:
        failure = failures.EMPTY_RESULT

    cancelled = job.status == JobStatus.CANCELLED
    retry = False
    if cancelled:
        status = RunStatus.CANCELLED
        for lead in remaining:
            lead.status, lead.error = LeadStatus.CANCELLED, failures.CANCELLED
    elif failure is None:
        status = RunStatus.SUCCESS
        for lead in remaining:
            lead.status, lead.error = LeadStatus.FAILED, failures.NO_PROFILE
    elif failure.retryable and run.attempts < max_attempts and remaining:
        retry = True
        status = RunStatus.PENDING
        run.not_before = now + timedelta(seconds=min(300.0, 5.0 * 2 ** (run.attempts - 1)))
        run.error_message = failure.message
    else:
        status = RunStatus.TIMED_OUT if failure.code == "timed_out" else RunStatus.FAILED
        run.dead_reason = failure.message
        run.error_message = failure.message
        for lead in remaining:
            lead.status, lead.error = LeadStatus.FAILED, failure.message
        job.error_code, job.error_message, job.error_at = failure.code, failure.message, now

    audit.record(
        session,
        actor,
        "run_retry_scheduled" if retry else f"run_{status}",
        job_id=run.job_id,
        run_id=run.id,
        at=now,
        phantom_container_id=container.id,
        container_status=container.status,
        exit_code=container.exit_code,
        end_type=container.end_type,
        enriched=enriched,
        failed=0 if retry or cancelled else len(remaining),
        attempt=run.attempts,
        reason=failure.message if failure else None,
        webhook_received_at=delivery.received_at.isoformat() if delivery else None,
        webhook_payload=trimmed_payload(delivery.payload) if delivery else None,
    )
    if retry:
        run.container_id = None
        run.fence = None
    run.status = status
    return Outcome(status=status, enriched=enriched, failed=len(remaining), retry=retry, failure=failure)


def mark_delivery_processed(session: Session, container_id: str, now: datetime) -> None:
    """Mark a webhook delivery as handled (or as belonging to no run we know)."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.container_id == container_id, WebhookDelivery.processed_at.is_(None))
        .values(processed_at=now)
        .execution_options(synchronize_session=False)
    )
