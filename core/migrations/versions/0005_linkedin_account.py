"""The LinkedIn account: its limits, hours, ramp, pauses and blocks, a ledger of its launches; a job's start time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    moment = core.models.UTCDateTime(timezone=True)
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("profiles_per_day", sa.Integer(), nullable=False),
        sa.Column("profiles_per_launch", sa.Integer(), nullable=False),
        sa.Column("min_gap_seconds", sa.Float(), nullable=False),
        sa.Column("gap_jitter_seconds", sa.Float(), nullable=False),
        sa.Column("work_start", sa.String(length=5), nullable=False),
        sa.Column("work_end", sa.String(length=5), nullable=False),
        sa.Column("work_days", sa.String(length=40), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("workspace_timezone", sa.String(length=64), nullable=True),
        sa.Column("ramp_start_share", sa.Float(), nullable=False),
        sa.Column("ramp_weekly_step", sa.Float(), nullable=False),
        sa.Column("ramp_started_at", moment, nullable=True),
        sa.Column("paused_kind", sa.String(length=24), nullable=True),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("paused_at", moment, nullable=True),
        sa.Column("blocked_kind", sa.String(length=24), nullable=True),
        sa.Column("blocked_reason", sa.Text(), nullable=True),
        sa.Column("blocked_until", moment, nullable=True),
        sa.Column("next_launch_at", moment, nullable=True),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "account_launches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("fence", sa.BigInteger(), nullable=True),
        sa.Column("at", moment, nullable=False),
        sa.Column("profiles", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("account_launches", schema=None) as batch_op:
        batch_op.create_index("ix_account_launches_at", ["account_id", "at"], unique=False)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("start_after", moment, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("start_after")
    with op.batch_alter_table("account_launches", schema=None) as batch_op:
        batch_op.drop_index("ix_account_launches_at")
    op.drop_table("account_launches")
    op.drop_table("accounts")
