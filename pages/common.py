"""What every page shares: the app context, the signed-in user, the sidebar indicator and error display."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import streamlit as st
import streamlit.components.v1 as components

from core import auth, views
from core.config import Settings, load_settings
from core.db import Database
from core.errors import LeadRelayError
from core.models import User, utcnow

COOKIE = "leadrelay_session"
REFRESH_SECONDS = 3
T = TypeVar("T")


@dataclass(frozen=True)
class AppContext:
    """The process-wide settings and database, built once per Streamlit server."""

    settings: Settings
    db: Database


@st.cache_resource
def app() -> AppContext:
    settings = load_settings()
    return AppContext(settings=settings, db=Database(settings.effective_database_url))


def _set_cookie(value: str, max_age: int) -> None:
    # Streamlit cannot set cookies from Python; a zero-height component writes it on the parent page.
    components.html(
        f"<script>window.parent.document.cookie = {json.dumps(f'{COOKIE}={value}')} + "
        f"'; path=/; max-age={max_age}; SameSite=Strict';</script>",
        height=0,
    )


def current_user() -> User | None:
    """The signed-in user: from this session, or from the sign-in cookie after a browser reload."""
    ctx = app()
    token = st.session_state.get("auth_token") or st.context.cookies.get(COOKIE)
    if not token:
        return None
    with ctx.db.read() as session:
        user = auth.user_for_token(session, token)
    if user is None:
        st.session_state.pop("auth_token", None)
        return None
    st.session_state["auth_token"] = token
    return user


def sign_in(name: str, password: str) -> str | None:
    """Check the credentials; on success start a session and remember it; returns an error message or None."""
    ctx = app()
    with ctx.db.write() as session:
        try:
            user = auth.authenticate(session, name, password)
        except LeadRelayError as exc:
            return exc.message
        token = auth.start_session(session, user, ctx.settings.session_ttl_hours)
    st.session_state["auth_token"] = token
    st.session_state["pending_cookie"] = token
    return None


def sign_out() -> None:
    ctx = app()
    with ctx.db.write() as session:
        auth.end_session(session, st.session_state.pop("auth_token", None) or st.context.cookies.get(COOKIE))
    st.session_state["pending_cookie"] = ""


def flush_cookie() -> None:
    """Write or clear the sign-in cookie decided during the last action."""
    if "pending_cookie" in st.session_state:
        value = st.session_state.pop("pending_cookie")
        ttl = int(app().settings.session_ttl_hours * 3600) if value else 0
        _set_cookie(value, ttl)


def attempt(action: Callable[[], T], *, success: str | None = None) -> T | None:
    """Run a core action; a LeadRelayError becomes a clear message on the page, never a stack trace."""
    try:
        result = action()
    except LeadRelayError as exc:
        st.error(exc.message)
        return None
    if success:
        st.toast(success)
    return result


def sidebar_indicator(user: User) -> None:
    """Seed 002's compact indicator: a spinner, the number of active jobs, the latest one's progress."""

    @st.fragment(run_every=REFRESH_SECONDS)
    def _indicator() -> None:
        with app().db.read() as session:
            ind = views.indicator(session, user)
        if ind.active == 0:
            st.caption("No active jobs")
            return
        st.markdown(f":material/progress_activity: **{ind.active} active job{'s' if ind.active > 1 else ''}**")
        st.progress(min(1.0, ind.latest_percentage / 100), text=f"{ind.latest_file}: {ind.latest_percentage:.0f}%")

    with st.sidebar:
        _indicator()


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """'12 s ago', '3 min ago', '2 h ago' or '—'."""
    if when is None:
        return "—"
    seconds = ((now or utcnow()) - when).total_seconds()
    return f"{duration(abs(seconds))} {'ago' if seconds >= 0 else 'from now'}"


def duration(seconds: float | None) -> str:
    """A short human duration."""
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def clock(when: datetime | None) -> str:
    """A UTC time of day (date too when not today)."""
    if when is None:
        return "—"
    today = utcnow().date()
    return when.strftime("%H:%M:%S UTC" if when.date() == today else "%Y-%m-%d %H:%M UTC")


def json_block(data: Any) -> None:
    st.json(data, expanded=False)
