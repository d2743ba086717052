"""The database tables, typed SQLAlchemy 2.0 models shared by SQLite and PostgreSQL."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use core.models.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Role(enum.StrEnum):
    ANALYST = "analyst"
    ADMIN = "admin"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_JOB_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)


class JobStage(enum.StrEnum):
    FILE_UPLOAD = "file_upload"
    FILE_PROCESSING = "file_processing"
    BATCH_PROCESSING = "batch_processing"
    COMPLETED = "completed"


class LeadStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"
    REUSED = "reused"  # enriched recently (by anyone): the profile is copied in, nothing is sent again
    CANCELLED = "cancelled"


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    LAUNCHING = "launching"
    PHANTOM_LAUNCHED = "phantom_launched"
    SUCCESS = "success"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


IN_FLIGHT_RUN_STATUSES = (RunStatus.LAUNCHING, RunStatus.PHANTOM_LAUNCHED)
ENDED_RUN_STATUSES = (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("name_key", name="uq_users_name_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # The name case-folded (every script, not only ASCII): "alice", "Alice" and "ALICE" are one person.
    name_key: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.ANALYST)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_owner_status", "owner_id", "status"),
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_created", "created_at"),
        Index("ix_jobs_content_hash", "content_hash"),
        Index("ix_jobs_owner_finished", "owner_id", "finished_at"),
        Index("ix_jobs_finished", "finished_at"),
        Index("ix_jobs_owner_id", "owner_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING)
    stage: Mapped[str] = mapped_column(String(24), default=JobStage.FILE_UPLOAD)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    batch_size: Mapped[int] = mapped_column(Integer, default=25)

    file_name: Mapped[str] = mapped_column(String(255))
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    sheet_name: Mapped[str | None] = mapped_column(String(255))
    columns: Mapped[list[Any]] = mapped_column(default=list)
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    companies: Mapped[str] = mapped_column(Text, default="")
    # File name and companies case-folded (Unicode-aware), for History's literal, case-insensitive search.
    search_text: Mapped[str] = mapped_column(Text, default="")

    total_leads: Mapped[int] = mapped_column(Integer, default=0)
    completed_leads: Mapped[int] = mapped_column(Integer, default=0)
    failed_leads: Mapped[int] = mapped_column(Integer, default=0)
    total_batches: Mapped[int] = mapped_column(Integer, default=0)
    completed_batches: Mapped[int] = mapped_column(Integer, default=0)
    current_batch: Mapped[int] = mapped_column(Integer, default=0)
    percentage: Mapped[float] = mapped_column(Float, default=0.0)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    estimated_completion: Mapped[datetime | None]
    # The analyst asked that the job start no earlier than this.
    start_after: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_at: Mapped[datetime | None]

    owner: Mapped[User] = relationship(lazy="raise")


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_job_status", "job_id", "status"),
        Index("ix_leads_job_row", "job_id", "row_number"),
        Index("ix_leads_run", "run_id"),
        Index("ix_leads_url_status", "linkedin_url", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    row_number: Mapped[int] = mapped_column(Integer)
    company: Mapped[str] = mapped_column(String(255), default="")
    linkedin_url: Mapped[str] = mapped_column(String(512))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    country: Mapped[str | None] = mapped_column(String(120))
    input: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=LeadStatus.PENDING)
    # Launches that ended without an answer for this lead (never tried, or a page that did not load).
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    # Why a lead has no profile, as a word the result report counts by: not_found, private, never_tried, ...
    error_kind: Mapped[str | None] = mapped_column(String(24))
    enriched_at: Mapped[datetime | None]


class JobInput(Base):
    """The original cells of a job's leads, for its export: one compressed blob per job (see core.job_store)."""

    __tablename__ = "job_inputs"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    format: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_status", "status"),
        Index("ix_runs_job_seq", "job_id", "seq"),
        Index("ix_runs_ended", "ended_at"),
        Index("ix_runs_status_ended", "status", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    seq: Mapped[int] = mapped_column(Integer)
    company: Mapped[str] = mapped_column(String(255), default="")
    lead_count: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(24), default=RunStatus.PENDING)
    container_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    fence: Mapped[int | None] = mapped_column(BigInteger)
    # The newest launch fence whose container's end was confirmed: no older container is ever adopted again.
    settled_fence: Mapped[int | None] = mapped_column(BigInteger)
    not_before: Mapped[datetime | None]
    launch_requested_at: Mapped[datetime | None]
    launched_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    exit_code: Mapped[int | None] = mapped_column(Integer)
    exit_message: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    dead_reason: Mapped[str | None] = mapped_column(Text)
    webhook_payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    webhook_received_at: Mapped[datetime | None]
    # The one pending check of a run in flight: a check message carrying an older ticket is stale and does nothing.
    check_ticket: Mapped[int] = mapped_column(Integer, server_default="0")
    next_check_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    # The batch PhantomBuster downloads: the hash of this launch's URL token, when it was fetched, its result file.
    batch_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    batch_fetched_at: Mapped[datetime | None]
    csv_name: Mapped[str | None] = mapped_column(String(120))
    # Set when agents/launch got no answer: the launch may have happened, so PhantomBuster is asked before relaunching.
    launch_unanswered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Slot(Base):
    """The one PhantomBuster slot: which run holds it, under which fencing token, until when."""

    __tablename__ = "slot"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    run_id: Mapped[int | None] = mapped_column(Integer)
    holder: Mapped[str | None] = mapped_column(String(128))
    token: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime | None]
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    blocked_until: Mapped[datetime | None]
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    idle_since: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """The webhook inbox: one row per distinct body received for a container (a webhook is a hint, not the truth)."""

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        UniqueConstraint("container_id", "body_hash", name="uq_webhook_inbox_body"),
        Index("ix_webhook_inbox_unprocessed", "processed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    container_id: Mapped[str] = mapped_column(String(64), index=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    # What became of it once its run ended: "confirmed" (kept on the run), "disagreed", "set_aside".
    outcome: Mapped[str | None] = mapped_column(String(16))


class AuditEvent(Base):
    """The SCT audit log: who changed what, with the details as JSON."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_job", "job_id", "id"), Index("ix_audit_run", "run_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Heartbeat(Base):
    """The last sign of life of a long-running process (worker, webhook server)."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


# -- the LinkedIn account ---------------------------------------------------------------------------------


class Account(Base):
    """The LinkedIn account a PhantomBuster agent scrapes with: its limits, hours, ramp, and why it is held back."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="LinkedIn account")
    agent_id: Mapped[str | None] = mapped_column(String(64))
    profiles_per_day: Mapped[int] = mapped_column(Integer)
    profiles_per_launch: Mapped[int] = mapped_column(Integer)
    min_gap_seconds: Mapped[float] = mapped_column(Float)
    gap_jitter_seconds: Mapped[float] = mapped_column(Float)
    work_start: Mapped[str] = mapped_column(String(5))  # "08:00", local time
    work_end: Mapped[str] = mapped_column(String(5))
    work_days: Mapped[str] = mapped_column(String(40))  # "mon,tue,wed,thu,fri"
    timezone: Mapped[str | None] = mapped_column(String(64))  # an admin's choice; else the workspace's
    workspace_timezone: Mapped[str | None] = mapped_column(String(64))  # from PhantomBuster's orgs/fetch
    ramp_start_share: Mapped[float] = mapped_column(Float)
    ramp_weekly_step: Mapped[float] = mapped_column(Float)
    ramp_started_at: Mapped[datetime | None]
    # Held back by the account or the configuration (never a job's fault): a pause waits for an admin,
    # a block clears by itself at `blocked_until`.
    paused_kind: Mapped[str | None] = mapped_column(String(24))
    paused_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None]
    blocked_kind: Mapped[str | None] = mapped_column(String(24))
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    blocked_until: Mapped[datetime | None]
    next_launch_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountLaunch(Base):
    """One launch on the account: how many profiles it sent, when (the daily budget is counted from these)."""

    __tablename__ = "account_launches"
    __table_args__ = (Index("ix_account_launches_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(Integer)
    fence: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime]
    profiles: Mapped[int] = mapped_column(Integer)
