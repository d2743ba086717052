"""User administration (admin-only, audited) and the mapping of single sign-on identities to local users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core import audit, auth
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.models import ACTIVE_JOB_STATUSES, AuthSession, Job, Role, User, utcnow


def _require_admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise PermissionDenied("Only an admin can manage users.")


@dataclass(frozen=True, slots=True)
class UserRow:
    """One line of the Admin page's user list."""

    id: int
    name: str
    role: str
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    sso_only: bool
    active_jobs: int


def list_users(session: Session, actor: User, limit: int = 500) -> list[UserRow]:
    """Every user by name, with how many active jobs each has (admins only)."""
    _require_admin(actor)
    active = dict(
        session.execute(
            select(Job.owner_id, func.count()).where(Job.status.in_(ACTIVE_JOB_STATUSES)).group_by(Job.owner_id)
        ).all()
    )
    rows = session.scalars(select(User).order_by(User.name).limit(limit))
    return [
        UserRow(
            id=u.id,
            name=u.name,
            role=u.role,
            disabled=u.disabled,
            locked_until=u.locked_until,
            last_login_at=u.last_login_at,
            sso_only=u.password_hash is None,
            active_jobs=int(active.get(u.id, 0)),
        )
        for u in rows
    ]


def names(session: Session, limit: int = 500) -> dict[int, str]:
    """User ids and names, for filters."""
    return dict(session.execute(select(User.id, User.name).order_by(User.name).limit(limit)).all())


def create(session: Session, actor: User, name: str, password: str | None, role: str) -> User:
    """Create a local account (a blank password makes a single-sign-on-only account)."""
    _require_admin(actor)
    user = auth.create_user(session, name, password or None, role)
    audit.record(session, "admin", "user_created", by=actor.name, user=user.name, role=user.role)
    return user


def _target(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User #{user_id} does not exist.")
    return user


def set_disabled(session: Session, actor: User, user_id: int, disabled: bool) -> User:
    """Disable (and sign out everywhere) or enable a user; an admin cannot disable themself."""
    _require_admin(actor)
    user = _target(session, user_id)
    if user.id == actor.id and disabled:
        raise InvalidInput("You cannot disable your own account.")
    user.disabled = disabled
    if disabled:
        session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    else:
        user.failed_logins, user.locked_until = 0, None
    audit.record(session, "admin", "user_disabled" if disabled else "user_enabled", by=actor.name, user=user.name)
    return user


def set_role(session: Session, actor: User, user_id: int, role: str) -> User:
    """Change a user's role; an admin cannot demote themself (so one admin always remains)."""
    _require_admin(actor)
    if role not in (Role.ANALYST, Role.ADMIN):
        raise InvalidInput("The role must be analyst or admin.")
    user = _target(session, user_id)
    if user.id == actor.id and role != Role.ADMIN:
        raise InvalidInput("You cannot remove your own admin role; ask another admin.")
    previous, user.role = user.role, role
    audit.record(session, "admin", "user_role_changed", by=actor.name, user=user.name, old=previous, new=role)
    return user


def active_user(session: Session, user_id: int) -> User | None:
    """The user by id unless disabled (a primary-key read)."""
    user = session.get(User, user_id)
    return user if user is not None and not user.disabled else None


def sso_user(session: Session, email: str | None, name: str | None) -> User:
    """The local user of a single-sign-on identity (by email, then name), created as an analyst the first time."""
    candidates = [c.strip() for c in (email, name) if c and c.strip()]
    if not candidates:
        raise InvalidInput("The identity provider sent neither an email nor a name.")
    for candidate in candidates:
        user = session.scalar(select(User).where(User.name_key == auth.name_key(candidate)))
        if user is not None:
            if user.disabled:
                raise PermissionDenied("This account is disabled. Ask an admin to enable it.")
            user.last_login_at = utcnow()
            return user
    user = auth.create_user(session, re.sub(r"\s+", " ", candidates[0])[:120], None, Role.ANALYST)
    user.last_login_at = utcnow()
    audit.record(session, "system", "user_created", by="single sign-on", user=user.name, role=user.role)
    return user
