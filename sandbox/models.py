"""The sandbox's data: agents, containers, run plans, API errors and request-body parsing."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from sandbox.clock import Handle

SCRIPT = "LinkedIn Profile Scraper.js"
# The store phantoms the sandbox knows by script name (SKILL phantom-catalog: 5589386912058181 is the Profile
# Scraper, 3112 the Profile Visitor); any other script name gets an id derived from the name.
SCRIPT_IDS = {SCRIPT: "5589386912058181", "LinkedIn Profile Visitor.js": "3112"}
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
STOP_FIELDS = frozenset({"id", "softAbort", "cascadeToAllSlaves", "dontLaunchSoon", "switchToManualLaunch"})
# agents/save body fields (OAS, additionalProperties false); the sandbox stores the ones it simulates.
SAVE_FIELDS = frozenset(
    {
        "id",
        "org",
        "script",
        "branch",
        "environment",
        "name",
        "executionTimeLimit",
        "fileMgmt",
        "fileMgmtMaxFolders",
        "maxParallelism",
        "maxRetryNumber",
        "launchType",
        "launchOnceAt",
        "launchAfterAgentId",
        "repeatedLaunchTimes",
        "notifications",
        "proxyType",
        "proxyAddress",
        "proxyUsername",
        "proxyPassword",
        "argument",
        "agentObject",
        "repeatedLaunchPreset",
        "applyScriptManifestDefaultSettings",
        "masterAgentLaunchAfter",
        "masterAgentLaunchOnExitCodes",
        "squidLeaseIdentifier",
        "wasSetupValidWhenSubmittedByTheFrontend",
        "shouldPropagateUpdatedSettingsToWorkersRegardlessOfSessionType",
        "expireAt",
        "idempotencyKey",
        "internalMetadata",
        "userCustomMetadata",
    }
)
NOTIFICATION_FIELDS = frozenset(
    {
        "mailAutomaticExitSuccess",
        "mailAutomaticExitError",
        "mailAutomaticLaunchError",
        "mailAutomaticTimeError",
        "mailManualExitSuccess",
        "mailManualExitError",
        "mailManualLaunchError",
        "mailManualTimeError",
        "slackWebHook",
        "slackAutomaticExitSuccess",
        "slackAutomaticExitError",
        "slackAutomaticLaunchError",
        "slackAutomaticTimeError",
        "slackManualExitSuccess",
        "slackManualExitError",
        "slackManualLaunchError",
        "slackManualTimeError",
        "webhook",
    }
)
AGENT_LAUNCH_TYPES = ("manually", "repeatedly", "once", "after agent")
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
    script: str = SCRIPT
    max_retry_number: int = 0
    launch_type: str = "manually"

    @property
    def script_id(self) -> str:
        """The store script id (the Profile Scraper's is 5589386912058181)."""
        known = SCRIPT_IDS.get(self.script)
        return known or str(int.from_bytes(self.script.encode()[:7].ljust(7, b"_"), "big") % 10**16)


@dataclass(slots=True)
class Plan:
    """How a container will end, drawn from the fault knobs at launch."""

    launch_error: bool
    end_type: str
    exit_code: int
    result: str  # full | partial | empty | null
    start_delay: float
    run_seconds: float
    early_stop: float | None = None  # share of the URLs tried before an early stop (exit 0), drawn at launch
    result_files: bool = False  # answer {csvUrl, jsonUrl} instead of the rows


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
    retry_number: int = 0
    storage_base: str = "http://127.0.0.1"
    csv_name: str = "result"
    input_ready: bool = False  # the input (sheet or profile URL) was read and the session checked
    finish_now: bool = False  # /__sandbox/finish asked for the end while the input was still downloading
    scraped: bool = False


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


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ApiError(400, message, "invalidParameters")


def _unknown_fields(body: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(body) - known)
    _check(not unknown, f"Unknown parameter(s): {', '.join(unknown)}.")


def _number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def parse_save(body: Any) -> dict[str, Any]:
    """Validate an `agents/save` body (additionalProperties false, like the OAS says); returns it."""
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.", "invalidBody")
    _unknown_fields(body, SAVE_FIELDS)
    agent_id, name, parallelism = body.get("id"), body.get("name"), body.get("maxParallelism")
    _check(agent_id is None or isinstance(agent_id, str), "id must be a string.")
    _check(name is None or (isinstance(name, str) and len(name) <= 100), "name must be a string of at most 100.")
    _check(body.get("script") is None or isinstance(body["script"], str), "script must be a string.")
    _check(
        parallelism is None or (_number_or_null(parallelism) and parallelism >= 1),
        "maxParallelism must be a positive number or null.",
    )
    retries = body.get("maxRetryNumber")
    _check(retries is None or (_number_or_null(retries) and retries >= 0), "maxRetryNumber must be 0 or more.")
    _check(
        "launchType" not in body or body["launchType"] in AGENT_LAUNCH_TYPES,
        f"launchType must be one of {', '.join(AGENT_LAUNCH_TYPES)}.",
    )
    notifications = body.get("notifications")
    _check(notifications is None or isinstance(notifications, dict), "notifications must be an object.")
    if isinstance(notifications, dict):
        _unknown_fields(notifications, NOTIFICATION_FIELDS)
    webhook = (notifications or {}).get("webhook")
    _check(
        webhook is None or (isinstance(webhook, str) and len(webhook) <= 2000),
        "notifications.webhook must be a string of at most 2000 characters.",
    )
    if body.get("argument") is not None:
        parse_argument("argument", body["argument"])
    return body


def parse_stop(body: Any) -> str:
    """Validate an `agents/stop` body (additionalProperties false); returns the agent id."""
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.", "invalidBody")
    _unknown_fields(body, STOP_FIELDS)
    _check(isinstance(body.get("id"), str) and bool(body["id"]), "id must be a non-empty string.")
    return str(body["id"])


def draw_plan(rng: random.Random, f: dict[str, Any]) -> Plan:
    """Draw a container's outcome from the fault knobs (always the same draws, so a seed reproduces runs)."""
    draws = [rng.random() for _ in range(5)]
    lo, hi = f["run_seconds"]
    run = rng.uniform(lo, hi)
    stop_draw, share_draw, files_draw = rng.random(), rng.random(), rng.random()
    exit_code, edge = 0, 0.0
    for code, rate in sorted(f["exit_codes"].items(), key=lambda kv: int(kv[0])):
        edge += rate
        if draws[2] < edge:
            exit_code = int(code)
            break
    plan = Plan(draws[0] < f["launch_error_rate"], "finished", 0, "full", f["start_delay_seconds"], run)
    plan.result_files = files_draw < f["result_files_rate"]
    if plan.launch_error:
        plan.end_type, plan.exit_code, plan.result = "unknown", 1, "null"
    elif draws[1] < f["agent_timeout_rate"]:
        plan.end_type, plan.exit_code, plan.result = "agent timeout", 1, "partial"
    elif files_draw < f["execution_time_end_rate"]:
        # The workspace ran out of execution time mid-run: PhantomBuster ends every container with a global timeout.
        plan.end_type, plan.exit_code, plan.result = "global timeout", 1, "partial"
    elif exit_code:
        plan.exit_code, plan.result = exit_code, "null"
    elif draws[3] < f["empty_result_rate"]:
        plan.result = "empty"
    elif draws[4] < f["null_result_rate"]:
        plan.result = "null"
    elif stop_draw < f["early_stop_rate"]:
        plan.early_stop = share_draw
    return plan
