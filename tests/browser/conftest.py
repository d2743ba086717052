"""One live LeadRelay (stack + Streamlit) and one Chromium for each browser test module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import AppServer, browser, chromium_available
from tests.support.services import RedisServer, unavailable


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[AppServer]:
    """The real processes on free ports with a fresh SQLite database, their own queue server and three accounts.

    The queue server is not the session's shared one, so this stack's worker never takes another test's tasks.
    """
    if not chromium_available():
        unavailable("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("live")
    db_path = tmp / "leadrelay.db"
    shutil.copy(sqlite_template, db_path)
    try:
        redis = RedisServer(tmp / "redis")
    except Exception as exc:
        unavailable(f"the Redis-compatible server could not start: {exc}")
    server = AppServer(tmp, f"sqlite:///{db_path}", redis)
    try:
        server.start()
    except Exception as exc:
        server.stop()
        redis.stop()
        unavailable(f"the stack or Streamlit could not start: {exc}")
    try:
        for name, role in (("ana", "analyst"), ("ole", "analyst"), ("root", "admin")):
            server.add_user(name, role)
        yield server
    finally:
        server.stop()
        redis.stop()


@pytest.fixture(scope="module")
def chromium(live: AppServer) -> Iterator[Any]:
    """Debian's Chromium under Playwright, shared by the module's tests."""
    try:
        with browser() as b:
            yield b
    except Exception as exc:  # Playwright's own errors: a broken browser install
        unavailable(f"Chromium could not start under Playwright: {exc}")


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    """A fresh browser profile (cookies included) per test, 1280x900."""
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()
