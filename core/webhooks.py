"""PhantomBuster completion webhooks: the secret, the untrusted body checked and cleaned, then kept in the inbox."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.lifecycle import inbox
from core.models import utcnow

# PhantomBuster's payload is flat (its resultObject is a JSON string); anything nested deeper than this is not one.
MAX_DEPTH = 32
# The rows themselves are fetched from PhantomBuster; what the inbox, the run and the audit log keep is a preview.
MAX_RESULT_CHARS = 20_000
MAX_TEXT_CHARS = 2_000


def secret_matches(given: str | None, secrets: list[str]) -> bool:
    """Compare the given secret with every accepted one in constant time."""
    if not given or not secrets:
        return False
    given_bytes = given.encode()
    matched = False
    for secret in secrets:
        # Compare against all of them so the timing does not tell which one matched.
        matched |= hmac.compare_digest(given_bytes, secret.encode())
    return matched


@dataclass(frozen=True, slots=True)
class WebhookPayload:
    """The fields of PhantomBuster's webhook we rely on, checked, and the body as the inbox keeps it."""

    container_id: str
    exit_code: int | None
    exit_message: str | None
    body: dict[str, Any]
    body_hash: str


def _depth(value: Any) -> int:
    """How deeply a parsed JSON value nests, measured without recursion (a hostile body may nest thousands deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _clean(value: Any) -> Any:
    """Text every database can store: NUL characters dropped (PostgreSQL refuses them), long strings cut."""
    if isinstance(value, str):
        text = value.replace("\x00", "")
        return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + f"... ({len(text)} characters)"
    if isinstance(value, dict):
        return {_clean(str(k))[:200]: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def result_preview(result: Any) -> str | None:
    """A resultObject of any kind (string, list, object) as at most MAX_RESULT_CHARS of text."""
    if result is None:
        return None
    text = result if isinstance(result, str) else orjson.dumps(result).decode()
    text = text.replace("\x00", "")
    if len(text) > MAX_RESULT_CHARS:
        return text[:MAX_RESULT_CHARS] + f"... ({len(text)} characters)"
    return text


def parse_payload(raw: bytes) -> WebhookPayload:
    """Validate an untrusted webhook body; raises InvalidInput with the reason (never anything else)."""
    try:
        # Strict JSON: NaN, Infinity and lone surrogates are refused here, as they are by PostgreSQL.
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.")
    if _depth(body) > MAX_DEPTH:
        raise InvalidInput(f"The body nests deeper than {MAX_DEPTH} levels; PhantomBuster's webhook is flat.")
    container_id = body.get("containerId")
    if isinstance(container_id, bool) or not isinstance(container_id, str | int):
        raise InvalidInput("containerId is missing or is not a string.")
    container_id = str(container_id).strip()
    if not container_id or len(container_id) > 64 or not container_id.isascii() or not container_id.isalnum():
        raise InvalidInput("containerId must be 1 to 64 letters or digits.")
    exit_code = body.get("exitCode")
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise InvalidInput("exitCode must be an integer.")
    if exit_code is not None and not -(2**31) <= exit_code < 2**31:
        raise InvalidInput("exitCode is out of range.")
    exit_message = body.get("exitMessage")
    if exit_message is not None and not isinstance(exit_message, str):
        raise InvalidInput("exitMessage must be a string.")
    for key in ("agentId", "agentName", "script", "scriptOrg", "branch"):
        if key in body and body[key] is not None and not isinstance(body[key], str | int):
            raise InvalidInput(f"{key} must be a string.")
    for key in ("launchDuration", "runDuration"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidInput(f"{key} must be a number.")
    result = body.get("resultObject")
    if result is not None and not isinstance(result, str | list | dict):
        raise InvalidInput("resultObject must be a JSON string.")
    kept = _clean({k: v for k, v in body.items() if k != "resultObject"})
    if "resultObject" in body:
        kept["resultObject"] = result_preview(result)
    return WebhookPayload(
        container_id=container_id,
        exit_code=exit_code,
        exit_message=_clean(exit_message) if exit_message is not None else None,
        body=kept,
        body_hash=hashlib.sha256(raw).hexdigest(),
    )


def receive(session: Session, payload: WebhookPayload, now: datetime | None = None) -> inbox.Recorded:
    """Keep a checked delivery in the inbox; `ring` says whether the worker should look at its container."""
    return inbox.record(session, payload.container_id, payload.body_hash, payload.body, now or utcnow())
