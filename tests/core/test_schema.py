"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core import notify_tables  # noqa: F401  (its tables are part of the schema the migrations build)
from core.lifecycle import slot
from core.models import Base


def test_migrations_match_models(db):
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_slot_row_seeded(db):
    with db.read() as s:
        row = slot.get(s)
    assert row.id == 1 and row.token == 0 and not row.paused
