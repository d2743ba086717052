"""AppTest fixtures: the real app pointed at a fresh SQLite database, a signed-in user, a recorded doorbell."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import auth
from core.db import Database
from core.models import User
from tests.support.doorbell import QueueDoorbell

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def rendered(markdown: str) -> str:
    """What a Markdown element shows: the backslash escapes the pages put before user text's punctuation removed."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


@dataclass
class Rings:
    """The doorbell rings the pages asked for, instead of a real queue."""

    bell: QueueDoorbell = field(default_factory=QueueDoorbell)

    @property
    def calls(self) -> list[tuple[object, ...]]:
        return [(name, *args) for name, args in self.bell.rung]


@pytest.fixture
def app_db(sqlite_url: str, settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The database the app under test uses; the app's cached context is rebuilt for it."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    st.cache_resource.clear()
    st.cache_data.clear()
    db = Database(sqlite_url)
    yield db
    db.dispose()
    st.cache_resource.clear()


@pytest.fixture(autouse=True)
def entry_script_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run streamlit_app.py on every AppTest run, as a real server does after its first run.

    AppTest resets Streamlit's legacy pages-folder flag before each run, which makes it run a `pages/` file
    directly (and a page's first action is then to rerun, which drops a button click). A real server clears that
    flag for good on its first run, when streamlit_app.py calls st.navigation.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    def run_entry(main_script_path: str) -> None:
        PagesManager.uses_pages_directory = False
        code = compile(Path(main_script_path).read_text(encoding="utf-8"), main_script_path, "exec")
        exec(code, {"__name__": "__main__", "__file__": main_script_path})

    monkeypatch.setattr(script_runner, "_mpa_v1", run_entry)


@pytest.fixture
def rings(monkeypatch: pytest.MonkeyPatch, app_db: Database) -> Rings:
    import pages.common

    recorded = Rings()
    monkeypatch.setattr(pages.common, "HueyDoorbell", lambda huey: recorded.bell)
    return recorded


@pytest.fixture
def open_app(app_db: Database, rings: Rings) -> Callable[..., AppTest]:
    """Open the app signed in as `user` (or signed out), on `page` (a path like 'pages/history.py')."""

    def _open(user: User | None = None, page: str | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        if user is not None:
            with app_db.write() as session:
                at.session_state["auth_token"] = auth.start_session(session, user, ttl_hours=1)
        at.run()
        if page is not None:
            at.switch_page(page)
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open
