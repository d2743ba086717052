"""Deciding what a finished PhantomBuster container means for its run and leads (pure: nothing is written here).

A lead is enriched when a result row matches it under any URL the row carries; a row with an `error` fails the
lead with that reason, unless the error is transient; a lead with no row was never tried (the phantom stopped
early, or a page did not load) and goes back to the queue, up to MAX_LEAD_ATTEMPTS launches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core import failures
from core.models import RunStatus
from core.phantombuster import Container
from core.scraper_rows import ScraperRow, index_rows, row_for

RETRY_BACKOFF_CAP_SECONDS = 300.0
NEVER_TRIED = "never_tried"  # the kinds of failure besides a row's own (scraper_rows.RowError)
RUN_FAILED = "run_failed"
# How LinkedIn says it is slowing the account down, in the rows' error texts (matched in lower case).
RATE_LIMIT_WORDS = ("too many requests", "rate limit", "you've reached the", "commercial use limit", "slow down")


@dataclass(frozen=True, slots=True)
class PendingLead:
    """A lead of the run that has no result yet, and how many launches already ended without one."""

    id: int
    linkedin_url: str
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a finished container means: the run's new status, each lead's result, and what runs again.

    `retry` sends the whole run back to the queue (the container failed); `requeue` are leads the run never got to,
    for a new run of their own (the run itself succeeded).
    """

    status: str
    failure: failures.Failure | None
    retry: bool
    retry_in_seconds: float | None
    enriched: dict[int, dict[str, Any]] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    cancelled: list[int] = field(default_factory=list)
    requeue: list[int] = field(default_factory=list)
    unanswered: list[int] = field(default_factory=list)
    kinds: dict[int, str] = field(default_factory=dict)  # why each failed lead has no profile (the report's words)


def retry_backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: 5 s, 10 s, 20 s ... capped at five minutes."""
    return min(RETRY_BACKOFF_CAP_SECONDS, 5.0 * 2 ** max(0, attempt - 1))


def rate_limited(rows: Sequence[ScraperRow] | None) -> bool:
    """True when a row says LinkedIn is rate-limiting the account: then back off for hours, not seconds."""
    return any(row.error and any(w in row.error.lower() for w in RATE_LIMIT_WORDS) for row in rows or [])


def never_tried(launches: int) -> str:
    """Why a lead PhantomBuster never got to is given up on."""
    return (
        f"PhantomBuster did not get to this profile in {launches} launches (each stopped early or the page did not "
        "load); retry failed leads later."
    )


def decide(
    container: Container,
    rows: Sequence[ScraperRow] | None,
    leads: Sequence[PendingLead],
    *,
    attempts: int,
    max_attempts: int,
    max_lead_attempts: int,
    job_cancelled: bool,
    forced: failures.Failure | None = None,
) -> Outcome:
    """The outcome of a run whose container ended: store what came back, then succeed, retry, fail or cancel."""
    index = index_rows(rows or [])
    enriched: dict[int, dict[str, Any]] = {}
    failed: dict[int, str] = {}
    kinds: dict[int, str] = {}
    unanswered: list[PendingLead] = []
    for lead in leads:
        row = row_for(index, lead.linkedin_url)
        if row is not None and row.ok:
            enriched[lead.id] = row.data
        elif row is not None and not row.retryable:
            failed[lead.id] = f"PhantomBuster could not enrich this lead: {row.reason}."
            kinds[lead.id] = str(row.error_kind or "other")
        else:
            unanswered.append(lead)  # never tried, or a page that did not load this time
    unanswered_ids = [lead.id for lead in unanswered]

    failure = forced
    if failure is None and not container.succeeded:
        failure = failures.explain(container.status, container.exit_code, container.end_type)
    if job_cancelled:
        return Outcome(RunStatus.CANCELLED, failure, False, None, enriched, failed, cancelled=unanswered_ids)
    if failure is None:
        # The container finished: what it did not get to goes back to the queue in a run of its own.
        requeue = [lead.id for lead in unanswered if lead.attempts + 1 < max_lead_attempts]
        for lead in unanswered:
            if lead.attempts + 1 >= max_lead_attempts:
                failed[lead.id] = never_tried(lead.attempts + 1)
                kinds[lead.id] = NEVER_TRIED
        return Outcome(
            RunStatus.SUCCESS, None, False, None, enriched, failed, requeue=requeue, unanswered=unanswered_ids,
            kinds=kinds,
        )  # fmt: skip
    if failure.retryable and attempts < max_attempts and unanswered:
        return Outcome(
            RunStatus.PENDING, failure, True, retry_backoff(attempts), enriched, failed, unanswered=unanswered_ids,
            kinds=kinds,
        )  # fmt: skip
    status = RunStatus.TIMED_OUT if failure.code == "timed_out" else RunStatus.FAILED
    failed.update(dict.fromkeys(unanswered_ids, failure.message))
    kinds.update(dict.fromkeys(unanswered_ids, RUN_FAILED))
    return Outcome(status, failure, False, None, enriched, failed, unanswered=unanswered_ids, kinds=kinds)
