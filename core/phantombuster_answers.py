"""Typed PhantomBuster API v2 answers: containers, the agent, the org, resources, running containers, exit codes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FINAL_STATUSES = ("finished", "launch error")
PROFILE_SCRAPER_SCRIPT_ID = "5589386912058181"  # SKILL phantom-catalog (3112 is the Profile Visitor)
PROFILE_SCRAPER_SCRIPT = "LinkedIn Profile Scraper.js"
# Exit codes of a LinkedIn session that no longer works (store lib-StoreUtilities ERROR_CODES; SKILL Part 11):
# relaunching on the same identity does not help and risks the account.
SESSION_EXIT_CODES: dict[int, str] = {
    83: "LinkedIn refused the session cookie (exit 83): reconnect the LinkedIn account in PhantomBuster",
    84: "the LinkedIn session cookie is no longer valid (exit 84): reconnect the LinkedIn account in PhantomBuster",
    85: "LinkedIn blocked the account or asks for an e-mail PIN check (exit 85): sign in to LinkedIn by hand first",
    87: "PhantomBuster has no valid LinkedIn credentials for this agent (exit 87): reconnect the LinkedIn account",
}


def is_session_problem(exit_code: int | None) -> bool:
    """True for the exit codes that mean the LinkedIn session is dead (83, 84, 85, 87)."""
    return exit_code in SESSION_EXIT_CODES


def ms_time(value: Any) -> datetime | None:
    """PhantomBuster's epoch milliseconds as a UTC datetime."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Container:
    """One PhantomBuster container (a run of the agent) as `containers/fetch` reports it."""

    id: str
    status: str
    created_at: datetime | None = None
    launched_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    end_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    launch_type: str | None = None
    retry_number: int = 0

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "finished" and self.exit_code == 0 and self.end_type in (None, "finished")

    @property
    def session_problem(self) -> bool:
        """The run ended on a dead LinkedIn session (exit 83, 84, 85 or 87)."""
        return self.ended and is_session_problem(self.exit_code)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Container:
        meta = data.get("userCustomMetadata")
        return cls(
            id=str(data.get("id", "")),
            status=str(data.get("status", "unknown")),
            created_at=ms_time(data.get("createdAt")),
            launched_at=ms_time(data.get("launchedAt")),
            ended_at=ms_time(data.get("endedAt")),
            exit_code=_int(data.get("exitCode")),
            end_type=_str(data.get("endType")),
            metadata=meta if isinstance(meta, dict) else {},
            launch_type=_str(data.get("launchType")),
            retry_number=_int(data.get("retryNumber")) or 0,
        )


@dataclass(frozen=True, slots=True)
class Resources:
    """What `orgs/fetch-resources` says of the execution time used and allowed (units as PhantomBuster gives them)."""

    daily_execution_time: float | None
    monthly_execution_time: float | None
    plan_daily_execution_time: float | None
    plan_monthly_execution_time: float | None
    plan_name: str | None
    raw: dict[str, Any]

    @property
    def monthly_remaining(self) -> float | None:
        if self.plan_monthly_execution_time is None or self.monthly_execution_time is None:
            return None
        return max(0.0, self.plan_monthly_execution_time - self.monthly_execution_time)


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """The configured agent as `agents/fetch` reports it."""

    id: str
    name: str | None
    script_id: str | None
    script: str | None
    max_retry_number: int | None
    launch_type: str | None  # manually | repeatedly | once | after agent
    webhook_url: str | None
    max_parallelism: int | None
    argument: dict[str, Any] | None  # the saved argument, parsed; None when absent or not a JSON object
    argument_error: str | None  # why the saved argument could not be read, when it could not
    raw: dict[str, Any]

    @property
    def is_profile_scraper(self) -> bool:
        if self.script_id:
            return self.script_id == PROFILE_SCRAPER_SCRIPT_ID
        return self.script == PROFILE_SCRAPER_SCRIPT

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentInfo:
        raw_argument = data.get("argument")
        argument: dict[str, Any] | None = None
        error = None
        if isinstance(raw_argument, str) and raw_argument.strip():
            try:
                parsed = json.loads(raw_argument)
            except ValueError:
                error = "the saved argument is not valid JSON"
            else:
                if isinstance(parsed, dict):
                    argument = parsed
                else:
                    error = "the saved argument is not a JSON object"
        elif isinstance(raw_argument, dict):
            argument = raw_argument
        notifications = data.get("notifications") if isinstance(data.get("notifications"), dict) else {}
        webhook = _str(notifications.get("webhook"))
        return cls(
            id=str(data.get("id", "")),
            name=_str(data.get("name")),
            script_id=_str(data.get("scriptId")),
            script=_str(data.get("script")),
            max_retry_number=_int(data.get("maxRetryNumber")),
            launch_type=_str(data.get("launchType")),
            webhook_url=webhook or None,
            max_parallelism=_int(data.get("maxParallelism")),
            argument=argument,
            argument_error=error,
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class OrgInfo:
    """The workspace as `orgs/fetch` reports it; `timezone` is where working hours are counted."""

    id: str
    name: str | None
    timezone: str | None
    plan_name: str | None
    parallelism: int | None
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrgInfo:
        plan = data.get("plan") if isinstance(data.get("plan"), dict) else {}
        return cls(
            id=str(data.get("id", "")),
            name=_str(data.get("displayName")) or _str(data.get("name")),
            timezone=_str(data.get("timezone")) or None,
            plan_name=_str(plan.get("name")),
            parallelism=_int(plan.get("parallelism")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class RunningContainer:
    """One item of `orgs/fetch-running-containers`."""

    id: str
    agent_id: str
    created_at: datetime | None
    launch_type: str | None
    retry_number: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunningContainer:
        return cls(
            id=str(data.get("id", "")),
            agent_id=str(data.get("agentId", "")),
            created_at=ms_time(data.get("createdAt")),
            launch_type=_str(data.get("launchType")),
            retry_number=_int(data.get("retryNumber")) or 0,
        )
