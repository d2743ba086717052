"""The sandbox fault knobs: defaults, validation and merging of a JSON object into the current config."""

from __future__ import annotations

import copy
import random
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Validator = Callable[[str, Any], Any]


class FaultError(ValueError):
    """A fault knob that is unknown or has a bad value."""


def _number(name: str, value: Any, lo: float = 0.0, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} must be a number")
    if value < lo or (hi is not None and value > hi):
        raise FaultError(f"{name} must be between {lo} and {hi if hi is not None else 'infinity'}")
    return float(value)


def _seconds(name: str, value: Any) -> float:
    return _number(name, value)


def _rate(name: str, value: Any) -> float:
    return _number(name, value, 0.0, 1.0)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultError(f"{name} must be a non-negative integer")
    return value


def _optional(inner: Validator) -> Validator:
    def check(name: str, value: Any) -> Any:
        return None if value is None else inner(name, value)

    return check


def _positive_int(name: str, value: Any) -> int:
    if _count(name, value) < 1:
        raise FaultError(f"{name} must be at least 1")
    return value


def _span(name: str, value: Any) -> list[float]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = [value, value]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise FaultError(f"{name} must be [min, max] seconds")
    lo, hi = _seconds(name, value[0]), _seconds(name, value[1])
    if lo > hi:
        raise FaultError(f"{name}: min is above max")
    return [lo, hi]


def _exit_codes(name: str, value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise FaultError(f"{name} must be an object mapping exit codes to probabilities")
    out: dict[str, float] = {}
    for code, rate in value.items():
        try:
            number = int(str(code))
        except ValueError:
            raise FaultError(f"{name}: {code!r} is not an integer exit code") from None
        if number == 0:
            raise FaultError(f"{name}: exit code 0 is the normal outcome, not a fault")
        out[str(number)] = _rate(f"{name}[{code}]", rate)
    if sum(out.values()) > 1.0 + 1e-9:
        raise FaultError(f"{name}: probabilities add up to more than 1")
    return out


def normalize_endpoint(path: str) -> str:
    """`/api/v2/agents/launch`, `/agents/launch` and `agents/launch` all become `agents/launch`."""
    path = path.strip().strip("/")
    return path.removeprefix("api/v2/").strip("/")


def _endpoints(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FaultError(f'{name} must be a list of endpoint paths such as "agents/launch"')
    return [normalize_endpoint(v) for v in value]


def _mode(name: str, value: Any) -> str:
    if value not in ("before", "after"):
        raise FaultError(f'{name} must be "before" or "after"')
    return str(value)


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FaultError(f"{name} must be true or false")
    return value


def _seed(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultError(f"{name} must be an integer")
    return value


def _choice(*options: str) -> Validator:
    def check(name: str, value: Any) -> str:
        if value not in options:
            raise FaultError(f"{name} must be one of: {', '.join(options)}")
        return str(value)

    return check


def _timezone(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise FaultError(f"{name} must be an IANA time zone name such as Europe/Oslo")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise FaultError(f"{name}: {value!r} is not a known IANA time zone") from None
    return value


# name -> (default, validator); the order is the order shown by GET /__sandbox/faults.
KNOBS: dict[str, tuple[Any, Validator]] = {
    "seed": (None, _optional(_seed)),
    "run_seconds": ([2.0, 5.0], _span),
    "start_delay_seconds": (0.05, _seconds),
    "max_parallelism": (None, _optional(_positive_int)),
    "retry_after_seconds": (None, _optional(_seconds)),
    "exit_codes": ({}, _exit_codes),
    "launch_error_rate": (0.0, _rate),
    "agent_timeout_rate": (0.0, _rate),
    "execution_time_end_rate": (0.0, _rate),
    "empty_result_rate": (0.0, _rate),
    "null_result_rate": (0.0, _rate),
    "webhook_drop_rate": (0.0, _rate),
    "webhook_duplicates": (1, _positive_int),
    "webhook_delay_seconds": (0.0, _seconds),
    "webhook_early_seconds": (0.0, _seconds),
    "webhook_timeout_seconds": (10.0, _seconds),
    "webhook_retries": (0, _count),
    "webhook_retry_delay_seconds": (1.0, _seconds),
    "webhook_on_launch_error": (True, _bool),
    "burst_429": (0, _count),
    "burst_429_endpoints": ([], _endpoints),
    "burst_429_retry_after_seconds": (None, _optional(_seconds)),
    "error_500_count": (0, _count),
    "error_500_rate": (0.0, _rate),
    "error_500_endpoints": ([], _endpoints),
    "error_500_mode": ("before", _mode),
    "hang_seconds": (0.0, _seconds),
    "hang_endpoints": ([], _endpoints),
    "hang_count": (None, _optional(_count)),
    "hang_mode": ("after", _mode),
    # -- the Profile Scraper (defaults: what PhantomBuster documents; rates 0) ----------------------------
    "org_timezone": ("UTC", _timezone),
    "sheet_timeout_seconds": (10.0, _seconds),
    "sheet_max_bytes": (5_000_000, _positive_int),
    "default_adds_per_launch": (100, _positive_int),
    "skip_processed": (True, _bool),
    "require_credentials": (True, _bool),
    "profile_markers": (True, _bool),
    "missing_profile_rate": (0.0, _rate),
    "private_profile_rate": (0.0, _rate),
    "transient_error_rate": (0.0, _rate),
    "rate_limited_rate": (0.0, _rate),
    "counts_as_strings": (True, _bool),
    "row_keys": ("current", _choice("current", "legacy")),
    "early_stop_rate": (0.0, _rate),
    "early_stop_after": (None, _optional(_count)),
    "early_stop_reason": ("time", _choice("time", "disconnected")),
    "result_object_scope": ("file", _choice("file", "launch")),
    "result_object_max_chars": (1_000_000, _optional(_positive_int)),
    "result_files_rate": (0.0, _rate),
    "result_files_csv_key": ("csvUrl", _choice("csvUrl", "csvURL")),
    "retry_delay_seconds": (1.0, _seconds),
    "unknown_status_count": (0, _count),
}


def defaults() -> dict[str, Any]:
    """A fresh copy of every knob at its default value."""
    return {name: copy.deepcopy(default) for name, (default, _) in KNOBS.items()}


def merge(current: dict[str, Any], changes: Any) -> dict[str, Any]:
    """Validate `changes` and return `current` updated with them; raises FaultError without changing anything."""
    if not isinstance(changes, dict):
        raise FaultError("faults must be a JSON object")
    unknown = sorted(set(changes) - set(KNOBS))
    if unknown:
        raise FaultError(f"unknown fault knob(s): {', '.join(unknown)}; known: {', '.join(KNOBS)}")
    merged = copy.deepcopy(current)
    for name, value in changes.items():
        merged[name] = KNOBS[name][1](name, value)
    return merged


def matches(endpoints: list[str], endpoint: str) -> bool:
    """True when the knob's endpoint list is empty (every endpoint) or names this endpoint."""
    return not endpoints or endpoint in endpoints


@dataclass(frozen=True, slots=True)
class CallFaults:
    """What the fault knobs do to one API call."""

    hang_before: float = 0.0
    hang_after: float = 0.0
    rate_limited: bool = False
    retry_after: float | None = None
    error_500: str | None = None  # "before" (not processed) or "after" (processed, then 500)


def take_call_faults(f: dict[str, Any], endpoint: str, rng: random.Random) -> CallFaults:
    """Decide the faults for one call to `endpoint`, counting down `f`'s burst counters in place."""
    hang = 0.0
    if f["hang_seconds"] > 0 and matches(f["hang_endpoints"], endpoint) and f["hang_count"] != 0:
        hang = f["hang_seconds"]
        if f["hang_count"] is not None:
            f["hang_count"] -= 1
    before, after = (hang, 0.0) if f["hang_mode"] == "before" else (0.0, hang)
    if f["burst_429"] > 0 and matches(f["burst_429_endpoints"], endpoint):
        f["burst_429"] -= 1
        retry_after = f["burst_429_retry_after_seconds"]
        retry_after = f["retry_after_seconds"] if retry_after is None else retry_after
        return CallFaults(before, after, rate_limited=True, retry_after=retry_after)
    error = None
    if matches(f["error_500_endpoints"], endpoint):
        if f["error_500_count"] > 0:
            f["error_500_count"] -= 1
            error = f["error_500_mode"]
        elif f["error_500_rate"] > 0 and rng.random() < f["error_500_rate"]:
            error = f["error_500_mode"]
    return CallFaults(before, after, error_500=error)
