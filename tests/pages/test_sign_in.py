"""Sign-in page: local accounts, identical errors, sessions that end on sign-out, and single sign-on mapping."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sqlalchemy import func, select

from core import auth, users
from core.models import AuditEvent, AuthSession, User
from pages import sso
from tests.pages.conftest import rendered
from tests.support import factories


def _sign_in(at, name: str, password: str):
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    at.button[0].click()
    return at.run()


def test_signed_out_sees_only_the_sign_in_form(open_app):
    at = open_app(None)
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert not at.sidebar.markdown


def test_wrong_password_and_unknown_user_look_the_same(open_app, app_db, monkeypatch):
    monkeypatch.setattr(auth, "failure_delay", lambda name: 0.0)
    with app_db.write() as s:
        factories.user(s, "ana")
    at = open_app(None)
    wrong = [rendered(e.value) for e in _sign_in(at, "ana", "wrong-password").error]
    unknown = [rendered(e.value) for e in _sign_in(at, "nobody", "wrong-password").error]
    assert wrong == unknown == ["Wrong user name or password."]
    assert "auth_token" not in at.session_state


def test_sign_in_sets_the_cookie_and_sign_out_ends_the_session(open_app, app_db):
    with app_db.write() as s:
        factories.user(s, "ana")
    at = open_app(None)
    at = _sign_in(at, "ana", "password-123")
    assert not at.exception
    assert any("Signed in as **ana**" in rendered(m.value) for m in at.sidebar.markdown)
    # The cookie that makes the sign-in survive a reload is written by a tiny script on the page.
    assert any("leadrelay_session=" in h.proto.body for h in at.html)
    token = at.session_state["auth_token"]
    with app_db.read() as s:
        assert auth.user_for_token(s, token).name == "ana"
    at.button(key="sign_out").click().run()
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert any("max-age=0" in h.proto.body for h in at.html)
    with app_db.read() as s:
        assert auth.user_for_token(s, token) is None
        assert s.scalar(select(func.count()).select_from(AuthSession)) == 0


def test_expired_session_goes_back_to_sign_in(open_app, app_db):
    with app_db.write() as s:
        ana = factories.user(s, "ana")
    at = open_app(ana)
    assert any("Signed in as" in rendered(m.value) for m in at.sidebar.markdown)
    with app_db.write() as s:
        users.set_disabled(s, factories.user(s, "root", "admin"), ana.id, True)
    at.run()
    assert [t.label for t in at.text_input] == ["User name", "Password"]


def test_single_sign_on_maps_to_a_local_analyst(open_app, app_db, monkeypatch, tmp_path):
    monkeypatch.setenv("OIDC_CLIENT_ID", "leadrelay")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("OIDC_SERVER_METADATA_URL", "https://idp.example.com/.well-known/openid-configuration")
    monkeypatch.setenv("OIDC_COOKIE_SECRET", "a-long-random-cookie-secret")
    monkeypatch.setattr(sso, "authlib_installed", lambda: True)
    at = open_app(None)
    assert any(b.label == "Sign in with single sign-on" for b in at.button)
    secrets = (tmp_path / ".streamlit" / "secrets.toml").read_text()
    assert "[auth]" in secrets and 'client_id = "leadrelay"' in secrets
    at.user = {"is_logged_in": True, "email": "kari@example.com", "name": "Kari"}
    at.run()
    assert any("Signed in as **kari@example.com** · analyst" in rendered(m.value) for m in at.sidebar.markdown)
    at.run()
    with app_db.read() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 1
        assert s.scalar(select(AuditEvent.action)) == "user_created"


def test_the_sign_in_form_answers_on_every_pages_address():
    """A page added to the navigation needs its address in SIGNED_OUT_PATHS, or its links land on 'Page not found'."""
    source = (Path(__file__).parents[2] / "streamlit_app.py").read_text(encoding="utf-8")
    files = re.findall(r'st\.Page\("pages/(\w+)\.py"[^)]*?(default=True)?\)', source)
    expected = {"" if default else name for name, default in files}
    paths = ast.literal_eval(re.search(r"SIGNED_OUT_PATHS = (\(.*?\))", source).group(1))
    assert len(files) == 5 and set(paths) == expected
