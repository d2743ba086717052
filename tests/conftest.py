"""Shared fixtures: settings in a temp data dir, migrated databases (SQLite and PostgreSQL), real services."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.config import Settings, load_settings
from core.db import Database
from core.schema import migrate
from tests.support.sandbox_process import sandbox_process  # noqa: F401 - a shared fixture
from tests.support.services import Postgres, RedisServer, unavailable

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    try:
        pg = Postgres()
        pg.start()
    except Exception as exc:
        unavailable(f"PostgreSQL could not start: {exc}")
    engine = create_engine(pg.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE template_leadrelay"))
    engine.dispose()
    template = Database(pg.url("template_leadrelay"))
    migrate(template)
    template.dispose()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    migrate(db)
    db.dispose()
    return path


def _postgres_url(pg: Postgres) -> str:
    name = f"t_{next(_counter)}"
    engine = create_engine(pg.url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE template_leadrelay"))
    engine.dispose()
    return pg.url(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A freshly migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "leadrelay.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    return _postgres_url(request.getfixturevalue("postgres"))


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A freshly migrated SQLite database (for tests that need only one kind)."""
    path = tmp_path / "leadrelay.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings isolated from the developer's environment and `.env`."""
    monkeypatch.chdir(tmp_path)
    for key in list(__import__("os").environ):
        if key.startswith(("PHANTOMBUSTER_", "DATABASE_URL", "REDIS_URL", "STATUS_API_TOKEN", "PUBLIC_BASE_URL")):
            monkeypatch.delenv(key, raising=False)
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
    except Exception as exc:
        unavailable(f"the Redis-compatible server could not start: {exc}")
    yield server
    server.stop()
