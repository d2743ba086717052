"""Jobs become runs by company and batch size; the queue is by priority, then fair across analysts, then age."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import forecast, job_store, jobs, queue
from core.errors import InvalidInput, LimitReached, NotFound
from core.models import Lead, Run, RunStatus, utcnow
from tests.support import factories


def test_job_split_by_company_and_batch(db):
    with db.write() as s:
        owner = factories.user(s)
        job = factories.job(s, owner, {"Acme": 12, "Beta AS": 3}, batch_size=5)
        runs = list(s.scalars(select(Run).where(Run.job_id == job.id).order_by(Run.seq)))
        assert [(r.company, r.lead_count) for r in runs] == [("Acme", 5), ("Acme", 5), ("Acme", 2), ("Beta AS", 3)]
        assert job.total_leads == 15 and job.total_batches == 4 and job.status == "pending"
        per_run = dict(
            s.execute(select(Lead.run_id, func.count()).where(Lead.job_id == job.id).group_by(Lead.run_id)).all()
        )
        assert sorted(per_run.values()) == [2, 3, 5, 5]


def _order(s) -> list[tuple[int, int]]:
    inner, order = queue.ordered_pending()
    return [tuple(r) for r in s.execute(select(inner.c.job_id, inner.c.seq).order_by(*order))]


def test_fair_across_analysts_then_age(db, settings):
    with db.write() as s:
        big, small = factories.user(s, "big"), factories.user(s, "small")
        j_big = factories.job(s, big, {"Acme": 20}, batch_size=5)
        j_small = factories.job(s, small, {"Beta": 10}, batch_size=5)
        order = _order(s)
    # Round-robin: the small file is not starved behind the big one.
    assert order[:4] == [(j_big.id, 1), (j_small.id, 1), (j_big.id, 2), (j_small.id, 2)]
    with db.write() as s:
        plan = forecast.forecast(s, settings, utcnow())
    assert plan.pending_runs == 6
    assert plan.jobs[j_big.id].position == 1 and plan.jobs[j_small.id].position == 2
    assert plan.jobs[j_small.id].eta.high < plan.jobs[j_big.id].eta.high
    eta = plan.jobs[j_small.id].eta
    assert eta.low <= eta.likely <= eta.high and not plan.measured


def test_priority_first(db):
    with db.write() as s:
        a, b = factories.user(s, "a"), factories.user(s, "b")
        factories.job(s, a, {"Acme": 10}, batch_size=5)
        urgent = factories.job(s, b, {"Zed": 5}, batch_size=5, priority=5)
        assert queue.next_run_id(s) == s.scalar(select(Run.id).where(Run.job_id == urgent.id))


def test_active_job_limit(db):
    with db.write() as s:
        owner = factories.user(s)
        for i in range(3):
            job_store.create_job(
                s, owner=owner, preview=factories.preview({"A": 1}, f"f{i}.csv"), batch_size=5, max_active_jobs=3
            )
        with pytest.raises(LimitReached, match="limit is 3"):
            job_store.create_job(
                s, owner=owner, preview=factories.preview({"A": 1}, "f4.csv"), batch_size=5, max_active_jobs=3
            )


def test_visibility_and_cancel_permissions(db):
    with db.write() as s:
        ana, bob = factories.user(s, "ana"), factories.user(s, "bob")
        admin = factories.user(s, "root", "admin")
        job = factories.job(s, ana, {"Acme": 6}, batch_size=5)
        with pytest.raises(NotFound):
            jobs.visible_job(s, bob, job.id)
        with pytest.raises(NotFound):
            jobs.cancel_job(s, bob, job.id)
        assert jobs.visible_job(s, admin, job.id).id == job.id
        assert jobs.cancel_job(s, ana, job.id) is None
        statuses = set(s.scalars(select(Run.status).where(Run.job_id == job.id)))
        assert statuses == {RunStatus.CANCELLED}
        assert jobs.visible_job(s, ana, job.id).status == "cancelled"
        with pytest.raises(InvalidInput):
            jobs.cancel_job(s, ana, job.id)


def test_launches_take_turns_across_analysts_not_only_the_first_picks(db):
    with db.write() as s:
        big, small = factories.user(s, "big"), factories.user(s, "small")
        j_big = factories.job(s, big, {"Acme": 20}, batch_size=5)
        j_small = factories.job(s, small, {"Beta": 10}, batch_size=5)
        launched = []
        for _ in range(4):  # launch and end runs one by one, as the dispatcher does
            run = s.get(Run, queue.next_run_id(s))
            launched.append(run.job_id)
            run.status = RunStatus.SUCCESS
            s.flush()
    # Counting only pending runs would give the older job every turn.
    assert launched == [j_big.id, j_small.id, j_big.id, j_small.id]
