"""Database access: the engine, its SQLite tuning, and the transaction scopes the edges open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from core.errors import ConfigError


def _sqlite_tuning(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We emit BEGIN ourselves so writers take the lock up front (no busy deadlock on upgrade).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        # 64 MiB of page cache: bulk imports touch five B-trees at once.
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for a SQLite file or PostgreSQL URL; SQLite gets WAL and a busy timeout."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a config error
        raise ConfigError(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            poolclass=NullPool if parsed.database in (None, "", ":memory:") else None,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        _sqlite_tuning(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() in ("", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise ConfigError(f"DATABASE_URL must be sqlite:/// or postgresql://, not {parsed.get_backend_name()}.")


class Database:
    """One engine and its session factories; `write()` and `read()` frame a transaction each."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        read_engine = self.engine.execution_options(sqlite_begin="DEFERRED") if self.is_sqlite else self.engine
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A read-write transaction, committed on success and rolled back on any error."""
        with self._write() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction that never blocks writers."""
        with self._read() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
