"""The slot lease: one holder at a time, fencing tokens, takeover only after expiry, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from core.errors import LeaseLost
from core.lifecycle import slot
from core.models import utcnow


def test_acquire_once_then_fenced(db):
    with db.write() as s:
        lease = slot.acquire(s, holder="w1", run_id=1, ttl=60)
    assert lease is not None
    with db.write() as s:
        assert slot.acquire(s, holder="w2", run_id=2, ttl=60) is None
    with db.write() as s:
        slot.fence(s, lease.token)
        slot.release(s, lease.token)
    with pytest.raises(LeaseLost), db.write() as s:
        slot.fence(s, lease.token)


def test_take_over_only_after_expiry(db):
    with db.write() as s:
        lease = slot.acquire(s, holder="w1", run_id=1, ttl=60)
    with db.write() as s:
        assert slot.take_over(s, holder="w2", token=lease.token, ttl=60) is None
    later = utcnow() + timedelta(seconds=61)
    with db.write() as s:
        new = slot.take_over(s, holder="w2", token=lease.token, ttl=60, now=later)
    assert new is not None and new.token == lease.token + 1
    with pytest.raises(LeaseLost), db.write() as s:
        slot.fence(s, lease.token)


def test_paused_and_blocked_slot_refuses(db):
    with db.write() as s:
        slot.set_paused(s, True, "maintenance")
    with db.write() as s:
        assert slot.acquire(s, holder="w", run_id=1, ttl=5) is None
        slot.set_paused(s, False)
        slot.block(s, 30, "busy")
    with db.write() as s:
        assert slot.acquire(s, holder="w", run_id=1, ttl=5) is None
        assert slot.acquire(s, holder="w", run_id=1, ttl=5, now=utcnow() + timedelta(seconds=31)) is not None


def test_concurrent_acquire_has_one_winner(db):
    winners = []
    barrier = threading.Barrier(8)

    def contend(i: int) -> None:
        barrier.wait()
        with db.write() as s:
            lease = slot.acquire(s, holder=f"w{i}", run_id=i, ttl=60)
        if lease is not None:
            winners.append(i)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
