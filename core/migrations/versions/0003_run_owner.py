"""One owner for a run's life: check tickets, unanswered launches, an inbox by body, literal search, name keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("check_ticket", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_checked_at", core.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("launch_unanswered_at", core.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("settled_fence", sa.BigInteger(), nullable=True))
    # A webhook no longer changes a run before PhantomBuster confirms its end: the old status folds into "launched".
    op.execute("UPDATE runs SET status = 'phantom_launched' WHERE status = 'webhook_received'")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, file_name, companies FROM jobs")).fetchall()
    for job_id, file_name, companies in rows:
        conn.execute(
            sa.text("UPDATE jobs SET search_text = :t WHERE id = :i"),
            {"t": f"{file_name}\n{companies}".casefold(), "i": job_id},
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(length=120), nullable=True))
    seen: set[str] = set()
    for user_id, name in conn.execute(sa.text("SELECT id, name FROM users ORDER BY id")).fetchall():
        key = name.casefold()[:120]
        if key in seen:  # an older "Alice" beside "alice": the later one keeps its name but needs a key of its own
            key = f"{key[:100]}#{user_id}"
        seen.add(key)
        conn.execute(sa.text("UPDATE users SET name_key = :k WHERE id = :i"), {"k": key, "i": user_id})
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("name_key", existing_type=sa.String(length=120), nullable=False)
        batch_op.create_unique_constraint("uq_users_name_key", ["name_key"])

    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("container_id", sa.String(length=64), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("received_at", core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("processed_at", core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("container_id", "body_hash", name="uq_webhook_inbox_body"),
    )
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_inbox_unprocessed", ["processed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_inbox_container_id"), ["container_id"], unique=False)
    op.execute(
        "INSERT INTO webhook_inbox (container_id, body_hash, received_at, payload, duplicates, processed_at) "
        "SELECT container_id, 'before-0003', received_at, payload, duplicates, processed_at FROM webhook_deliveries"
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_unprocessed")
    op.drop_table("webhook_deliveries")


def downgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("container_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("processed_at", core.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("container_id"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_unprocessed", ["processed_at"], unique=False)
    op.execute(
        "INSERT INTO webhook_deliveries (container_id, received_at, payload, duplicates, processed_at) "
        "SELECT container_id, received_at, payload, duplicates, processed_at FROM webhook_inbox w "
        "WHERE id = (SELECT MIN(id) FROM webhook_inbox x WHERE x.container_id = w.container_id)"
    )
    op.drop_table("webhook_inbox")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_name_key", type_="unique")
        batch_op.drop_column("name_key")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("search_text")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("settled_fence")
        batch_op.drop_column("launch_unanswered_at")
        batch_op.drop_column("last_checked_at")
        batch_op.drop_column("check_ticket")
