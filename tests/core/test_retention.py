"""Retention deletes finished jobs past their period with their leads, runs and webhooks, nothing else."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from core import retention, webhooks
from core.models import Job, Lead, Run, WebhookDelivery, utcnow
from tests.support import factories


def test_retention_removes_only_expired(db):
    now = utcnow()
    with db.write() as s:
        owner = factories.user(s)
        old_done = factories.job(s, owner, {"A": 2}, file_name="old.csv")
        old_failed = factories.job(s, owner, {"B": 2}, file_name="failed.csv")
        recent = factories.job(s, owner, {"C": 2}, file_name="recent.csv")
        s.execute(update(Run).where(Run.job_id == old_done.id).values(container_id="111"))
        webhooks.receive(s, webhooks.parse_payload(b'{"containerId": "111"}'))
        webhooks.receive(s, webhooks.parse_payload(b'{"containerId": "222"}'))
        for job, status, days in ((old_done, "completed", 8), (old_failed, "failed", 8), (recent, "completed", 1)):
            s.execute(update(Job).where(Job.id == job.id).values(status=status, finished_at=now - timedelta(days=days)))
    with db.write() as s:
        counts = retention.clean_up(s, completed_days=7, failed_days=30)
    assert counts == {"jobs": 1, "leads": 2, "runs": 1}
    with db.read() as s:
        assert set(s.scalars(select(Job.file_name))) == {"failed.csv", "recent.csv"}
        assert s.scalar(select(func.count()).select_from(Lead)) == 4
        assert list(s.scalars(select(WebhookDelivery.container_id))) == ["222"]
