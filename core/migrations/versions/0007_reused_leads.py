"""Shared results: leads reused from a recent enrichment (status "reused"), and why a lead has no profile.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_kind", sa.String(length=24), nullable=True))
    # Leads skipped as "enriched in the last days by job #N" held no profile and named another job: they become
    # plain failures an analyst may retry, without the other job's number.
    op.execute(
        "UPDATE leads SET status = 'failed', error_kind = 'skipped', "
        "error = 'Not sent: it had been enriched recently when this file was queued.' WHERE status = 'skipped'"
    )


def downgrade() -> None:
    op.execute("UPDATE leads SET status = 'failed' WHERE status = 'reused'")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("error_kind")
