"""The real Profile Scraper: per-lead attempts, each run's batch URL token and its own result file.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("batch_fetched_at", core.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("csv_name", sa.String(length=120), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_batch_token_hash"), ["batch_token_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_batch_token_hash"))
        batch_op.drop_column("csv_name")
        batch_op.drop_column("batch_fetched_at")
        batch_op.drop_column("batch_token_hash")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("attempts")
