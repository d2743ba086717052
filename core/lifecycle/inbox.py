"""The webhook inbox: every distinct body received for a container, kept until PhantomBuster confirms the run's end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.models import Run, WebhookDelivery
from core.phantombuster import Container

# A container gets one genuine webhook (or a few retries of it); past this many distinct bodies the rest only count.
MAX_BODIES_PER_CONTAINER = 20


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a delivery did: stored as a new body, and whether the worker should be rung."""

    new_body: bool
    ring: bool


def record(
    session: Session,
    container_id: str,
    body_hash: str,
    payload: dict[str, Any],
    now: datetime,
) -> Recorded:
    """Store a delivery: a body seen before for this container only counts as a duplicate."""
    bodies = session.scalar(select(func.count()).where(WebhookDelivery.container_id == container_id)) or 0
    if bodies < MAX_BODIES_PER_CONTAINER:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(WebhookDelivery)
            .values(container_id=container_id, body_hash=body_hash, received_at=now, payload=payload, duplicates=0)
            .on_conflict_do_nothing(index_elements=["container_id", "body_hash"])
            .returning(WebhookDelivery.id)
        )
        if session.execute(stmt).first() is not None:
            return Recorded(new_body=True, ring=True)
        target = (WebhookDelivery.container_id == container_id) & (WebhookDelivery.body_hash == body_hash)
    else:
        newest = select(func.max(WebhookDelivery.id)).where(WebhookDelivery.container_id == container_id)
        target = WebhookDelivery.id == newest.scalar_subquery()
    session.execute(
        update(WebhookDelivery)
        .where(target)
        .values(duplicates=WebhookDelivery.duplicates + 1)
        .execution_options(synchronize_session=False)
    )
    return Recorded(new_body=False, ring=False)


def has_delivery(session: Session, container_id: str) -> bool:
    """True when a webhook has arrived for the container."""
    return (
        session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.container_id == container_id).limit(1))
        is not None
    )


def _agrees(payload: dict[str, Any], container: Container) -> bool:
    """Whether a webhook body tells the same end as containers/fetch (fields it does not carry don't disagree)."""
    code, message = payload.get("exitCode"), payload.get("exitMessage")
    if code is not None and container.exit_code is not None and code != container.exit_code:
        return False
    return not (message is not None and container.end_type is not None and message != container.end_type)


def settle(session: Session, container: Container, now: datetime) -> WebhookDelivery | None:
    """The run's end is confirmed: keep the delivery that agrees with it, mark every one of the container processed."""
    rows = list(
        session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.container_id == container.id).order_by(WebhookDelivery.id)
        )
    )
    kept = next((row for row in rows if _agrees(row.payload or {}, container)), None)
    for row in rows:
        if row.processed_at is None:
            row.processed_at = now
            row.outcome = "confirmed" if row is kept else "disagreed"
    return kept


def unmatched(session: Session, *, limit: int = 200) -> list[tuple[str, datetime]]:
    """Unprocessed deliveries whose container no run holds (yet): (container id, first received), oldest first."""
    held = select(Run.id).where(Run.container_id == WebhookDelivery.container_id).exists()
    stmt = (
        select(WebhookDelivery.container_id, func.min(WebhookDelivery.received_at))
        .where(WebhookDelivery.processed_at.is_(None), ~held)
        .group_by(WebhookDelivery.container_id)
        .order_by(func.min(WebhookDelivery.received_at))
        .limit(limit)
    )
    return [(cid, at) for cid, at in session.execute(stmt)]


def settle_late(session: Session, container_id: str, now: datetime) -> None:
    """Deliveries for a run that had already ended (its end was confirmed by polling first)."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.container_id == container_id, WebhookDelivery.processed_at.is_(None))
        .values(processed_at=now, outcome="late")
        .execution_options(synchronize_session=False)
    )


def set_aside(session: Session, container_id: str, now: datetime) -> None:
    """Give up on deliveries for a container no run ever held (forged, or another system's agent)."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.container_id == container_id, WebhookDelivery.processed_at.is_(None))
        .values(processed_at=now, outcome="set_aside")
        .execution_options(synchronize_session=False)
    )


def forget(session: Session, container_ids: Sequence[str]) -> int:
    """Delete the deliveries of containers whose runs retention removed; returns how many rows went."""
    if not container_ids:
        return 0
    return session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.container_id.in_(list(container_ids)))
    ).rowcount


def last_received_at(session: Session) -> datetime | None:
    """When the newest webhook arrived."""
    return session.scalar(select(WebhookDelivery.received_at).order_by(WebhookDelivery.id.desc()).limit(1))
