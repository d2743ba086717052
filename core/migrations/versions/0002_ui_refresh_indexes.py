"""Indexes for the pages' 3-second refreshes: recently finished jobs, an analyst's jobs by id, measured runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    # Toasts and the 5-second linger of finished jobs: an analyst's jobs that ended after a moment.
    ("jobs", "ix_jobs_owner_finished", ["owner_id", "finished_at"]),
    # The same for admins, and the retention sweep.
    ("jobs", "ix_jobs_finished", ["finished_at"]),
    # History's first page for an analyst: newest of their jobs without sorting all of them.
    ("jobs", "ix_jobs_owner_id", ["owner_id", "id"]),
    # The queue's duration statistics: the newest successful runs without sorting every one.
    ("runs", "ix_runs_status_ended", ["status", "ended_at"]),
)


def upgrade() -> None:
    for table, name, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
