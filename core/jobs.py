"""Job lifecycle: create a job from an import, split it into runs, track progress, cancel and retry."""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import audit
from core.errors import InvalidInput, LimitReached, NotFound, PermissionDenied
from core.leadfile import LeadRow
from core.models import (
    ACTIVE_JOB_STATUSES,
    ENDED_RUN_STATUSES,
    IN_FLIGHT_RUN_STATUSES,
    Job,
    JobStage,
    JobStatus,
    Lead,
    LeadStatus,
    Role,
    Run,
    RunStatus,
    User,
    utcnow,
)

URL_CHUNK = 500
REPORT_ISSUES_CAP = 1000


def visible_job(session: Session, user: User, job_id: int) -> Job:
    """The job if `user` may see it (its owner or an admin); NotFound otherwise, never a hint it exists."""
    job = session.get(Job, job_id)
    if job is None or (user.role != Role.ADMIN and job.owner_id != user.id):
        raise NotFound(f"No job #{job_id} is visible to you.")
    return job


def active_job_count(session: Session, owner_id: int) -> int:
    """How many of an analyst's jobs are pending or running."""
    stmt = select(func.count()).select_from(Job).where(Job.owner_id == owner_id, Job.status.in_(ACTIVE_JOB_STATUSES))
    return int(session.scalar(stmt) or 0)


def recently_enriched(session: Session, urls: Iterable[str], days: int, now: datetime | None = None) -> dict[str, int]:
    """Which of `urls` were enriched successfully in the last `days` days, with the job that did it."""
    if days <= 0:
        return {}
    since = (now or utcnow()) - timedelta(days=days)
    found: dict[str, int] = {}
    unique = list(dict.fromkeys(urls))
    for start in range(0, len(unique), URL_CHUNK):
        chunk = unique[start : start + URL_CHUNK]
        stmt = select(Lead.linkedin_url, Lead.job_id).where(
            Lead.linkedin_url.in_(chunk), Lead.status == LeadStatus.SUCCESS, Lead.enriched_at >= since
        )
        for url, job_id in session.execute(stmt):
            found.setdefault(url, job_id)
    return found


def same_file_jobs(session: Session, content_hash: str) -> list[int]:
    """Ids of earlier jobs made from a file with the same content."""
    stmt = select(Job.id).where(Job.content_hash == content_hash).order_by(Job.id.desc()).limit(5)
    return list(session.scalars(stmt))


def plan_batches(leads: Sequence[LeadRow], batch_size: int) -> list[tuple[str, list[int]]]:
    """Group leads by company (first appearance order) and cut each group into batches of indexes."""
    groups: OrderedDict[str, list[int]] = OrderedDict()
    for index, lead in enumerate(leads):
        groups.setdefault(lead.company.strip(), []).append(index)
    batches: list[tuple[str, list[int]]] = []
    for company, indexes in groups.items():
        for start in range(0, len(indexes), batch_size):
            batches.append((company, indexes[start : start + batch_size]))
    return batches


def report_issues(preview: Any) -> dict[str, Any]:
    """The validation report's problems and duplicates in row order, capped, so the report can be downloaded later."""
    issues = [(p, "problem") for p in getattr(preview, "problems", None) or []]
    issues += [(d, "duplicate") for d in getattr(preview, "duplicates", None) or []]
    issues.sort(key=lambda item: item[0].row_number)
    return {
        "issues": [
            {"row": p.row_number, "column": str(p.column)[:255], "reason": str(p.reason)[:500], "kind": kind}
            for p, kind in issues[:REPORT_ISSUES_CAP]
        ],
        "issues_truncated": len(issues) > REPORT_ISSUES_CAP,
    }


def create_job(
    session: Session,
    *,
    owner: User,
    preview: Any,
    batch_size: int,
    priority: int = 0,
    skip_recent: dict[str, int] | None = None,
    max_active_jobs: int | None = None,
    actor: str = "analyst",
) -> Job:
    """Store a validated import as a job with its leads and runs; leads in `skip_recent` are not sent again."""
    if batch_size < 1:
        raise InvalidInput("The batch size must be at least 1.")
    if max_active_jobs is not None and owner.role != Role.ADMIN:
        active = active_job_count(session, owner.id)
        if active >= max_active_jobs:
            raise LimitReached(
                f"You already have {active} active jobs (the limit is {max_active_jobs}). "
                "Wait for one to finish or cancel one, then queue this file."
            )
    parsed = preview.parsed
    leads: list[LeadRow] = list(preview.leads)
    if not leads:
        raise InvalidInput("This file has no lead with a LinkedIn profile URL, so there is nothing to queue.")
    skip_recent = skip_recent or {}
    to_send = [lead for lead in leads if lead.linkedin_url not in skip_recent]
    batches = plan_batches(to_send, batch_size)
    now = utcnow()
    companies = list(dict.fromkeys(company for company, _ in batches))
    job = Job(
        owner_id=owner.id,
        status=JobStatus.PENDING if batches else JobStatus.COMPLETED,
        stage=JobStage.BATCH_PROCESSING if batches else JobStage.COMPLETED,
        priority=priority,
        batch_size=batch_size,
        file_name=parsed.file_name[:255],
        file_size=parsed.file_size,
        content_hash=parsed.content_hash,
        sheet_name=parsed.sheet_name,
        columns=list(parsed.columns),
        mapping=dict(preview.mapping),
        report={**preview.counts, "skipped_recent": len(leads) - len(to_send), **report_issues(preview)},
        companies=", ".join(c or "(no company)" for c in companies)[:2000],
        total_leads=len(to_send),
        total_batches=len(batches),
        percentage=0.0 if batches else 100.0,
        created_at=now,
        finished_at=None if batches else now,
    )
    session.add(job)
    session.flush()
    run_ids = _insert_runs(session, job.id, owner.id, batches, priority, now) if batches else []
    _insert_leads(session, job.id, leads, _lead_runs(leads, skip_recent, batches, run_ids), skip_recent)
    audit.record(
        session,
        actor,
        "job_created",
        job_id=job.id,
        file_name=job.file_name,
        leads=len(leads),
        to_send=len(to_send),
        runs=len(batches),
        batch_size=batch_size,
        owner=owner.name,
    )
    return job


_RUN_COLUMNS = (
    "job_id", "owner_id", "seq", "company", "lead_count", "priority", "status", "attempts", "created_at", "updated_at",
)  # fmt: skip
_RUNS_PER_INSERT = 1000  # 10,000 parameters a statement
_LEAD_COLUMNS = (
    "job_id", "run_id", "row_number", "company", "linkedin_url", "first_name", "last_name", "full_name", "email",
    "country", "input", "status", "error",
)  # fmt: skip
_LEADS_PER_INSERT = 500  # 6,500 parameters a statement: under SQLite's 32,766 and PostgreSQL's 65,535


def _values_sql(table: str, columns: tuple[str, ...], rows: int, mark: str) -> str:
    """An INSERT of `rows` rows into `columns` with the driver's placeholder `mark`."""
    one_row = f"({', '.join([mark] * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one_row] * rows)}"


def _insert_runs(
    session: Session, job_id: int, owner_id: int, batches: list[tuple[str, list[int]]], priority: int, now: datetime
) -> list[int]:
    """Insert a job's runs through the driver, many rows to a statement, and return their ids in batch order."""
    unfilled = {c.name for c in Run.__table__.columns if c.default is not None} - set(_RUN_COLUMNS)
    if unfilled:  # a column with a Python-side default that this plain INSERT would leave empty
        raise RuntimeError(f"_insert_runs does not fill runs.{', runs.'.join(sorted(unfilled))}")
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    to_db = Run.__table__.c.created_at.type.bind_processor(conn.dialect)
    stamp, status = (to_db(now) if to_db else now), str(RunStatus.PENDING)
    rows = [
        (job_id, owner_id, seq, company[:255], len(indexes), priority, status, 0, stamp, stamp)
        for seq, (company, indexes) in enumerate(batches, start=1)
    ]
    cursor = conn.connection.cursor()
    try:
        for start in range(0, len(rows), _RUNS_PER_INSERT):
            chunk = rows[start : start + _RUNS_PER_INSERT]
            cursor.execute(_values_sql("runs", _RUN_COLUMNS, len(chunk), mark), [v for row in chunk for v in row])
    finally:
        cursor.close()
    return list(session.scalars(select(Run.id).where(Run.job_id == job_id).order_by(Run.seq)))


def _lead_runs(
    leads: Sequence[LeadRow], skip_recent: dict[str, int], batches: list[tuple[str, list[int]]], run_ids: list[int]
) -> list[int | None]:
    """Each lead's run id in the order of `leads` (None when not sent); batches index the leads to send."""
    runs: list[int | None] = [None] * len(leads)
    sent: Sequence[int] = range(len(leads))
    if skip_recent:
        sent = [i for i, lead in enumerate(leads) if lead.linkedin_url not in skip_recent]
    for run_id, (_, indexes) in zip(run_ids, batches, strict=True):
        for index in indexes:
            runs[sent[index]] = run_id
    return runs


def _insert_leads(
    session: Session, job_id: int, leads: Sequence[LeadRow], runs: Sequence[int | None], skip_recent: dict[str, int]
) -> None:
    """Bulk-insert a job's leads, hundreds of rows to a statement: an import's hot path (100,000 rows)."""
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    full = _values_sql("leads", _LEAD_COLUMNS, _LEADS_PER_INSERT, mark)
    dumps = orjson.dumps
    pending, skipped = str(LeadStatus.PENDING), str(LeadStatus.SKIPPED)
    collecting = gc.isenabled()
    gc.disable()  # the rows are short-lived tuples of strings: nothing for the cycle collector to find
    cursor = conn.connection.cursor()
    try:
        for start in range(0, len(leads), _LEADS_PER_INSERT):
            chunk = leads[start : start + _LEADS_PER_INSERT]
            params: list[Any] = []
            add = params.extend
            for lead, run_id in zip(chunk, runs[start : start + _LEADS_PER_INSERT], strict=True):
                by = skip_recent.get(lead.linkedin_url) if skip_recent else None
                add((
                    job_id, run_id, lead.row_number, (lead.company or "")[:255], lead.linkedin_url[:512],
                    lead.first_name, lead.last_name, lead.full_name, lead.email, lead.country,
                    dumps(lead.values).decode(), skipped if by else pending,
                    f"Enriched in the last days by job #{by}; not sent again." if by else None,
                ))  # fmt: skip
            sql = full if len(chunk) == _LEADS_PER_INSERT else _values_sql("leads", _LEAD_COLUMNS, len(chunk), mark)
            cursor.execute(sql, params)
    finally:
        cursor.close()
        if collecting:
            gc.enable()


def refresh_progress(session: Session, job_id: int, now: datetime | None = None) -> Job:
    """Recount a job's leads and runs and move it to its final status when every run has ended."""
    now = now or utcnow()
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"Job #{job_id} does not exist.")
    lead_counts = dict(
        session.execute(
            select(Lead.status, func.count())
            .where(Lead.job_id == job_id, Lead.run_id.is_not(None))
            .group_by(Lead.status)
        ).all()
    )
    run_counts = dict(
        session.execute(select(Run.status, func.count()).where(Run.job_id == job_id).group_by(Run.status)).all()
    )
    current = session.scalar(
        select(func.min(Run.seq)).where(Run.job_id == job_id, Run.status.in_(IN_FLIGHT_RUN_STATUSES))
    )
    job.completed_leads = lead_counts.get(LeadStatus.SUCCESS, 0)
    job.failed_leads = lead_counts.get(LeadStatus.FAILED, 0)
    job.completed_batches = sum(run_counts.get(s, 0) for s in ENDED_RUN_STATUSES)
    job.current_batch = current or job.current_batch
    done = job.completed_leads + job.failed_leads + lead_counts.get(LeadStatus.CANCELLED, 0)
    job.percentage = round(100.0 * done / job.total_leads, 1) if job.total_leads else 100.0
    all_ended = job.completed_batches >= job.total_batches
    if job.status in ACTIVE_JOB_STATUSES and all_ended:
        job.finished_at = now
        job.stage = JobStage.COMPLETED
        job.percentage = 100.0
        if job.total_leads and job.completed_leads == 0 and job.failed_leads > 0:
            job.status = JobStatus.FAILED
            job.error_code = job.error_code or "all_leads_failed"
            job.error_message = job.error_message or "No lead of this file could be enriched."
            job.error_at = now
        else:
            job.status = JobStatus.COMPLETED
        audit.record(
            session,
            "worker",
            f"job_{job.status}",
            job_id=job.id,
            completed=job.completed_leads,
            failed=job.failed_leads,
        )
    job.updated_at = now
    return job


def mark_started(session: Session, job_id: int, now: datetime | None = None) -> None:
    """Move a pending job to running when its first run is claimed."""
    now = now or utcnow()
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.PENDING)
        .values(status=JobStatus.RUNNING, started_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def _check_actor(user: User, job: Job) -> None:
    if user.role != Role.ADMIN and job.owner_id != user.id:
        raise PermissionDenied("You can only act on your own jobs.")


def cancel_job(session: Session, user: User, job_id: int) -> int | None:
    """Cancel a job's pending work; returns the id of its run in flight (which the worker must stop)."""
    job = visible_job(session, user, job_id)
    _check_actor(user, job)
    if job.status not in ACTIVE_JOB_STATUSES:
        raise InvalidInput(f"Job #{job_id} is already {job.status}; there is nothing to cancel.")
    now = utcnow()
    pending_runs = select(Run.id).where(Run.job_id == job_id, Run.status == RunStatus.PENDING)
    session.execute(
        update(Lead)
        .where(Lead.job_id == job_id, Lead.status == LeadStatus.PENDING, Lead.run_id.in_(pending_runs))
        .values(status=LeadStatus.CANCELLED, error="Cancelled before it was sent.")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Run)
        .where(Run.job_id == job_id, Run.status == RunStatus.PENDING)
        .values(status=RunStatus.CANCELLED, ended_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    in_flight = session.scalar(select(Run.id).where(Run.job_id == job_id, Run.status.in_(IN_FLIGHT_RUN_STATUSES)))
    job.status = JobStatus.CANCELLED
    job.stage = JobStage.COMPLETED
    job.finished_at = now
    job.updated_at = now
    job.error_code = "cancelled"
    job.error_message = f"Cancelled by {user.name}."
    job.error_at = now
    audit.record(session, user.role, "job_cancelled", job_id=job_id, by=user.name, run_in_flight=in_flight)
    return in_flight


def retry_failed_leads(session: Session, user: User, job_id: int, *, batch_size: int | None = None) -> int:
    """Queue a job's failed leads again as new runs; returns how many leads were queued."""
    job = visible_job(session, user, job_id)
    _check_actor(user, job)
    if job.status in ACTIVE_JOB_STATUSES:
        raise InvalidInput(f"Job #{job_id} is still {job.status}; retry its failed leads when it has ended.")
    failed = list(session.scalars(select(Lead).where(Lead.job_id == job_id, Lead.status == LeadStatus.FAILED)))
    if not failed:
        raise InvalidInput(f"Job #{job_id} has no failed lead to retry.")
    size = batch_size or job.batch_size
    now = utcnow()
    base_seq = int(session.scalar(select(func.max(Run.seq)).where(Run.job_id == job_id)) or 0)
    batches = plan_batches(failed, size)
    for offset, (company, indexes) in enumerate(batches, start=1):
        run = Run(
            job_id=job_id,
            owner_id=job.owner_id,
            seq=base_seq + offset,
            company=company[:255],
            lead_count=len(indexes),
            priority=job.priority,
            status=RunStatus.PENDING,
            created_at=now,
        )
        session.add(run)
        session.flush()
        for index in indexes:
            failed[index].run_id = run.id
            failed[index].status = LeadStatus.PENDING
            failed[index].error = None
    job.status = JobStatus.PENDING
    job.stage = JobStage.BATCH_PROCESSING
    job.total_batches += len(batches)
    job.finished_at = None
    job.error_code = job.error_message = None
    job.error_at = None
    job.failed_leads = 0
    job.percentage = round(100.0 * job.completed_leads / job.total_leads, 1) if job.total_leads else 0.0
    job.updated_at = now
    audit.record(
        session, user.role, "job_retry_failed", job_id=job_id, by=user.name, leads=len(failed), runs=len(batches)
    )
    return len(failed)
