"""Admin actions are admin-only and audited; retention deletes finished jobs past their period, nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from core import admin, retention, slot
from core.errors import PermissionDenied
from core.models import AuditEvent, Job, Lead, Run, utcnow
from tests.support import factories


def test_admin_actions_need_admin_and_are_audited(db):
    with db.write() as s:
        ana = factories.user(s, "ana")
        root = factories.user(s, "root", "admin")
        with pytest.raises(PermissionDenied):
            admin.pause(s, ana)
        admin.pause(s, root, "maintenance")
        assert slot.get(s).paused
        admin.resume(s, root)
        assert not slot.get(s).paused
        slot.acquire(s, holder="w", run_id=7, ttl=60)
        assert admin.release_slot(s, root) == 7
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["queue_paused", "queue_resumed", "slot_released"]


def test_retry_dead_run(db):
    with db.write() as s:
        root = factories.user(s, "root", "admin")
        job = factories.job(s, root, {"Acme": 2}, batch_size=2)
        s.execute(update(Run).values(status="failed", dead_reason="cookie expired", attempts=3))
        s.execute(update(Lead).values(status="failed", error="cookie expired"))
        run_id = s.scalar(select(Run.id))
        assert [r.id for r in admin.dead_runs(s)] == [run_id]
        admin.retry_dead_run(s, root, run_id)
        run = s.get(Run, run_id)
        assert (run.status, run.attempts, run.dead_reason) == ("pending", 0, None)
        assert set(s.scalars(select(Lead.status).where(Lead.job_id == job.id))) == {"pending"}


def test_retention_removes_only_expired(db):
    now = utcnow()
    with db.write() as s:
        owner = factories.user(s)
        old_done = factories.job(s, owner, {"A": 2}, file_name="old.csv")
        old_failed = factories.job(s, owner, {"B": 2}, file_name="failed.csv")
        recent = factories.job(s, owner, {"C": 2}, file_name="recent.csv")
        s.execute(
            update(Job).where(Job.id == old_done.id).values(status="completed", finished_at=now - timedelta(days=8))
        )
        s.execute(
            update(Job).where(Job.id == old_failed.id).values(status="failed", finished_at=now - timedelta(days=8))
        )
        s.execute(
            update(Job).where(Job.id == recent.id).values(status="completed", finished_at=now - timedelta(days=1))
        )
    with db.write() as s:
        counts = retention.clean_up(s, completed_days=7, failed_days=30)
    assert counts == {"jobs": 1, "leads": 2, "runs": 1}
    with db.read() as s:
        assert set(s.scalars(select(Job.file_name))) == {"failed.csv", "recent.csv"}
        assert s.scalar(select(func.count()).select_from(Lead)) == 4
