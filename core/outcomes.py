"""Deciding what a finished PhantomBuster container means for its run and leads (pure: nothing is written here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from core import failures
from core.models import RunStatus
from core.phantombuster import Container

RETRY_BACKOFF_CAP_SECONDS = 300.0


def url_key(url: str) -> str:
    """A comparison key for a profile URL: host, scheme, case, query and trailing slash ignored."""
    text = (url or "").strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    return parts.path.rstrip("/").lower()


@dataclass(frozen=True, slots=True)
class PendingLead:
    """A lead of the run that has no result yet."""

    id: int
    linkedin_url: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a finished container means: the run's new status, each lead's result, and whether it runs again."""

    status: str
    failure: failures.Failure | None
    retry: bool
    retry_in_seconds: float | None
    enriched: dict[int, dict[str, Any]] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    cancelled: list[int] = field(default_factory=list)


def retry_backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: 5 s, 10 s, 20 s ... capped at five minutes."""
    return min(RETRY_BACKOFF_CAP_SECONDS, 5.0 * 2 ** max(0, attempt - 1))


def match_profiles(
    leads: Sequence[PendingLead], profiles: Sequence[dict[str, Any]] | None
) -> dict[int, dict[str, Any]]:
    """Each lead's profile among the rows PhantomBuster returned, matched by URL."""
    by_key: dict[str, dict[str, Any]] = {}
    for profile in profiles or []:
        query = profile.get("query") or profile.get("linkedinProfileUrl") or profile.get("profileUrl")
        if isinstance(query, str) and query:
            by_key.setdefault(url_key(query), profile)
    found: dict[int, dict[str, Any]] = {}
    for lead in leads:
        profile = by_key.get(url_key(lead.linkedin_url))
        if profile is not None:
            found[lead.id] = profile
    return found


def decide(
    container: Container,
    profiles: Sequence[dict[str, Any]] | None,
    leads: Sequence[PendingLead],
    *,
    attempts: int,
    max_attempts: int,
    job_cancelled: bool,
    forced: failures.Failure | None = None,
) -> Outcome:
    """The outcome of a run whose container ended: store what came back, then succeed, retry, fail or cancel."""
    enriched = match_profiles(leads, profiles)
    remaining = [lead.id for lead in leads if lead.id not in enriched]
    failure = forced
    if failure is None and not container.succeeded:
        failure = failures.explain(container.status, container.exit_code, container.end_type)
    if failure is None and leads and not enriched:
        failure = failures.EMPTY_RESULT

    if job_cancelled:
        return Outcome(RunStatus.CANCELLED, failure, False, None, enriched, cancelled=remaining)
    if failure is None:
        return Outcome(
            RunStatus.SUCCESS, None, False, None, enriched, failed=dict.fromkeys(remaining, failures.NO_PROFILE)
        )
    if failure.retryable and attempts < max_attempts and remaining:
        return Outcome(RunStatus.PENDING, failure, True, retry_backoff(attempts), enriched)
    status = RunStatus.TIMED_OUT if failure.code == "timed_out" else RunStatus.FAILED
    return Outcome(status, failure, False, None, enriched, failed=dict.fromkeys(remaining, failure.message))
