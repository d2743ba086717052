"""From an uploaded file to a queued job: the one code path the Upload page and the command line share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core import job_store
from core.config import Settings
from core.errors import InvalidInput
from core.leadfile import ImportPreview, Limits, build_preview, parse_file
from core.models import Job, User, utcnow

FIELDS = {
    "linkedin_url": "LinkedIn profile URL",
    "company": "Company",
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name",
    "email": "Email",
    "country": "Country",
}


def limits(settings: Settings) -> Limits:
    """The upload limits from the settings."""
    return Limits(
        max_bytes=int(settings.max_upload_mb * 1024 * 1024),
        max_rows=settings.max_rows,
        max_columns=settings.max_columns,
        parse_timeout_s=settings.parse_timeout_seconds,
        parse_memory_mb=settings.parse_memory_mb,
    )


def limits_sentence(settings: Settings) -> str:
    """What LeadRelay reads from one file, as one sentence for the Upload page to show before the upload."""
    return limits(settings).sentence()


@dataclass(frozen=True, slots=True)
class Checks:
    """What the database says about a preview: leads enriched recently, and earlier jobs from the same file."""

    recent: dict[str, datetime]
    same_file_jobs: list[int]


def check(session: Session, settings: Settings, preview: ImportPreview, owner: User) -> Checks:
    """Look up leads anyone enriched recently, and the owner's own earlier uploads of the same file."""
    recent = job_store.recently_enriched(
        session, (lead.linkedin_url for lead in preview.leads), settings.recently_enriched_days
    )
    earlier = job_store.same_file_jobs(session, preview.parsed.content_hash, owner.id)
    return Checks(recent=recent, same_file_jobs=earlier)


def summary(preview: ImportPreview, checks: Checks) -> dict[str, Any]:
    """The validation summary shown on the page and printed by the command line."""
    return {
        **preview.counts,
        "reused_from_recent_enrichments": len(checks.recent),
        "same_file_as_jobs": checks.same_file_jobs,
        "sheet": preview.parsed.sheet_name,
        "mapping": {k: v for k, v in preview.mapping.items() if v},
    }


def queue(
    session: Session,
    settings: Settings,
    owner: User,
    preview: ImportPreview,
    *,
    batch_size: int,
    include_recent: bool = False,
    priority: int = 0,
    checks: Checks | None = None,
    start_after: datetime | None = None,
) -> Job:
    """Create the job: leads enriched recently are reused unless `include_recent`; it waits for `start_after`."""
    checks = checks or check(session, settings, preview, owner)
    if start_after is not None and start_after.tzinfo is None:
        raise InvalidInput("A start time needs its time zone.")
    job = job_store.create_job(
        session,
        owner=owner,
        preview=preview,
        # One run is one launch of the Profile Scraper, which takes at most this many profiles a launch.
        batch_size=min(batch_size, settings.profiles_per_launch_max),
        priority=priority,
        reuse={} if include_recent else checks.recent,
        reuse_since=utcnow() - timedelta(days=settings.recently_enriched_days),
        max_active_jobs=settings.max_active_jobs_per_analyst,
    )
    if start_after is not None and start_after > utcnow():
        job.start_after = start_after
    return job


@dataclass(frozen=True, slots=True)
class ImportResult:
    """A queued job and its validation summary."""

    job: Job
    summary: dict[str, Any]


def import_file(
    session: Session,
    settings: Settings,
    owner: User,
    data: bytes,
    file_name: str,
    *,
    sheet: str | None = None,
    mapping: dict[str, str | None] | None = None,
    batch_size: int,
    include_recent: bool = False,
) -> ImportResult:
    """Parse, validate and queue a lead file in one go (the command-line path)."""
    parsed = parse_file(data, file_name, limits(settings), sheet=sheet)
    preview = build_preview(parsed, mapping)
    checks = check(session, settings, preview, owner)
    job = queue(session, settings, owner, preview, batch_size=batch_size, include_recent=include_recent, checks=checks)
    return ImportResult(job=job, summary=summary(preview, checks))
