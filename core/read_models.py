"""Read models for the pages: small indexed reads scoped to what the signed-in user may see."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from core import jobs, status
from core.errors import PermissionDenied
from core.leadfile import ImportPreview, Problem, report_csv
from core.lifecycle.slot import get as slot_state
from core.models import (
    ACTIVE_JOB_STATUSES,
    IN_FLIGHT_RUN_STATUSES,
    AuditEvent,
    Job,
    Lead,
    LeadStatus,
    Role,
    Run,
    RunStatus,
    User,
    utcnow,
)

FINISHED_LINGER = timedelta(seconds=5)


def _scoped(stmt: Select[Any], user: User) -> Select[Any]:
    return stmt if user.role == Role.ADMIN else stmt.where(Job.owner_id == user.id)


@dataclass(frozen=True, slots=True)
class Indicator:
    """The sidebar's compact indicator: active job count and the latest one's progress."""

    active: int
    latest_file: str | None
    latest_percentage: float
    latest_company: str | None


def indicator(session: Session, user: User) -> Indicator:
    """Count the user's active jobs (never more than the per-user limit, so tiny) and read the newest."""
    rows = list(
        session.execute(
            select(Job.id, Job.file_name, Job.percentage)
            .where(Job.owner_id == user.id, Job.status.in_(ACTIVE_JOB_STATUSES))
            .order_by(Job.id.desc())
            .limit(50)
        )
    )
    if not rows:
        return Indicator(0, None, 0.0, None)
    latest = rows[0]
    company = session.scalar(
        select(Run.company)
        .where(Run.job_id == latest.id, Run.status.in_((*IN_FLIGHT_RUN_STATUSES, RunStatus.PENDING)))
        .order_by(Run.status.in_(IN_FLIGHT_RUN_STATUSES).desc(), Run.seq)
        .limit(1)
    )
    return Indicator(len(rows), latest.file_name, latest.percentage, company)


def active_jobs(session: Session, user: User, now: datetime | None = None, limit: int = 100) -> list[Job]:
    """Pending and running jobs, plus those that ended in the last 5 seconds (they linger, then leave).

    Two small indexed reads (active jobs by owner and status; recently finished by finish time), never a scan.
    """
    now = now or utcnow()
    active = _scoped(select(Job).where(Job.status.in_(ACTIVE_JOB_STATUSES)).order_by(Job.id).limit(limit), user)
    ended = _scoped(
        select(Job)
        .where(Job.finished_at >= now - FINISHED_LINGER, Job.status.not_in(ACTIVE_JOB_STATUSES))
        .order_by(Job.id)
        .limit(limit),
        user,
    )
    rows = {job.id: job for job in session.scalars(active)}
    rows.update((job.id, job) for job in session.scalars(ended))
    return [rows[job_id] for job_id in sorted(rows)][:limit]


def finished_since(session: Session, user: User, since_id: int, since: datetime) -> list[Job]:
    """The user's own jobs that ended after `since` (for completion toasts)."""
    stmt = (
        select(Job)
        .where(Job.owner_id == user.id, Job.finished_at >= since, Job.id >= since_id)
        .order_by(Job.finished_at)
        .limit(20)
    )
    return list(session.scalars(stmt))


def like_literal(text: str) -> str:
    """`text` for a LIKE pattern that matches it literally (with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """What the History page narrows the list by."""

    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    owner_id: int | None = None
    search: str = ""


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of jobs, newest first, and whether an older page exists."""

    jobs: list[Job]
    owners: dict[int, str]
    has_more: bool


def history(
    session: Session, user: User, flt: HistoryFilter, *, before_id: int | None = None, per_page: int = 25
) -> HistoryPage:
    """A page of jobs by keyset (id below `before_id`), so no page ever counts the whole table."""
    stmt = select(Job).order_by(Job.id.desc()).limit(per_page + 1)
    stmt = _scoped(stmt, user)
    if before_id is not None:
        stmt = stmt.where(Job.id < before_id)
    if flt.statuses:
        stmt = stmt.where(Job.status.in_(flt.statuses))
    if flt.since is not None:
        stmt = stmt.where(Job.created_at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(Job.created_at < flt.until)
    if flt.owner_id is not None and user.role == Role.ADMIN:
        stmt = stmt.where(Job.owner_id == flt.owner_id)
    term = flt.search.strip()
    if term:
        # Literal and case-insensitive in every script: both sides are case-folded in Python, because SQLite's
        # LIKE folds ASCII only; % and _ typed by the analyst are escaped, so they match themselves.
        like = "%" + like_literal(term.casefold()) + "%"
        conditions = [Job.search_text.like(like, escape="\\")]
        digits = term.lstrip("#")
        if digits.isascii() and digits.isdigit() and int(digits) <= jobs.MAX_ID:
            conditions.append(Job.id == int(digits))
        stmt = stmt.where(or_(*conditions))
    rows = list(session.scalars(stmt))
    owner_ids = {job.owner_id for job in rows}
    owners = dict(session.execute(select(User.id, User.name).where(User.id.in_(owner_ids))).all()) if owner_ids else {}
    return HistoryPage(jobs=rows[:per_page], owners=owners, has_more=len(rows) > per_page)


@dataclass(frozen=True, slots=True)
class JobDetail:
    """Everything the job detail shows: the job, its runs, a page of leads and the audit trail."""

    job: Job
    owner: str
    runs: list[Run]
    leads: list[Lead]
    audit: list[AuditEvent]


def job_detail(
    session: Session, user: User, job_id: int, *, lead_status: str | None = None, lead_limit: int = 200
) -> JobDetail:
    """The detail of a job the user may see; NotFound for anyone else's."""
    job = jobs.visible_job(session, user, job_id)
    owner = session.scalar(select(User.name).where(User.id == job.owner_id)) or "?"
    runs = list(session.scalars(select(Run).where(Run.job_id == job_id).order_by(Run.seq).limit(1000)))
    lead_stmt = select(Lead).where(Lead.job_id == job_id).order_by(Lead.row_number).limit(lead_limit)
    if lead_status:
        lead_stmt = lead_stmt.where(Lead.status == lead_status)
    leads = list(session.scalars(lead_stmt))
    trail = list(
        session.scalars(select(AuditEvent).where(AuditEvent.job_id == job_id).order_by(AuditEvent.id.desc()).limit(300))
    )
    return JobDetail(job=job, owner=owner, runs=runs, leads=leads, audit=trail)


def job_leads_for_export(
    session: Session, user: User, job_id: int, *, failed_only: bool = False
) -> tuple[Job, list[Lead]]:
    """A visible job and its leads in file order, for the download."""
    job = jobs.visible_job(session, user, job_id)
    stmt = select(Lead).where(Lead.job_id == job_id).order_by(Lead.row_number)
    if failed_only:
        stmt = stmt.where(Lead.status == LeadStatus.FAILED)
    return job, list(session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class FileJob:
    """The signed-in user's active job made from a given file, and the company its runs are busy with."""

    job_id: int
    status: str
    company: str
    percentage: float


def active_job_for_file(session: Session, user: User, content_hash: str) -> FileJob | None:
    """The user's newest pending or running job with this file content (a few indexed rows)."""
    job = session.execute(
        select(Job.id, Job.status, Job.percentage)
        .where(Job.content_hash == content_hash, Job.owner_id == user.id, Job.status.in_(ACTIVE_JOB_STATUSES))
        .order_by(Job.id.desc())
        .limit(1)
    ).first()
    if job is None:
        return None
    company = session.scalar(
        select(Run.company)
        .where(Run.job_id == job.id, Run.status.in_((*IN_FLIGHT_RUN_STATUSES, RunStatus.PENDING)))
        .order_by(Run.status.in_(IN_FLIGHT_RUN_STATUSES).desc(), Run.seq)
        .limit(1)
    )
    return FileJob(job.id, job.status, company or "leads", job.percentage)


def validation_report(session: Session, user: User, job_id: int) -> tuple[str, bytes]:
    """A visible job's validation report as CSV, rebuilt from what the job stored at queue time."""
    job = jobs.visible_job(session, user, job_id)
    report = job.report or {}
    issues = report.get("issues") or []
    problems = [
        Problem(int(i["row"]), str(i["column"]), str(i["reason"])) for i in issues if i.get("kind") != "duplicate"
    ]
    duplicates = [
        Problem(int(i["row"]), str(i["column"]), str(i["reason"])) for i in issues if i.get("kind") == "duplicate"
    ]
    preview = ImportPreview(parsed=None, mapping={}, problems=problems, duplicates=duplicates)  # type: ignore[arg-type]
    stem = re.sub(r"[^\w\- ]+", "_", job.file_name.rsplit(".", 1)[0]).strip()[:80] or "leads"
    return f"{stem}-job{job.id}-validation.csv", report_csv(preview)


def slot_lane(session: Session, user: User, now: datetime | None = None) -> status.SlotView:
    """The slot lane; an analyst sees the state and elapsed time of another analyst's run, not what it is."""
    view = status.slot_view(session, now)
    if view.run_id is None or user.role == Role.ADMIN:
        return view
    run = session.get(Run, view.run_id)
    if run is not None and run.owner_id == user.id:
        return view
    return replace(view, run_id=None, job_id=None, company=None, container_id=None, reason="another analyst's run")


def dead_runs(session: Session, user: User, limit: int = 200) -> list[Run]:
    """Runs that used up their attempts (the dead-letter list), newest first; admins only."""
    require_admin(user)
    stmt = (
        select(Run)
        .where(Run.status.in_((RunStatus.FAILED, RunStatus.TIMED_OUT)), Run.dead_reason.is_not(None))
        .order_by(Run.ended_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def retention_events(session: Session, user: User, limit: int = 20) -> list[AuditEvent]:
    """The newest retention clean-ups (what the periodic task removed), newest first; admins only."""
    require_admin(user)
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.job_id.is_(None), AuditEvent.action == "retention_clean_up")
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def require_admin(user: User) -> None:
    if user.role != Role.ADMIN:
        raise PermissionDenied("Only an admin can see this.")


def queue_paused(session: Session) -> bool:
    """Whether an admin paused the queue (which of Pause and Resume applies)."""
    return bool(slot_state(session).paused)
