"""The audit log (the seeds' "service control table"): every state change of a job or run, its actor and details."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.models import AuditEvent, utcnow


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    job_id: int | None = None,
    run_id: int | None = None,
    at: datetime | None = None,
    **details: Any,
) -> None:
    """Add one audit event to the session (the caller's transaction commits it)."""
    session.add(
        AuditEvent(actor=actor, action=action, job_id=job_id, run_id=run_id, at=at or utcnow(), details=details)
    )


# What each action says, for people: {placeholders} come from the event's details (missing ones read "—").
SENTENCES: dict[str, str] = {
    "job_created": "The file was queued: {to_send} leads to send, {reused} reused, in {runs} batches.",
    "job_completed": "The job finished: {completed} leads enriched, {failed} without a profile.",
    "job_failed": "The job ended with no lead enriched.",
    "job_cancelled": "{by} cancelled the job.",
    "job_retry_failed": "{by} sent {leads} leads again, in {runs} batches.",
    "run_launching": "Batch {attempt_text}for {company} is starting ({leads} leads).",
    "phantom_launched": "PhantomBuster started the batch for {company}.",
    "run_adopted": "PhantomBuster turned out to be running the batch for {company} already; LeadRelay follows it.",
    "launch_unanswered": "PhantomBuster did not answer the launch; it is being looked up before any relaunch.",
    "run_cut": "The batch was cut to {kept} leads to stay within today's limit; {queued_behind} wait for the next.",
    "run_success": "The batch ended: {enriched} enriched, {failed} without a profile, {requeued} sent again later.",
    "run_failed": "The batch failed: {reason}",
    "run_timed_out": "The batch took too long and was stopped: {reason}",
    "run_cancelled": "The batch was stopped because the job was cancelled.",
    "run_retry_scheduled": "The batch will be tried again: {reason}",
    "run_requeued": "The batch went back to the queue: {reason}",
    "slot_handed_over": "PhantomBuster was handed to the next batch.",
    "slot_released": "The PhantomBuster slot was freed: {reason}",
    "lease_taken_over": "A worker that had stopped was replaced; its batch is looked after.",
    "container_stopped": "A PhantomBuster run was stopped: {reason}",
    "queue_paused": "{by} paused the queue.",
    "queue_resumed": "{by} resumed the queue.",
    "processing_restarted": "{by} restarted stuck processing.",
    "dead_run_retried": "{by} sent a batch that had used up its attempts again.",
    "account_paused": "Launches stopped: {reason}",
    "account_blocked": "Launches wait: {reason}",
    "account_resumed": "{by} resumed launches.",
    "session_renewed": "{by} confirmed the LinkedIn session was renewed.",
    "account_limits_changed": "{by} changed the LinkedIn account's limits.",
    "account_ramp_started": "{by} started the ramp of a new LinkedIn account.",
    "user_created": "{by} created the account {user}.",
    "user_disabled": "{by} disabled the account {user}.",
    "user_enabled": "{by} enabled the account {user} again.",
    "user_role_changed": "{by} made {user} an {new} (was {old}).",
    "retention_clean_up": "Old jobs were removed: {jobs} jobs, {leads} leads.",
}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "—"


def sentence(action: str, details: dict[str, Any]) -> str:
    """An audit event in words (the action's name itself for an action without a sentence)."""
    values = _Blank({k: v for k, v in (details or {}).items() if v is not None})
    attempt = values.get("attempt")
    values["attempt_text"] = f"(attempt {attempt}) " if isinstance(attempt, int) and attempt > 1 else ""
    template = SENTENCES.get(action)
    return template.format_map(values) if template else action.replace("_", " ").capitalize() + "."
