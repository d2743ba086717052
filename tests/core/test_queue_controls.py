"""An admin's queue controls: admin-only, audited with the admin's name, committed, then the worker rung."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from core import queue_controls, read_models
from core.errors import InvalidInput, PermissionDenied
from core.lifecycle import slot
from core.models import AuditEvent, Job, Lead, Run
from tests.support import factories
from tests.support.doorbell import QueueDoorbell


def test_controls_need_an_admin_and_are_audited(db):
    bell = QueueDoorbell()
    with db.write() as s:
        ana = factories.user(s, "ana")
        root = factories.user(s, "root", "admin")
    with pytest.raises(PermissionDenied):
        queue_controls.pause(db, bell, ana)
    queue_controls.pause(db, bell, root, "maintenance")
    with db.read() as s:
        assert slot.get(s).paused and slot.get(s).pause_reason == "maintenance"
    queue_controls.resume(db, bell, root)
    with db.write() as s:
        assert not slot.get(s).paused
        slot.acquire(s, holder="w", run_id=7, ttl=60)
    assert queue_controls.release_slot(db, bell, root) == 7
    with db.read() as s:
        events = [(e.action, e.details.get("by")) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert events == [("queue_paused", "root"), ("queue_resumed", "root"), ("slot_released", "root")]
    assert [name for name, _ in bell.rung] == ["dispatch", "reconcile"]


def test_restart_stuck_expires_the_lease_and_checks_every_run_in_flight(db):
    bell = QueueDoorbell()
    with db.write() as s:
        root = factories.user(s, "root", "admin")
        factories.job(s, root, {"Acme": 2})
        run_id = s.scalar(select(Run.id))
        s.execute(update(Run).values(status="phantom_launched", container_id="42"))
        slot.acquire(s, holder="w", run_id=run_id, ttl=600)
    assert queue_controls.restart_stuck(db, bell, root) == 1
    with db.read() as s:
        ticket = s.get(Run, run_id).check_ticket
        assert slot.get(s).expires_at is not None
    assert ("check", (run_id, ticket)) in bell.rung


def test_retry_dead_run(db):
    bell = QueueDoorbell()
    with db.write() as s:
        root = factories.user(s, "root", "admin")
        job = factories.job(s, root, {"Acme": 2}, batch_size=2)
        s.execute(update(Run).values(status="failed", dead_reason="cookie expired", attempts=3))
        s.execute(update(Lead).values(status="failed", error="cookie expired"))
        s.execute(update(Job).values(status="failed"))
        run_id = s.scalar(select(Run.id))
        assert [r.id for r in read_models.dead_runs(s, root)] == [run_id]
    queue_controls.retry_dead_run(db, bell, root, run_id)
    with db.read() as s:
        run = s.get(Run, run_id)
        assert (run.status, run.attempts, run.dead_reason) == ("pending", 0, None)
        assert set(s.scalars(select(Lead.status).where(Lead.job_id == job.id))) == {"pending"}
        assert s.get(Job, job.id).status == "running"
    assert bell.rung == [("dispatch", ())]
    with pytest.raises(InvalidInput):
        queue_controls.retry_dead_run(db, bell, root, run_id)
