"""Storing an import: the job row, its runs and leads inserted in bulk, and the lookups an import checks first."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.orm import Session, aliased

from core import audit
from core.errors import InvalidInput, LimitReached, NothingToSend
from core.jobs import active_job_count, plan_batches
from core.leadfile import LeadRow, valuesblob
from core.leadfile.gcpause import paused_gc
from core.models import Job, JobInput, JobStage, JobStatus, Lead, LeadStatus, Role, Run, RunStatus, User, utcnow

URL_CHUNK = 500
REPORT_ISSUES_CAP = 1000
Source = aliased(Lead, name="source_lead")  # a recent enrichment of a reused lead's URL, by anyone
Picked = aliased(Lead, name="picked_lead")  # the newest of them


def recently_enriched(
    session: Session, urls: Iterable[str], days: int, now: datetime | None = None
) -> dict[str, datetime]:
    """Which of `urls` anyone enriched successfully in the last `days` days, with the newest enrichment's date.

    Results are shared, jobs are private: only the date is told, never whose job it was.
    """
    if days <= 0:
        return {}
    since = (now or utcnow()) - timedelta(days=days)
    found: dict[str, datetime] = {}
    unique = list(dict.fromkeys(urls))
    for start in range(0, len(unique), URL_CHUNK):
        chunk = unique[start : start + URL_CHUNK]
        stmt = (
            select(Lead.linkedin_url, func.max(Lead.enriched_at))
            .where(Lead.linkedin_url.in_(chunk), Lead.status == LeadStatus.SUCCESS, Lead.enriched_at >= since)
            .group_by(Lead.linkedin_url)
        )
        found.update((url, at) for url, at in session.execute(stmt))
    return found


def same_file_jobs(session: Session, content_hash: str, owner_id: int) -> list[int]:
    """Ids of the owner's own earlier jobs made from a file with the same content (never a colleague's)."""
    stmt = (
        select(Job.id)
        .where(Job.content_hash == content_hash, Job.owner_id == owner_id)
        .order_by(Job.id.desc())
        .limit(5)
    )
    return list(session.scalars(stmt))


def _copy_reused_profiles(session: Session, job_id: int, since: datetime) -> None:
    """Give each reused lead of the job the newest recent profile of its URL, and that enrichment's date."""
    newest = (
        select(Source.id)
        .where(Source.linkedin_url == Lead.linkedin_url, Source.status == LeadStatus.SUCCESS)
        .where(Source.enriched_at >= since)
        .order_by(Source.enriched_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    profile = select(Picked.profile).where(Picked.id == newest).scalar_subquery()
    enriched = select(Picked.enriched_at).where(Picked.id == newest).scalar_subquery()
    session.execute(
        update(Lead)
        .where(Lead.job_id == job_id, Lead.status == LeadStatus.REUSED)
        .values(profile=profile, enriched_at=enriched)
        .execution_options(synchronize_session=False)
    )


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
    reuse: dict[str, datetime] | None = None,
    reuse_since: datetime | None = None,
    max_active_jobs: int | None = None,
    actor: str = "analyst",
) -> Job:
    """Store a validated import as a job with its leads and runs; leads in `reuse` get the recent profile instead.

    A file with nothing to send is refused (InvalidInput): a job that "completes" without work would mislead.
    """
    with paused_gc():  # 100,000 leads make no reference cycle; a full collection would rescan them all (0.1 s)
        return _create_job(
            session,
            owner=owner,
            preview=preview,
            batch_size=batch_size,
            priority=priority,
            reuse=reuse or {},
            reuse_since=reuse_since,
            max_active_jobs=max_active_jobs,
            actor=actor,
        )


def _create_job(
    session: Session,
    *,
    owner: User,
    preview: Any,
    batch_size: int,
    priority: int,
    reuse: dict[str, datetime],
    reuse_since: datetime | None,
    max_active_jobs: int | None,
    actor: str,
) -> Job:
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
    to_send = [lead for lead in leads if lead.linkedin_url not in reuse] if reuse else leads
    if not to_send:
        raise NothingToSend(len(leads))
    batches = plan_batches(to_send, batch_size)
    now = utcnow()
    companies = list(dict.fromkeys(company for company, _ in batches))
    job = Job(
        owner_id=owner.id,
        status=JobStatus.PENDING,
        stage=JobStage.BATCH_PROCESSING,
        priority=priority,
        batch_size=batch_size,
        file_name=parsed.file_name[:255],
        file_size=parsed.file_size,
        content_hash=parsed.content_hash,
        sheet_name=parsed.sheet_name,
        columns=list(parsed.columns),
        mapping=dict(preview.mapping),
        report={**preview.counts, "reused": len(leads) - len(to_send), **report_issues(preview)},
        companies=", ".join(c or "(no company)" for c in companies)[:2000],
        search_text=f"{parsed.file_name}\n{', '.join(companies)}".casefold(),
        total_leads=len(to_send),
        total_batches=len(batches),
        percentage=0.0,
        created_at=now,
    )
    session.add(job)
    session.flush()
    _defer_wal_checkpoint(session)
    compressing = _Compression(valuesblob.text(parsed.columns, leads))  # alongside the inserts, on the other core
    run_ids = _insert_runs(session, job.id, owner.id, batches, priority, now)
    _insert_leads(session, job.id, leads, _lead_runs(leads, reuse, batches, run_ids), reuse)
    if reuse:
        _copy_reused_profiles(session, job.id, reuse_since or min(reuse.values()))
    session.add(JobInput(job_id=job.id, format=valuesblob.FORMAT, data=compressing.result()))
    audit.record(
        session,
        actor,
        "job_created",
        job_id=job.id,
        file_name=job.file_name,
        leads=len(leads),
        to_send=len(to_send),
        reused=len(leads) - len(to_send),
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
_LEADS_PER_INSERT = 500  # at most 5,500 parameters a statement: under SQLite's 32,766 and PostgreSQL's 65,535


def _values_sql(table: str, columns: tuple[str, ...], rows: int, mark: str) -> str:
    """An INSERT of `rows` rows into `columns` with the driver's placeholder `mark`."""
    one_row = f"({', '.join([mark] * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one_row] * rows)}"


class _Compression:
    """valuesblob.compress in a second thread: zlib and the database driver both release the GIL while they work,
    so the blob is compressed while the leads are stored."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._blob: bytes | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(pieces,), name="import-values", daemon=True)
        self._thread.start()

    def _run(self, pieces: list[bytes]) -> None:
        try:
            self._blob = valuesblob.compress(pieces)
        except BaseException as exc:  # noqa: BLE001 - handed to the importing thread by result()
            self._error = exc

    def result(self) -> bytes:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._blob is not None
        return self._blob


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
        cursor.execute(f"SELECT id FROM runs WHERE job_id = {mark} ORDER BY seq", (job_id,))
        return [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()


def _lead_runs(
    leads: Sequence[LeadRow],
    skip_recent: Mapping[str, object],
    batches: list[tuple[str, list[int]]],
    run_ids: list[int],
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


def _leads_sql(job_id: int, rows: int, mark: str, with_status: bool) -> str:
    """An INSERT of `rows` leads of job `job_id`: the values all leads share are written into the statement (a
    fifth fewer parameters to bind: a fifth less time), the others are parameters."""
    status = f"{mark}, {mark}" if with_status else f"'{LeadStatus.PENDING}', NULL"
    one_row = f"({int(job_id)}, {', '.join([mark] * 9)}, '{{}}', {status})"
    return f"INSERT INTO leads ({', '.join(_LEAD_COLUMNS)}) VALUES {', '.join([one_row] * rows)}"


def _insert_leads(
    session: Session, job_id: int, leads: Sequence[LeadRow], runs: Sequence[int | None], reuse: Mapping[str, object]
) -> None:
    """Bulk-insert a job's leads, hundreds of rows to a statement: an import's hot path (100,000 rows).
    Their original cells go to the job's JobInput blob; leads.input (kept for leads stored before it) gets {}."""
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    with_status = bool(reuse)
    full = _leads_sql(job_id, _LEADS_PER_INSERT, mark, with_status)
    pending, reused = str(LeadStatus.PENDING), str(LeadStatus.REUSED)
    cursor = conn.connection.cursor()
    try:
        for start in range(0, len(leads), _LEADS_PER_INSERT):
            chunk = leads[start : start + _LEADS_PER_INSERT]
            params: list[Any] = []
            add = params.extend
            for lead, run_id in zip(chunk, runs[start : start + _LEADS_PER_INSERT], strict=True):
                add((
                    run_id, lead.row_number, (lead.company or "")[:255], lead.linkedin_url[:512],
                    lead.first_name, lead.last_name, lead.full_name, lead.email, lead.country,
                ))  # fmt: skip
                if with_status:
                    add((reused if lead.linkedin_url in reuse else pending, None))
            sql = full if len(chunk) == _LEADS_PER_INSERT else _leads_sql(job_id, len(chunk), mark, with_status)
            cursor.execute(sql, params)
    finally:
        cursor.close()


_AUTOCHECKPOINT = "leadrelay_wal_autocheckpoint"


def _defer_wal_checkpoint(session: Session) -> None:
    """On SQLite, keep this import's commit from copying the write-ahead log into the database file (tens of MB
    for a large import): the next commit of any other connection, or the last close, does it instead. The
    connection's own setting comes back when it returns to the pool."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    fairy = conn.connection
    if _AUTOCHECKPOINT not in fairy.info:
        cursor = fairy.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("PRAGMA wal_autocheckpoint")
            row = cursor.fetchone()
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        finally:
            cursor.close()
        fairy.info[_AUTOCHECKPOINT] = int(row[0]) if row else 1000
    engine: Engine = conn.engine
    if not event.contains(engine, "checkin", _restore_autocheckpoint):
        event.listen(engine, "checkin", _restore_autocheckpoint)


def _restore_autocheckpoint(dbapi_connection: Any, record: Any) -> None:
    value = record.info.pop(_AUTOCHECKPOINT, None) if record is not None else None
    if value is not None and dbapi_connection is not None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(value)}")
        finally:
            cursor.close()


def input_values(session: Session, job_id: int) -> dict[int, list[str]] | None:
    """The original cells of a job's leads by row number, in the job's column order; None for a job stored
    before the blob existed (its leads keep them in leads.input)."""
    blob = session.get(JobInput, job_id)
    if blob is None:
        return None
    _, rows = valuesblob.unpack(blob.data)
    return dict(rows)
