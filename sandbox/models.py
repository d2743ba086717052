"""The sandbox's data: agents, containers, run plans, API errors and request-body parsing."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from sandbox.clock import Handle
from sandbox.profiles import is_profile_url

SCRIPT = "LinkedIn Profile Scraper.js"
ACTIVE = ("starting", "running")
PARALLELISM_MESSAGE = "Agent reached its maximum parallel executions limit"
LAUNCH_FIELDS = frozenset(
    {
        "id",
        "argument",
        "arguments",
        "bonusArgument",
        "saveArgument",
        "saveArguments",
        "manualLaunch",
        "maxInstanceCount",
        "internalMetadata",
        "userCustomMetadata",
    }
)
MAX_ARGUMENT_CHARS = 1_000_000
MAX_CONTAINERS = 20_000


class ApiError(Exception):
    """An API answer other than 2xx, in PhantomBuster's error shape."""

    def __init__(self, status: int, message: str, slug: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.slug, self.retry_after = status, message, slug, retry_after

    def body(self) -> dict[str, Any]:
        """The JSON body: `{"error": ..., "details": {"detailedErrorSlug": ...}}`."""
        return {"error": self.message, "details": {"detailedErrorSlug": self.slug} if self.slug else {}}


@dataclass(slots=True)
class Agent:
    """One agent (a configured phantom) of the sandbox org."""

    id: str
    name: str
    argument: dict[str, Any]
    created_at: float
    updated_at: float
    max_parallelism: int | None = None
    notifications: dict[str, Any] = field(default_factory=dict)
    nb_launches: int = 0
    last_end_type: str | None = None
    last_ended_at: float | None = None
    last_exit_code: int | None = None


@dataclass(slots=True)
class Plan:
    """How a container will end, drawn from the fault knobs at launch."""

    launch_error: bool
    end_type: str
    exit_code: int
    result: str  # full | partial | empty | null
    start_delay: float
    run_seconds: float


@dataclass(slots=True)
class Container:
    """One run of an agent."""

    id: str
    seq: int
    agent_id: str
    created_at: float
    launch_type: str
    argument: dict[str, Any]
    profile_urls: list[str]
    user_custom_metadata: dict[str, Any] | None
    internal_metadata: dict[str, Any] | None
    plan: Plan
    rng: random.Random
    record: dict[str, Any]
    status: str = "starting"
    launched_at: float | None = None
    ended_at: float | None = None
    end_type: str | None = None
    exit_code: int | None = None
    result_object: str | None = None
    early_result: str | None = None
    result_fixed: bool = False
    output: list[str] = field(default_factory=list)
    webhook_sent: bool = False
    timers: list[Handle] = field(default_factory=list)


def ms(t: float | None) -> int | None:
    """Epoch seconds to PhantomBuster's epoch milliseconds."""
    return None if t is None else round(t * 1000)


def parse_argument(name: str, value: Any) -> dict[str, Any] | None:
    """A launch argument given as a JSON string or an object, as a dict (None when absent)."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > MAX_ARGUMENT_CHARS:
            raise _too_big("argumentTooBig")
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise ApiError(400, f"{name} is not valid JSON.", "invalidArgument") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"{name} must be a JSON object or a string holding one.", "invalidArgument")
    return value


def parse_metadata(name: str, value: Any) -> dict[str, Any] | None:
    """Container tags: an object of at most 100 keys, or None."""
    if value is not None and (not isinstance(value, dict) or len(value) > 100):
        raise ApiError(400, f"{name} must be an object of at most 100 keys, or null.", "invalidParameters")
    return value


def profile_urls(argument: dict[str, Any]) -> list[str]:
    """The profiles a launch scrapes: `profileUrls`, else `spreadsheetUrl` when it is one profile URL."""
    urls = argument.get("profileUrls")
    if isinstance(urls, str):
        urls = [u for u in urls.splitlines() if u.strip()]
    if isinstance(urls, list):
        found = [u for u in urls if isinstance(u, str)]
    elif is_profile_url(argument.get("spreadsheetUrl")):
        found = [argument["spreadsheetUrl"]]
    else:
        found = []
    cap = argument.get("numberOfAddsPerLaunch", argument.get("numberOfLinesPerLaunch"))
    if isinstance(cap, int) and not isinstance(cap, bool) and cap >= 1:
        found = found[:cap]
    return found


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """A validated `agents/launch` body."""

    agent_id: str
    argument: dict[str, Any] | None
    bonus: dict[str, Any]
    save: bool
    launch_type: str
    max_instance_count: float | None
    user_metadata: dict[str, Any] | None
    internal_metadata: dict[str, Any] | None


def _too_big(slug: str) -> ApiError:
    return ApiError(400, "A provided parameter is duplicated or the launch argument is too big.", slug)


def parse_launch(body: Any) -> LaunchRequest:
    """Validate an `agents/launch` body (additionalProperties false); raises ApiError 400."""
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.", "invalidBody")
    unknown = sorted(set(body) - LAUNCH_FIELDS)
    if unknown:
        raise ApiError(400, f"Unknown parameter(s): {', '.join(unknown)}.", "invalidParameters")
    if ("argument" in body and "arguments" in body) or ("saveArgument" in body and "saveArguments" in body):
        raise _too_big("duplicatedParameter")
    if not isinstance(body.get("id"), str) or not body["id"]:
        raise ApiError(400, "id must be a non-empty string.", "invalidParameters")
    save = body.get("saveArgument", body.get("saveArguments", False))
    manual = body.get("manualLaunch", False)
    cap = body.get("maxInstanceCount")
    if not isinstance(save, bool) or not isinstance(manual, bool):
        raise ApiError(400, "saveArgument and manualLaunch must be booleans.", "invalidParameters")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int | float) or cap < 1):
        raise ApiError(400, "maxInstanceCount must be a number of at least 1.", "invalidParameters")
    return LaunchRequest(
        body["id"],
        parse_argument("argument", body.get("argument", body.get("arguments"))),
        parse_argument("bonusArgument", body.get("bonusArgument")) or {},
        save,
        "manual" if manual else "user api call",
        cap,
        parse_metadata("userCustomMetadata", body.get("userCustomMetadata")),
        parse_metadata("internalMetadata", body.get("internalMetadata")),
    )


def merge_argument(saved: dict[str, Any], request: LaunchRequest) -> dict[str, Any]:
    """The launch's argument: the given one (else the saved one) with bonusArgument merged over it."""
    merged = dict(request.argument if request.argument is not None else saved)
    merged.update(request.bonus)
    if len(json.dumps(merged)) > MAX_ARGUMENT_CHARS:
        raise _too_big("argumentTooBig")
    return merged


def parse_save(body: Any) -> dict[str, Any]:
    """Validate an `agents/save` body; returns it (unknown fields are ignored, not stored)."""
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.", "invalidBody")
    agent_id, name, parallelism = body.get("id"), body.get("name"), body.get("maxParallelism")
    if agent_id is not None and (isinstance(agent_id, bool) or not isinstance(agent_id, str | int)):
        raise ApiError(400, "id must be a string.", "invalidParameters")
    if name is not None and not isinstance(name, str):
        raise ApiError(400, "name must be a string.", "invalidParameters")
    if parallelism is not None and (
        isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1
    ):
        raise ApiError(400, "maxParallelism must be a positive integer or null.", "invalidParameters")
    notifications = body.get("notifications")
    if notifications is not None and not isinstance(notifications, dict):
        raise ApiError(400, "notifications must be an object.", "invalidParameters")
    webhook = (notifications or {}).get("webhook")
    if webhook is not None and (not isinstance(webhook, str) or len(webhook) > 2000):
        raise ApiError(400, "notifications.webhook must be a string of at most 2000 characters.", "invalidParameters")
    parse_argument("argument", body.get("argument"))
    return body


def draw_plan(rng: random.Random, f: dict[str, Any]) -> Plan:
    """Draw a container's outcome from the fault knobs (always the same draws, so a seed reproduces runs)."""
    draws = [rng.random() for _ in range(5)]
    lo, hi = f["run_seconds"]
    run = rng.uniform(lo, hi)
    exit_code, edge = 0, 0.0
    for code, rate in sorted(f["exit_codes"].items(), key=lambda kv: int(kv[0])):
        edge += rate
        if draws[2] < edge:
            exit_code = int(code)
            break
    plan = Plan(draws[0] < f["launch_error_rate"], "finished", 0, "full", f["start_delay_seconds"], run)
    if plan.launch_error:
        plan.end_type, plan.exit_code, plan.result = "unknown", 1, "null"
    elif draws[1] < f["agent_timeout_rate"]:
        plan.end_type, plan.exit_code, plan.result = "agent timeout", 1, "partial"
    elif exit_code:
        plan.exit_code, plan.result = exit_code, "null"
    elif draws[3] < f["empty_result_rate"]:
        plan.result = "empty"
    elif draws[4] < f["null_result_rate"]:
        plan.result = "null"
    return plan
