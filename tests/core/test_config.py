"""Settings: defaults, sandbox mode, loud errors naming the variable, secrets hidden."""

from __future__ import annotations

import pytest

from core.config import DEV_WEBHOOK_SECRET, load_settings
from core.errors import ConfigError


def test_defaults_are_sandbox_and_embedded(settings):
    assert settings.sandbox_mode and settings.embedded_redis
    assert settings.sequential_queue_timeout == 1800
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_redis_url == "redis://127.0.0.1:6390/0"
    assert settings.effective_pb_base_url == "http://127.0.0.1:8010/api/v2"
    assert settings.webhook_secrets == [DEV_WEBHOOK_SECRET]


def test_bad_value_names_the_variable(settings, monkeypatch):
    monkeypatch.setenv("SEQUENTIAL_QUEUE_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="SEQUENTIAL_QUEUE_TIMEOUT"):
        load_settings()


def test_real_key_requires_agent_and_secret(settings, monkeypatch):
    monkeypatch.setenv("PHANTOMBUSTER_API_KEY", "real-key-123")
    with pytest.raises(ConfigError, match="PHANTOMBUSTER_AGENT_ID"):
        load_settings()
    monkeypatch.setenv("PHANTOMBUSTER_AGENT_ID", "123")
    with pytest.raises(ConfigError, match="PHANTOMBUSTER_WEBHOOK_SECRET"):
        load_settings()


def test_secrets_hidden_from_repr_and_errors(settings, monkeypatch):
    monkeypatch.setenv("PHANTOMBUSTER_API_KEY", "very-secret-key")
    monkeypatch.setenv("PHANTOMBUSTER_AGENT_ID", "123")
    monkeypatch.setenv("PHANTOMBUSTER_WEBHOOK_SECRET", "hook-secret-value")
    monkeypatch.setenv("STATUS_API_TOKEN", "status-token-value")
    s = load_settings()
    text = repr(s) + str(s)
    for secret in ("very-secret-key", "hook-secret-value", "status-token-value"):
        assert secret not in text
    assert not s.sandbox_mode and s.effective_pb_base_url == "https://api.phantombuster.com/api/v2"


def test_rotation_accepts_previous_secret(settings, monkeypatch):
    monkeypatch.setenv("PHANTOMBUSTER_WEBHOOK_SECRET", "new-secret")
    monkeypatch.setenv("PHANTOMBUSTER_WEBHOOK_SECRET_PREVIOUS", "old-secret")
    assert load_settings().webhook_secrets == ["new-secret", "old-secret"]


def test_env_file_is_read(settings, tmp_path):
    (tmp_path / ".env").write_text("MAX_ACTIVE_JOBS_PER_ANALYST=5\n")
    assert load_settings().max_active_jobs_per_analyst == 5
