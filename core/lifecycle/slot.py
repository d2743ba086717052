"""The PhantomBuster slot lease: one row, a fencing token bumped on every change, and an expiry (used by lifecycle)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import LeaseLost
from core.models import Slot, utcnow

SLOT_ID = 1


@dataclass(frozen=True, slots=True)
class Lease:
    """What a holder keeps after acquiring the slot: the token its writes are fenced with."""

    token: int
    run_id: int


def get(session: Session) -> Slot:
    """The slot row (created by the first migration)."""
    slot = session.get(Slot, SLOT_ID, populate_existing=True)
    if slot is None:  # a database created outside the migrations
        slot = Slot(id=SLOT_ID, token=0, paused=False, updated_at=utcnow(), idle_since=utcnow())
        session.add(slot)
        session.flush()
    return slot


def _token(session: Session) -> int:
    return int(session.scalar(select(Slot.token).where(Slot.id == SLOT_ID)) or 0)


def acquire(
    session: Session,
    *,
    holder: str,
    run_id: int,
    ttl: float,
    now: datetime | None = None,
    even_if_paused: bool = False,
) -> Lease | None:
    """Take the free slot for `run_id`; None when it is held, or paused or blocked (unless `even_if_paused`).

    `even_if_paused` is for adopting a container PhantomBuster already runs: a pause stops new launches, not runs.
    """
    now = now or utcnow()
    conditions = [Slot.id == SLOT_ID, Slot.run_id.is_(None)]
    if not even_if_paused:
        conditions += [Slot.paused.is_(False), (Slot.blocked_until.is_(None)) | (Slot.blocked_until <= now)]
    result = session.execute(
        update(Slot)
        .where(*conditions)
        .values(
            token=Slot.token + 1,
            holder=holder,
            run_id=run_id,
            expires_at=now + timedelta(seconds=ttl),
            blocked_until=None,
            blocked_reason=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return Lease(token=_token(session), run_id=run_id)


def take_over(session: Session, *, holder: str, token: int, ttl: float, now: datetime | None = None) -> Lease | None:
    """Take an expired lease from a holder presumed dead; None when it moved or has not expired."""
    now = now or utcnow()
    slot = get(session)
    if slot.token != token or slot.run_id is None or slot.expires_at is None or slot.expires_at > now:
        return None
    result = session.execute(
        update(Slot)
        .where(Slot.id == SLOT_ID, Slot.token == token)
        .values(token=Slot.token + 1, holder=holder, expires_at=now + timedelta(seconds=ttl), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return Lease(token=token + 1, run_id=slot.run_id)


def fence(session: Session, token: int, *, holder: str | None = None, expires_at: datetime | None = None) -> None:
    """Assert the lease is still `token` (raising LeaseLost otherwise), optionally renewing it."""
    values: dict[str, object] = {"updated_at": utcnow()}
    if holder is not None:
        values["holder"] = holder
    if expires_at is not None:
        values["expires_at"] = expires_at
    result = session.execute(
        update(Slot)
        .where(Slot.id == SLOT_ID, Slot.token == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LeaseLost("The PhantomBuster slot lease moved to another holder; this step was abandoned.")


def _free(session: Session, token: int | None, now: datetime, blocked_for: float | None, reason: str | None) -> int:
    """Empty the slot (under `token`, or whoever holds it when None); returns the rows changed."""
    stmt = update(Slot).where(Slot.id == SLOT_ID)
    if token is not None:
        stmt = stmt.where(Slot.token == token)
    stmt = stmt.values(
        token=Slot.token + 1,
        holder=None,
        run_id=None,
        expires_at=None,
        idle_since=now,
        updated_at=now,
        blocked_until=now + timedelta(seconds=blocked_for) if blocked_for else None,
        blocked_reason=reason if blocked_for else None,
    )
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount


def release(
    session: Session,
    token: int,
    *,
    now: datetime | None = None,
    blocked_for: float | None = None,
    blocked_reason: str | None = None,
) -> None:
    """Free the slot held under `token`, optionally blocking new launches for a while."""
    if _free(session, token, now or utcnow(), blocked_for, blocked_reason) != 1:
        raise LeaseLost("The PhantomBuster slot lease moved to another holder; this step was abandoned.")


def force_release(session: Session, *, now: datetime | None = None) -> int:
    """Free the slot whoever holds it (an admin action); returns the run id it held, if any."""
    run_id = get(session).run_id
    _free(session, None, now or utcnow(), None, None)
    return run_id or 0


def set_paused(session: Session, paused: bool, reason: str | None = None) -> None:
    """Pause or resume new launches (a run in flight finishes either way)."""
    session.execute(
        update(Slot)
        .where(Slot.id == SLOT_ID)
        .values(paused=paused, pause_reason=reason if paused else None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def block(session: Session, seconds: float, reason: str, *, now: datetime | None = None) -> None:
    """Hold new launches back for `seconds` with a reason the slot lane shows."""
    now = now or utcnow()
    session.execute(
        update(Slot)
        .where(Slot.id == SLOT_ID)
        .values(blocked_until=now + timedelta(seconds=seconds), blocked_reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
