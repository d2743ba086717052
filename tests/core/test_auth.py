"""Local accounts: argon2id, identical errors for unknown user and wrong password, lockout, sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import auth
from core.errors import AuthError, InvalidInput
from core.models import utcnow


def test_sign_in_and_sessions(db):
    with db.write() as s:
        user = auth.create_user(s, "ana", "correct horse", "analyst")
        assert user.password_hash.startswith("$argon2id$")
        assert auth.authenticate(s, "ana", "correct horse").id == user.id
        token = auth.start_session(s, user, ttl_hours=1)
    with db.write() as s:
        assert auth.user_for_token(s, token).name == "ana"
        assert auth.user_for_token(s, token, now=utcnow() + timedelta(hours=2)) is None
        auth.end_session(s, token)
    with db.read() as s:
        assert auth.user_for_token(s, token) is None


def test_unknown_user_and_wrong_password_look_the_same(db):
    with db.write() as s:
        auth.create_user(s, "ana", "correct horse", "analyst")
    messages = []
    for name in ("ana", "nobody"):
        with pytest.raises(AuthError) as err, db.write() as s:
            auth.authenticate(s, name, "wrong", sleep=False)
        messages.append(err.value.message)
    assert messages[0] == messages[1]


def test_lockout_after_repeated_failures(db):
    with db.write() as s:
        auth.create_user(s, "ana", "correct horse", "analyst")
    for _ in range(auth.LOCK_AFTER):
        # The edge catches the error inside the transaction so the failure count is committed.
        with db.write() as s, pytest.raises(AuthError):
            auth.authenticate(s, "ana", "wrong", sleep=False)
    with db.write() as s, pytest.raises(AuthError):
        auth.authenticate(s, "ana", "correct horse", sleep=False)
    with db.write() as s:
        later = utcnow() + timedelta(minutes=auth.LOCK_MINUTES + 1)
        assert auth.authenticate(s, "ana", "correct horse", now=later, sleep=False).name == "ana"


def test_user_validation(db):
    with db.write() as s:
        with pytest.raises(InvalidInput):
            auth.create_user(s, "x", "short", "analyst")
        with pytest.raises(InvalidInput):
            auth.create_user(s, "x", "long enough", "superuser")


def test_user_names_are_one_whatever_their_case(db):
    with db.write() as s:
        alice = auth.create_user(s, "Alice", "password-123")
        for other in ("alice", "ALICE", " alice "):
            with pytest.raises(InvalidInput):
                auth.create_user(s, other, "password-123")
        auth.create_user(s, "Ærø", "password-123")
        with pytest.raises(InvalidInput):
            auth.create_user(s, "æRØ", "password-123")  # not only ASCII letters fold
    with db.write() as s:
        assert auth.user_by_name(s, "aLiCe").id == alice.id
        assert auth.authenticate(s, "ALICE", "password-123", sleep=False).id == alice.id
