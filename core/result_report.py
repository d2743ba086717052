"""A finished job's result report: every row of the file counted once, by what became of it, and profile fill rates."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import jobs
from core.models import Lead, LeadStatus, User

# The main profile fields an analyst looks for, and the keys the Profile Scraper (current or legacy) writes them in.
MAIN_FIELDS: dict[str, tuple[str, ...]] = {
    "Full name": ("fullName",),
    "Job title": ("linkedinJobTitle", "jobTitle", "linkedinHeadline", "headline"),
    "Company": ("companyName", "company"),
    "Location": ("location", "linkedinJobLocation"),
    "Profile URL": ("linkedinProfileUrl", "profileUrl"),
    "E-mail": ("professionalEmail", "mail", "email"),
}
FILL_SAMPLE = 5_000
# The kinds a failed lead may have that mean "no profile came back for it" (not the private ones, which a retry
# does not change): what "retry the unmatched only" sends again.
UNMATCHED_KINDS = ("never_tried", "not_found", "other", "run_failed", "transient", "skipped")


@dataclass(frozen=True, slots=True)
class ResultReport:
    """What became of every row of the file; the parts add up to `rows`."""

    rows: int
    enriched: int
    reused: int
    not_found: int
    private: int
    invalid: int
    duplicates: int
    cancelled: int
    waiting: int
    failed: list[tuple[str, int]]  # other failures, by reason, largest first
    fill_rates: dict[str, float]
    profiles_sampled: int

    @property
    def unmatched(self) -> int:
        return self.not_found + sum(n for _, n in self.failed)


def report(session: Session, user: User, job_id: int) -> ResultReport:
    """The report of a job the user may see (NotFound otherwise)."""
    job = jobs.visible_job(session, user, job_id)
    by_status = Counter()
    failed: Counter = Counter()
    not_found = private = 0
    for status, kind, error, n in session.execute(
        select(Lead.status, Lead.error_kind, Lead.error, func.count())
        .where(Lead.job_id == job_id)
        .group_by(Lead.status, Lead.error_kind, Lead.error)
    ):
        by_status[status] += n
        if status != LeadStatus.FAILED:
            continue
        if kind == "not_found":
            not_found += n
        elif kind == "private":
            private += n
        else:
            failed[error or "No reason recorded"] += n
    counts = job.report or {}
    fills: Counter = Counter()
    sampled = 0
    for (profile,) in session.execute(
        select(Lead.profile)
        .where(Lead.job_id == job_id, Lead.status.in_((LeadStatus.SUCCESS, LeadStatus.REUSED)))
        .limit(FILL_SAMPLE)
    ):
        sampled += 1
        profile = profile or {}
        for label, keys in MAIN_FIELDS.items():
            fills[label] += any(str(profile.get(k) or "").strip() for k in keys)
    return ResultReport(
        rows=int(counts.get("rows", sum(by_status.values()))),
        enriched=by_status[LeadStatus.SUCCESS],
        reused=by_status[LeadStatus.REUSED],
        not_found=not_found,
        private=private,
        invalid=int(counts.get("problems", 0)),
        duplicates=int(counts.get("duplicates", 0)),
        cancelled=by_status[LeadStatus.CANCELLED],
        waiting=by_status[LeadStatus.PENDING],
        failed=failed.most_common(),
        fill_rates={label: fills[label] / sampled if sampled else 0.0 for label in MAIN_FIELDS},
        profiles_sampled=sampled,
    )
