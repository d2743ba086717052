"""An analyst's actions on jobs: each is committed before the worker is rung, and rings only what it must."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from core import job_actions
from core.errors import NotFound
from core.models import Job, JobStatus, Lead, LeadStatus, Run, RunStatus
from tests.support import factories


class CommittedDoorbell:
    """A doorbell that, when rung, looks at the database from its own session: what the worker would see."""

    def __init__(self, db) -> None:
        self.db, self.rung = db, []

    def _see(self, name: str, *args) -> None:
        with self.db.read() as s:
            jobs = {j.id: j.status for j in s.scalars(select(Job))}
        self.rung.append((name, args, jobs))

    def dispatch(self, delay: float = 0.0) -> None:
        self._see("dispatch")

    def stop(self, run_id: int) -> None:
        self._see("stop", run_id)


def test_a_queued_file_is_committed_before_the_worker_is_rung(db, settings):
    bell = CommittedDoorbell(db)
    with db.write() as s:
        ana = factories.user(s, "ana")
    queued = job_actions.queue_file(
        db,
        bell,
        settings,
        ana,
        factories.preview({"Acme": 3, "Beta": 2}),
        batch_size=5,
        include_recent=True,
        priority=0,
    )
    assert bell.rung == [("dispatch", (), {queued.job_id: JobStatus.PENDING})]
    assert "Acme" in queued.companies and "Beta" in queued.companies


def test_cancel_rings_a_stop_only_for_a_run_in_flight(db, settings):
    bell = CommittedDoorbell(db)
    with db.write() as s:
        ana = factories.user(s, "ana")
        queued_only = factories.job(s, ana, {"Acme": 2}).id
        flying = factories.job(s, ana, {"Beta": 4}, batch_size=2).id
        first_run = s.scalar(select(Run.id).where(Run.job_id == flying).order_by(Run.id))
        s.execute(update(Run).where(Run.id == first_run).values(status=RunStatus.PHANTOM_LAUNCHED))
    job_actions.cancel_job(db, bell, ana, queued_only)
    assert bell.rung == []  # nothing was running: the worker has nothing to do
    job_actions.cancel_job(db, bell, ana, flying)
    assert [(name, args) for name, args, _ in bell.rung] == [("stop", (first_run,))]
    assert bell.rung[0][2][flying] == JobStatus.CANCELLED  # the stop sees the cancel committed
    with db.read() as s:
        leads = dict(
            s.execute(select(Lead.status, func.count()).where(Lead.job_id == flying).group_by(Lead.status)).all()
        )
    assert leads == {LeadStatus.PENDING: 2, LeadStatus.CANCELLED: 2}  # the run in flight keeps its leads till it ends


def test_nobody_acts_on_another_analysts_job(db, settings):
    bell = CommittedDoorbell(db)
    with db.write() as s:
        ana, ole = factories.user(s, "ana"), factories.user(s, "ole")
        job_id = factories.job(s, ana, {"Acme": 2}).id
    with pytest.raises(NotFound):
        job_actions.cancel_job(db, bell, ole, job_id)
    with pytest.raises(NotFound):
        job_actions.retry_failed_leads(db, bell, ole, job_id)
    assert bell.rung == []


def test_retry_of_the_unmatched_only_leaves_the_private_profiles(db, settings):
    bell = CommittedDoorbell(db)
    with db.write() as s:
        ana = factories.user(s, "ana")
        job_id = factories.job(s, ana, {"Acme": 4}).id
        ids = list(s.scalars(select(Lead.id).where(Lead.job_id == job_id).order_by(Lead.id)))
        kinds = {ids[0]: "not_found", ids[1]: "private", ids[2]: "never_tried"}
        for lead_id, kind in kinds.items():
            s.execute(update(Lead).where(Lead.id == lead_id).values(status=LeadStatus.FAILED, error_kind=kind))
        s.execute(update(Lead).where(Lead.id == ids[3]).values(status=LeadStatus.SUCCESS))
        s.execute(update(Run).where(Run.job_id == job_id).values(status=RunStatus.SUCCESS))
        s.execute(update(Job).where(Job.id == job_id).values(status=JobStatus.COMPLETED))
    assert job_actions.retry_failed_leads(db, bell, ana, job_id, unmatched_only=True) == 2
    assert [name for name, _, _ in bell.rung] == ["dispatch"]
    with db.read() as s:
        statuses = dict(s.execute(select(Lead.id, Lead.status).where(Lead.job_id == job_id)).all())
    assert statuses[ids[1]] == LeadStatus.FAILED  # private: a retry would not change it
    assert statuses[ids[0]] == statuses[ids[2]] == LeadStatus.PENDING
