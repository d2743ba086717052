"""Single sign-on secrets: the [auth] section written from the OIDC_* settings, never over someone else's file."""

from __future__ import annotations

import pytest

from core.config import load_settings
from core.errors import ConfigError
from pages import sso


def test_oidc_secrets_are_written_from_settings(tmp_path, settings):
    assert sso.oidc_secrets_toml(settings) is None
    with_sso = load_settings(
        oidc_client_id="lr",
        oidc_client_secret='se"cret',
        oidc_server_metadata_url="https://idp.example.com/.well-known/openid-configuration",
        oidc_cookie_secret="x" * 32,
    )
    path = tmp_path / ".streamlit" / "secrets.toml"
    assert sso.write_streamlit_secrets(with_sso, path)
    text = path.read_text()
    assert 'client_secret = "se\\"cret"' in text and 'redirect_uri = "http://127.0.0.1:8501/oauth2callback"' in text
    assert not sso.write_streamlit_secrets(with_sso, path)
    path.write_text("[auth]\nmine = true\n")
    with pytest.raises(ConfigError):
        sso.write_streamlit_secrets(with_sso, path)
    with pytest.raises(ConfigError):
        sso.oidc_secrets_toml(load_settings(**{**with_sso.model_dump(), "oidc_cookie_secret": None}))
