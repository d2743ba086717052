"""Single sign-on for Streamlit's st.login: the `[auth]` secrets section written from the OIDC_* settings."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from core.config import Settings
from core.errors import ConfigError


def authlib_installed() -> bool:
    """True when Authlib (needed by Streamlit's st.login) can be imported."""
    return importlib.util.find_spec("authlib") is not None


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def oidc_secrets_toml(settings: Settings) -> str | None:
    """The `[auth]` section Streamlit's st.login reads, built from the OIDC_* settings; None when SSO is off."""
    if not settings.oidc_enabled:
        return None
    cookie = settings.oidc_cookie_secret.get_secret_value() if settings.oidc_cookie_secret else ""
    if len(cookie) < 16:
        raise ConfigError("OIDC_COOKIE_SECRET must be set (16 characters or more) when single sign-on is configured.")
    assert settings.oidc_client_secret is not None
    values = {
        "redirect_uri": settings.effective_oidc_redirect_uri,
        "cookie_secret": cookie,
        "client_id": settings.oidc_client_id or "",
        "client_secret": settings.oidc_client_secret.get_secret_value(),
        "server_metadata_url": settings.oidc_server_metadata_url or "",
    }
    lines = ["# Written by LeadRelay at start from the OIDC_* settings; edits are overwritten.", "[auth]"]
    lines += [f"{key} = {_toml_string(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def write_streamlit_secrets(settings: Settings, path: Path) -> bool:
    """Write (or refresh) Streamlit's secrets file with the `[auth]` section; True when the file changed."""
    text = oidc_secrets_toml(settings)
    if text is None:
        return False
    if path.exists():
        current = path.read_text(encoding="utf-8")
        if current == text:
            return False
        if not current.startswith("# Written by LeadRelay"):
            raise ConfigError(f"{path} exists and was not written by LeadRelay; put the [auth] section in it yourself.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    path.chmod(0o600)
    return True
