"""Settings: one object read from the environment and an optional `.env`, failing loudly on a bad value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

SANDBOX_API_KEY = "sandbox-key"
SANDBOX_AGENT_ID = "4000000000000001"
DEV_WEBHOOK_SECRET = "dev-webhook-secret"
DEV_STATUS_TOKEN = "dev-status-token"
WEBHOOK_PATH = "/webhooks/phantombuster/profile_extraction"


@dataclass(frozen=True, slots=True)
class AccountDefaults:
    """The limits a LinkedIn account starts with."""

    profiles_per_day: int
    profiles_per_launch: int
    min_gap_minutes: float
    gap_jitter_minutes: float
    work_hours: str
    work_days: str


# PhantomBuster's guidance (reference section 9.4): up to 1,500 profiles a day for the Profile Scraper by the
# vendor's own claim, others keep to 50-100; a third of the vendor's figure, in batches of 50, in office hours.
CONSERVATIVE_ACCOUNT = AccountDefaults(500, 50, 10.0, 5.0, "08:00-18:00", "mon,tue,wed,thu,fri")
# The sandbox scrapes nobody: no account to protect, so nothing waits unless an admin sets limits.
SANDBOX_ACCOUNT = AccountDefaults(10_000, 100, 0.0, 0.0, "00:00-24:00", "mon,tue,wed,thu,fri,sat,sun")


class Settings(BaseSettings):
    """Every knob of LeadRelay; field names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None

    phantombuster_api_key: SecretStr | None = None
    phantombuster_base_url: str | None = None
    phantombuster_agent_id: str | None = None
    phantombuster_webhook_secret: SecretStr | None = None
    phantombuster_webhook_secret_previous: SecretStr | None = None
    phantombuster_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    phantombuster_max_retries: int = Field(default=4, ge=0, le=20)
    phantombuster_retry_after_cap_seconds: float = Field(default=30.0, gt=0)
    public_base_url: str = "http://127.0.0.1:8000"
    status_api_token: SecretStr | None = None
    status_rate_limit_per_minute: int = Field(default=60, ge=1)

    sequential_queue_timeout: int = Field(default=1800, ge=10)
    launch_lease_seconds: float = Field(default=120.0, gt=0)
    # How long past its lease an unanswered launch is still looked for: PhantomBuster may process a request late.
    launch_lookup_margin_seconds: float = Field(default=60.0, ge=0)
    orphan_scan_seconds: float = Field(default=60.0, gt=0)
    reconcile_interval_seconds: float = Field(default=10.0, gt=0)
    expected_run_seconds: float = Field(default=300.0, gt=0)
    max_run_attempts: int = Field(default=3, ge=1, le=20)
    busy_backoff_seconds: float = Field(default=5.0, gt=0)

    default_batch_size: int = Field(default=25, ge=1, le=2500)
    # The Profile Scraper's per-launch maximum (numberOfAddsPerLaunch, "100 max" in its store form).
    profiles_per_launch_max: int = Field(default=100, ge=1, le=2500)
    max_lead_attempts: int = Field(default=3, ge=1, le=20)
    # How long after its run ended a batch URL still answers (PhantomBuster reads it when the container starts).
    batch_url_margin_seconds: float = Field(default=600.0, ge=0)
    max_active_jobs_per_analyst: int = Field(default=3, ge=1)
    max_upload_mb: float = Field(default=50.0, gt=0)
    max_rows: int = Field(default=200_000, ge=1)
    max_columns: int = Field(default=200, ge=1)
    recently_enriched_days: int = Field(default=30, ge=0)
    parse_timeout_seconds: float = Field(default=60.0, gt=0)
    parse_memory_mb: int = Field(default=1024, ge=64)

    # The LinkedIn account's first limits (an admin changes them on the Admin page; the README gives the sources).
    # Unset: conservative values for a real account; in sandbox mode, where no LinkedIn account exists, open.
    account_profiles_per_day: int | None = Field(default=None, ge=1, le=10_000)
    account_profiles_per_launch: int | None = Field(default=None, ge=1, le=2500)
    account_min_gap_minutes: float | None = Field(default=None, ge=0)
    account_gap_jitter_minutes: float | None = Field(default=None, ge=0)
    account_work_hours: str | None = None
    account_work_days: str | None = None
    account_timezone: str = "UTC"  # used until PhantomBuster's orgs/fetch tells the workspace's
    account_ramp_start_share: float = Field(default=0.5, gt=0, le=1)
    account_ramp_weekly_step: float = Field(default=0.15, ge=0, le=1)
    account_reconnect_share: float = Field(default=0.6, gt=0, le=1)
    rate_limit_backoff_hours: float = Field(default=4.0, gt=0)

    webhook_max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    retention_completed_days: int = Field(default=7, ge=1)
    retention_failed_days: int = Field(default=30, ge=1)
    session_ttl_hours: float = Field(default=12.0, gt=0)
    health_cache_seconds: float = Field(default=30.0, ge=0)

    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_server_metadata_url: str | None = None
    oidc_cookie_secret: SecretStr | None = None
    oidc_redirect_uri: str | None = None

    host: str = "127.0.0.1"
    streamlit_port: int = Field(default=8501, ge=1, le=65535)
    webhook_port: int = Field(default=8000, ge=1, le=65535)
    sandbox_port: int = Field(default=8010, ge=1, le=65535)
    redis_port: int = Field(default=6390, ge=1, le=65535)
    log_level: str = "INFO"

    # -- notifications (issue 11): how the outbox is sent, where links point, when the queue counts as stalled --
    # Links in messages open pages here (History: APP_BASE_URL/history?job=<id>); unset: the local Streamlit address.
    app_base_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "LeadRelay <leadrelay@localhost>"
    # "starttls" (port 587), "ssl" (implicit TLS, port 465) or "none" (a relay on a trusted network only).
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    notify_http_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    notify_poll_seconds: float = Field(default=5.0, gt=0)
    # A claimed message is another worker's to send again after this long (its sender is presumed dead by then).
    notify_lease_seconds: float = Field(default=120.0, gt=0)
    notify_max_attempts: int = Field(default=6, ge=1, le=50)
    notify_backoff_seconds: float = Field(default=30.0, gt=0)
    notify_backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    # Loopback targets (http://127.0.0.1/...) for webhooks; unset: allowed in sandbox mode only. Link-local never.
    notify_allow_loopback: bool | None = None
    # Work queued but nothing launched or ended for this long (a run in flight gets its timeout on top).
    stall_after_seconds: float = Field(default=1800.0, gt=0)
    # This many runs in a row ended with no webhook in the inbox: webhooks stopped arriving, runs end by polling.
    webhook_silent_runs: int = Field(default=3, ge=1)

    @field_validator("app_base_url", "smtp_host", "smtp_user")
    @classmethod
    def _notify_blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip().rstrip("/") or None if isinstance(value, str) else value

    @field_validator("app_base_url")
    @classmethod
    def _app_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @property
    def effective_app_base_url(self) -> str:
        """Where the links in notifications point (the Streamlit app as people reach it)."""
        return self.app_base_url or f"http://{self.host}:{self.streamlit_port}"

    @property
    def notify_loopback_allowed(self) -> bool:
        """Whether notification webhooks may target this machine (tests and the sandbox do)."""
        return self.sandbox_mode if self.notify_allow_loopback is None else self.notify_allow_loopback

    # -- end of notifications --

    @field_validator(
        "database_url",
        "redis_url",
        "phantombuster_base_url",
        "phantombuster_agent_id",
        "oidc_client_id",
        "oidc_server_metadata_url",
        "oidc_redirect_uri",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("account_work_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            start, end = (part.strip() for part in value.split("-"))
            first = time.fromisoformat(start)
            last = time.max if end == "24:00" else time.fromisoformat(end)
        except ValueError:
            raise ValueError('must be like "08:00-18:00" (the end may be 24:00)') from None
        if first >= last:
            raise ValueError("the start must come before the end")
        return f"{first:%H:%M}-{'24:00' if end == '24:00' else f'{last:%H:%M}'}"

    @field_validator("account_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as Europe/Oslo") from None
        return value

    @field_validator("account_work_days")
    @classmethod
    def _days(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [d.strip().lower()[:3] for d in value.split(",") if d.strip()]
        if not names or any(d not in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") for d in names):
            raise ValueError("must be weekdays such as mon,tue,wed,thu,fri")
        return ",".join(names)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    def account_defaults(self) -> AccountDefaults:
        """The LinkedIn account's first limits: what is set, else conservative (real key) or open (sandbox)."""
        base = SANDBOX_ACCOUNT if self.sandbox_mode else CONSERVATIVE_ACCOUNT
        return AccountDefaults(
            profiles_per_day=self.account_profiles_per_day or base.profiles_per_day,
            profiles_per_launch=min(
                self.account_profiles_per_launch or base.profiles_per_launch, self.profiles_per_launch_max
            ),
            min_gap_minutes=base.min_gap_minutes
            if self.account_min_gap_minutes is None
            else self.account_min_gap_minutes,
            gap_jitter_minutes=(
                base.gap_jitter_minutes if self.account_gap_jitter_minutes is None else self.account_gap_jitter_minutes
            ),
            work_hours=self.account_work_hours or base.work_hours,
            work_days=self.account_work_days or base.work_days,
        )

    @property
    def phantom_hold_seconds(self) -> float:
        """How long a launched run holds the slot before only its timeout can free it."""
        return self.sequential_queue_timeout + 60.0

    @property
    def sandbox_mode(self) -> bool:
        """True when no PhantomBuster key is set: the local sandbox stands in for PhantomBuster."""
        key = self.phantombuster_api_key
        return key is None or not key.get_secret_value().strip()

    @property
    def oidc_enabled(self) -> bool:
        """True when single sign-on is configured (client id, secret and the provider's metadata URL)."""
        secret = self.oidc_client_secret
        return bool(self.oidc_client_id and self.oidc_server_metadata_url and secret and secret.get_secret_value())

    @property
    def effective_oidc_redirect_uri(self) -> str:
        return self.oidc_redirect_uri or f"http://{self.host}:{self.streamlit_port}/oauth2callback"

    @property
    def embedded_redis(self) -> bool:
        """True when the project starts its own Redis-compatible server."""
        return self.redis_url is None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'leadrelay.db').resolve()}"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://{self.host}:{self.redis_port}/0"

    @property
    def effective_pb_base_url(self) -> str:
        if self.phantombuster_base_url:
            return self.phantombuster_base_url.rstrip("/")
        if self.sandbox_mode:
            return f"http://{self.host}:{self.sandbox_port}/api/v2"
        return "https://api.phantombuster.com/api/v2"

    @property
    def effective_pb_api_key(self) -> str:
        return SANDBOX_API_KEY if self.sandbox_mode else self.phantombuster_api_key.get_secret_value()  # type: ignore[union-attr]

    @property
    def effective_agent_id(self) -> str:
        return self.phantombuster_agent_id or SANDBOX_AGENT_ID

    @property
    def webhook_secrets(self) -> list[str]:
        """The secrets a webhook may carry: the current one, then the previous one during rotation."""
        secrets = [
            s.get_secret_value()
            for s in (self.phantombuster_webhook_secret, self.phantombuster_webhook_secret_previous)
            if s
        ]
        if not secrets and self.sandbox_mode:
            secrets = [DEV_WEBHOOK_SECRET]
        return [s for s in secrets if s]

    @property
    def webhook_url(self) -> str:
        """Where PhantomBuster posts completion webhooks, secret included; never log it."""
        return f"{self.public_base_url}{WEBHOOK_PATH}?secret={self.webhook_secrets[0]}"

    @property
    def effective_status_token(self) -> str | None:
        if self.status_api_token is not None:
            return self.status_api_token.get_secret_value() or None
        return DEV_STATUS_TOKEN if self.sandbox_mode else None

    def check_production(self) -> None:
        """Raise ConfigError when a real key is set but what production needs is missing."""
        if self.sandbox_mode:
            return
        if not self.phantombuster_agent_id:
            raise ConfigError("PHANTOMBUSTER_AGENT_ID must be set when PHANTOMBUSTER_API_KEY is set.")
        if not self.phantombuster_webhook_secret:
            raise ConfigError("PHANTOMBUSTER_WEBHOOK_SECRET must be set when PHANTOMBUSTER_API_KEY is set.")


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and `.env`); a bad value raises ConfigError naming the variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "settings"
            problems.append(
                f"{name}: {err['msg']} (got {err.get('input')!r})"
                if "SECRET" not in name and "KEY" not in name and "TOKEN" not in name
                else f"{name}: {err['msg']}"
            )
        raise ConfigError("Bad configuration: " + "; ".join(problems)) from None
    settings.check_production()
    return settings
