"""Local accounts: argon2id password hashes, roles, lockout after repeated failures, and sign-in sessions."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.errors import AuthError, InvalidInput
from core.models import AuthSession, Role, User, utcnow

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
_DUMMY_HASH = _hasher.hash("not-a-real-password")

FREE_ATTEMPTS = 3
LOCK_AFTER = 8
LOCK_MINUTES = 15
WRONG = "Wrong user name or password."
_TRACKED_NAMES = 10_000
_failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
_failures_lock = threading.Lock()


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def name_key(name: str) -> str:
    """The form a user name is compared in: trimmed and case-folded, so no two people differ by case alone."""
    return name.strip().casefold()[:120]


def create_user(session: Session, name: str, password: str | None, role: str = Role.ANALYST) -> User:
    """Add a local account; a missing password makes an account that can sign in through single sign-on only."""
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("A user name needs 1 to 120 characters.")
    if role not in (Role.ANALYST, Role.ADMIN):
        raise InvalidInput("The role must be analyst or admin.")
    if password is not None and len(password) < 8:
        raise InvalidInput("A password needs at least 8 characters.")
    if session.scalar(select(User.id).where(User.name_key == name_key(name))) is not None:
        raise InvalidInput(f"A user named {name!r} already exists.")
    user = User(
        name=name, name_key=name_key(name), password_hash=hash_password(password) if password else None, role=role
    )
    session.add(user)
    session.flush()
    return user


def authenticate(
    session: Session, name: str, password: str, *, now: datetime | None = None, sleep: bool = True
) -> User:
    """The user when the password is right; AuthError (the same for an unknown user or a wrong password) otherwise."""
    # With sleep=False the caller waits failure_delay(name) itself, outside its transaction.
    now = now or utcnow()
    try:
        return _check(session, name, password, now)
    except AuthError:
        if sleep:
            time.sleep(failure_delay(name))
        raise


def _check(session: Session, name: str, password: str, now: datetime) -> User:
    user = session.scalar(select(User).where(User.name_key == name_key(name)))
    if user is None or user.password_hash is None:
        # Verify against a dummy hash so an unknown user takes as long as a wrong password.
        _verify(_DUMMY_HASH, password)
        raise AuthError(WRONG)
    if user.locked_until is not None and user.locked_until > now:
        _verify(_DUMMY_HASH, password)
        raise AuthError(WRONG)
    if user.disabled or not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
        raise AuthError(WRONG)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    with _failures_lock:
        _failures.pop(name.strip().lower(), None)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def failure_delay(name: str) -> float:
    """Count a failed sign-in for `name` (known or not) and return how many seconds to wait before answering."""
    # The first FREE_ATTEMPTS failures answer at once, each later one waits a second longer (up to 5 s). The count
    # is kept per name in memory whether the user exists or not, so an unknown name is slowed like a real one.
    key = name.strip().lower()
    clock = time.monotonic()
    with _failures_lock:
        count, last = _failures.pop(key, (0, clock))
        if clock - last > LOCK_MINUTES * 60:
            count = 0
        count += 1
        _failures[key] = (count, clock)
        while len(_failures) > _TRACKED_NAMES:
            _failures.popitem(last=False)
    return min(5.0, float(max(0, count - FREE_ATTEMPTS)))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, ttl_hours: float, now: datetime | None = None) -> str:
    """A new sign-in token for `user` (only its hash is stored)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        AuthSession(
            token_hash=_digest(token), user_id=user.id, created_at=now, expires_at=now + timedelta(hours=ttl_hours)
        )
    )
    return token


def user_for_token(session: Session, token: str | None, now: datetime | None = None) -> User | None:
    """The signed-in user for a token, or None when it is unknown, expired or the user is disabled."""
    if not token:
        return None
    now = now or utcnow()
    row = session.get(AuthSession, _digest(token))
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and not user.disabled else None


def end_session(session: Session, token: str | None) -> None:
    """Sign out: forget the token."""
    if token:
        session.execute(delete(AuthSession).where(AuthSession.token_hash == _digest(token)))


def user_by_name(session: Session, name: str) -> User | None:
    """A user by name."""
    return session.scalar(select(User).where(User.name_key == name_key(name)))
