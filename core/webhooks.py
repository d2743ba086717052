"""PhantomBuster completion webhooks: secret check, payload validation and the inbox keyed by container id."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models import WebhookDelivery, utcnow

EXIT_MESSAGES = {"finished", "killed", "global timeout", "org timeout", "agent timeout", "unknown", "no log timeout"}


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
    """The fields of PhantomBuster's webhook we rely on, checked; the full body is kept as given."""

    container_id: str
    exit_code: int | None
    exit_message: str | None
    body: dict[str, Any]


def parse_payload(raw: bytes) -> WebhookPayload:
    """Validate an untrusted webhook body; raises InvalidInput with the reason."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.")
    container_id = body.get("containerId")
    if isinstance(container_id, bool) or not isinstance(container_id, str | int):
        raise InvalidInput("containerId is missing or is not a string.")
    container_id = str(container_id).strip()
    if not container_id or len(container_id) > 64 or not container_id.isascii() or not container_id.isalnum():
        raise InvalidInput("containerId must be 1 to 64 letters or digits.")
    exit_code = body.get("exitCode")
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise InvalidInput("exitCode must be an integer.")
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
    return WebhookPayload(container_id, exit_code, exit_message, body)


def record(session: Session, payload: WebhookPayload, now: datetime | None = None) -> bool:
    """Store a delivery in the inbox; True when it is the first for its container, False for a duplicate."""
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(WebhookDelivery)
        .values(container_id=payload.container_id, received_at=now, payload=payload.body, duplicates=0)
        .on_conflict_do_nothing(index_elements=["container_id"])
        .returning(WebhookDelivery.id)
    )
    if session.execute(stmt).first() is not None:
        return True
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.container_id == payload.container_id)
        .values(duplicates=WebhookDelivery.duplicates + 1)
        .execution_options(synchronize_session=False)
    )
    return False


def last_received_at(session: Session) -> datetime | None:
    """When the newest webhook arrived."""
    return session.scalar(select(WebhookDelivery.received_at).order_by(WebhookDelivery.id.desc()).limit(1))
