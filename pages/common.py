"""What every page shares: the app context, the signed-in user, the sidebar indicator, toasts and error display."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core import auth, board, read_models, users
from core.config import Settings, load_settings
from core.db import Database
from core.doorbell import Doorbell, HueyDoorbell, build_huey
from core.errors import LeadRelayError
from core.models import JobStatus, User, utcnow
from pages import sso

COOKIE = "leadrelay_session"
REFRESH_SECONDS = 3
SECRETS_FILE = Path(".streamlit") / "secrets.toml"
STYLE = """<style>
@keyframes leadrelay-spin { to { transform: rotate(360deg); } }
.st-key-busy_indicator span[aria-label="progress_activity icon"] { animation: leadrelay-spin 1s linear infinite; }
</style>"""
T = TypeVar("T")


@dataclass(frozen=True)
class AppContext:
    """The process-wide settings and database, built once per Streamlit server."""

    settings: Settings
    db: Database
    doorbell: Doorbell
    sso_problem: str | None


@st.cache_resource
def app() -> AppContext:
    """Load the settings, open the database and write the single sign-on secrets (once per server process)."""
    settings = load_settings()
    problem = None
    if settings.oidc_enabled:
        try:
            if sso.write_streamlit_secrets(settings, SECRETS_FILE) and hasattr(st.secrets, "_reset"):
                st.secrets._reset()  # Streamlit may have read an older file at start: read it again
        except LeadRelayError as exc:
            problem = exc.message
        if problem is None and not sso.authlib_installed():
            problem = (
                "Single sign-on is configured but Authlib is missing: install it with pip install 'streamlit[auth]'."
            )
    return AppContext(
        settings=settings,
        db=Database(settings.effective_database_url),
        doorbell=HueyDoorbell(build_huey(settings)),
        sso_problem=problem,
    )


# -- signing in and out --------------------------------------------------------------------------------


def _set_cookie(value: str, max_age: int) -> None:
    # Streamlit cannot set cookies from Python: a tiny script on the page writes it (read back via st.context).
    # When signed in it goes to the sidebar's end, where its few pixels shift nothing.
    cookie = f"{COOKIE}={value}; path=/; max-age={max_age}; SameSite=Strict"
    where = st.sidebar if value else st
    where.html(f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True)


def _cookie_token() -> str | None:
    value = st.context.cookies.get(COOKIE)
    return value if isinstance(value, str) and value else None


def _sso_user() -> User | None:
    ctx = app()
    if not ctx.settings.oidc_enabled or ctx.sso_problem or not st.user.is_logged_in:
        return None
    known = st.session_state.get("sso_user_id")
    if known is not None:
        with ctx.db.read() as session:
            user = users.active_user(session, known)
        if user is not None:
            return user
    with ctx.db.write() as session:
        user = users.sso_user(session, st.user.get("email"), st.user.get("name"))
    st.session_state["sso"] = True
    st.session_state["sso_user_id"] = user.id
    return user


def current_user() -> User | None:
    """The signed-in user: from this session, from the sign-in cookie after a reload, or from single sign-on."""
    ctx = app()
    token = st.session_state.get("auth_token") or _cookie_token()
    if token:
        with ctx.db.read() as session:
            user = auth.user_for_token(session, token)
        if user is not None:
            st.session_state["auth_token"] = token
            return user
        st.session_state.pop("auth_token", None)
    try:
        return _sso_user()
    except LeadRelayError as exc:
        st.session_state["sign_in_error"] = exc.message
        return None


def page_user() -> User:
    """The signed-in user at the top of a page; stops the page when nobody is signed in."""
    # Streamlit runs a file of pages/ directly (without streamlit_app.py) when a server's first run asks for it,
    # for the old pages-folder apps: then rerun through the entry script so sign-in and navigation always apply.
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
    user = current_user()
    if user is None:
        st.info("Sign in first.", icon=":material/login:")
        st.stop()
    return user


def sign_in(name: str, password: str) -> str | None:
    """Check the credentials; on success start a session and remember it; returns an error message or None."""
    ctx = app()
    error = None
    with ctx.db.write() as session:
        try:
            user = auth.authenticate(session, name, password, sleep=False)
        except LeadRelayError as exc:
            error = exc.message  # the failure count is committed with this transaction
        else:
            token = auth.start_session(session, user, ctx.settings.session_ttl_hours)
    if error is not None:
        # Wait outside the transaction so a slowed guess never holds the database's write lock.
        time.sleep(auth.failure_delay(name))
        return error
    st.session_state["auth_token"] = token
    return None


def sign_out() -> None:
    """End the sign-in session here and in the database, and clear the cookie."""
    ctx = app()
    with ctx.db.write() as session:
        auth.end_session(session, st.session_state.pop("auth_token", None) or _cookie_token())
    st.session_state["clear_cookie"] = True
    st.session_state.pop("sso_user_id", None)
    if st.session_state.pop("sso", False):
        st.logout()


def flush_cookie() -> None:
    """Keep the browser's sign-in cookie in step with this session: written until the browser sends it back."""
    token = st.session_state.get("auth_token")
    cookie = _cookie_token()
    if st.session_state.pop("clear_cookie", False) or (cookie and not token):
        _set_cookie("", 0)
    elif token and cookie != token:
        # Written on every full run until a reload shows the browser has it (the script may not have run yet).
        _set_cookie(token, int(app().settings.session_ttl_hours * 3600))


# -- feedback ------------------------------------------------------------------------------------------

_MARKDOWN_PUNCTUATION = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


def plain(text: object) -> str:
    """Text from a user or a file, escaped so that Streamlit's Markdown shows it as it is.

    Every ASCII punctuation mark gets a backslash (CommonMark's escape), so a file named `![x](http://host/x.png)`
    is shown, never loaded as an image; line breaks become spaces so no text can start a block of its own.
    """
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(str(text).split()))


def attempt(action: Callable[[], T], *, success: str | None = None) -> T | bool | None:
    """Run a core action: its result (True for an action that returns nothing), or None when it was refused.

    A LeadRelayError becomes a clear message on the page, never a stack trace.
    """
    try:
        result = action()
    except LeadRelayError as exc:
        st.error(plain(exc.message), icon=":material/error:")
        return None
    if success:
        toast_later(success, ":material/check_circle:")
    return True if result is None else result


def rerun_fragment() -> None:
    """Rerun only the fragment being drawn (or the whole page when the fragment is drawn by a full run)."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def toast_later(text: str, icon: str | None = None) -> None:
    """Show a toast on the next run (survives the st.rerun that usually follows an action)."""
    st.session_state.setdefault("pending_toasts", []).append((text, icon))


# How many different places toasts take in turn (see `_toast`).
TOAST_PLACES = 6


def _toast(text: str, icon: str | None, duration: str = "short") -> None:
    """A toast at a place the previous few did not take.

    Streamlit's front end treats a toast drawn at the same place in the page as the one still showing there as
    that same toast, and keeps the old text (streamlit/streamlit#16498). The sidebar's 3-second refresh draws its toasts at the same place each time,
    so a job's "completed" toast a few seconds after its "queued" one would be lost. Invisible empty elements
    before it move each toast to a place of its own.
    """
    n = st.session_state.get("toast_count", 0)
    st.session_state["toast_count"] = n + 1
    for _ in range(n % TOAST_PLACES):
        st.empty()
    st.toast(text, icon=icon, duration=duration)


def show_toasts() -> None:
    """Show the toasts queued by the last action."""
    for text, icon in st.session_state.pop("pending_toasts", []):
        _toast(text, icon)


def _job_toasts(user: User) -> None:
    """Seed 004's toasts for the user's own jobs that ended since this browser session began."""
    now = utcnow()
    since = st.session_state.setdefault("toast_since", now)
    with app().db.read() as session:
        ended = read_models.finished_since(session, user, 0, since)
    seen: set[int] = st.session_state.setdefault("toasted", set())
    for job in ended:
        if job.id in seen:
            continue
        seen.add(job.id)
        if job.status == JobStatus.COMPLETED:
            _toast(
                f"Enrichment completed for {plain(job.file_name)}: {job.completed_leads} of {job.total_leads} leads "
                "enriched" + (f", {job.failed_leads} failed" if job.failed_leads else ""),
                ":material/check_circle:",
                "long",
            )
        elif job.status == JobStatus.FAILED:
            _toast(
                f"Enrichment failed for {plain(job.file_name)}: "
                f"{plain(job.error_message or 'no lead could be enriched.')} "
                "Retry failed leads from History.",
                ":material/error:",
                "long",
            )


def account_banner(user: User) -> None:
    """For admins on every page: what holds the LinkedIn account back, refreshed with the page."""
    if user.role != "admin":
        return

    @st.fragment(run_every=REFRESH_SECONDS)
    def _banner() -> None:
        with app().db.read() as session:
            text = board.account_banner(session, app().settings, user, utcnow())
        if text:
            st.warning(plain(text), icon=":material/front_hand:")

    _banner()


def sidebar_indicator(user: User) -> None:
    """Seed 002's compact indicator (spinner, active job count, latest progress) and the job toasts, every 3 s."""

    @st.fragment(run_every=REFRESH_SECONDS)
    def _indicator() -> None:
        token = st.session_state.get("auth_token")
        if token:
            with app().db.read() as session:
                still = auth.user_for_token(session, token)
            if still is None:
                st.rerun()  # signed out elsewhere, expired or disabled: back to the sign-in page
        with app().db.read() as session:
            ind = read_models.indicator(session, user)
        if ind.active == 0:
            with st.container(border=True, key="idle_indicator"):
                st.caption(":material/check_circle: No active jobs")
        else:
            with st.container(border=True, key="busy_indicator"):
                plural = "s" if ind.active > 1 else ""
                st.markdown(f":material/progress_activity: **{ind.active} active job{plural}**")
                # The newest job's own name and its own percentage, never another job's.
                st.progress(
                    min(1.0, ind.latest_percentage / 100),
                    text=f"{plain(ind.latest_file)}: {ind.latest_percentage:.0f}%",
                )
        # Last, so the empty elements that give each toast a place of its own move nothing visible.
        show_toasts()
        _job_toasts(user)

    st.html(STYLE)
    with st.sidebar:
        _indicator()


# -- formatting ----------------------------------------------------------------------------------------


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


def short_clock(when: datetime | None) -> str:
    """A UTC time of day without the zone (for narrow places)."""
    return "—" if when is None else when.strftime("%H:%M:%S" if when.date() == utcnow().date() else "%b %d %H:%M")


def clock(when: datetime | None) -> str:
    """A UTC time of day (date too when not today)."""
    if when is None:
        return "—"
    today = utcnow().date()
    return when.strftime("%H:%M:%S UTC" if when.date() == today else "%Y-%m-%d %H:%M UTC")
