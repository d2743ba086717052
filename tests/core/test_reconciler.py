"""The reconciler under a clock the test moves: what one pass does with webhooks no run claims, an idle slot with
work queued, a check that never came, and the workspace it asks about now and then."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from core import queue_controls, webhooks
from core.models import Heartbeat, Run, RunStatus, User, WebhookDelivery, utcnow
from core.reconciler import DELIVERY_GIVE_UP, WORKSPACE_EVERY_SECONDS, Reconciler


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


def _reconciler(rig, clock: Clock) -> Reconciler:
    return Reconciler(rig.db, rig.engine, rig.bell, rig.settings, worker_id="test-worker", clock=clock)


def _webhook(rig, container_id: str, clock: Clock) -> None:
    payload = webhooks.parse_payload(f'{{"containerId": "{container_id}", "exitCode": 0}}'.encode())
    with rig.db.write() as s:
        webhooks.receive(s, payload)
        s.execute(update(WebhookDelivery).values(received_at=clock.now))


def _calls(rig, path: str) -> int:
    return sum(1 for c in rig.sb.record()["calls"] if c["path"].endswith(path))


def test_a_webhook_no_run_claims_is_kept_six_hours_then_set_aside(rig, db):
    clock = Clock()
    reconciler = _reconciler(rig, clock)
    _webhook(rig, "9999999", clock)
    clock.now += DELIVERY_GIVE_UP - timedelta(minutes=1)
    reconciler.run_once()
    with db.read() as s:
        assert s.scalar(select(WebhookDelivery.outcome)) is None  # still waiting for a run to claim it
    clock.now += timedelta(minutes=2)
    report = reconciler.run_once()
    assert any("set aside" in line for line in report.actions)
    with db.read() as s:
        delivery = s.scalar(select(WebhookDelivery))
        assert delivery.outcome == "set_aside" and delivery.processed_at is not None


def test_an_idle_slot_with_work_queued_rings_dispatch_unless_the_queue_is_paused(rig, db):
    clock = Clock()
    reconciler = _reconciler(rig, clock)
    reconciler.run_once()
    assert ("dispatch", ()) not in rig.bell.rung  # nothing queued: nothing to ring
    rig.job({"Acme": 2})
    reconciler.run_once()
    assert ("dispatch", ()) in rig.bell.rung
    with db.write() as s:
        root = s.scalar(select(User).limit(1))
        root.role = "admin"
    queue_controls.pause(db, rig.bell, root, "maintenance")
    rig.bell.rung.clear()
    reconciler.run_once()
    assert ("dispatch", ()) not in rig.bell.rung
    with db.read() as s:
        assert s.get(Heartbeat, "worker").details["worker_id"] == "test-worker"  # every pass says it is alive


def test_a_check_that_never_came_is_planned_again_once(rig, db):
    rig.sb.reset(run_seconds=[30, 30], seed=31, max_parallelism=10)
    rig.job({"Acme": 2})
    run_id = rig.engine.dispatch()
    clock = Clock()
    reconciler = _reconciler(rig, clock)
    with db.write() as s:  # the planned check was lost (Redis wiped, say) and is long overdue
        s.execute(update(Run).where(Run.id == run_id).values(next_check_at=clock.now - timedelta(minutes=5)))
    rig.bell.rung.clear()
    reconciler.run_once()
    checks = [args for name, args in rig.bell.rung if name == "check"]
    assert len(checks) == 1 and checks[0][0] == run_id
    with db.read() as s:
        run = s.get(Run, run_id)
        assert run.status == RunStatus.PHANTOM_LAUNCHED and run.check_ticket == checks[0][1]
    rig.bell.rung.clear()
    reconciler.run_once()  # the new check is planned now, not overdue: nothing more
    assert [name for name, _ in rig.bell.rung if name == "check"] == []


def test_the_workspace_is_asked_once_per_interval(rig, db):
    clock = Clock()
    reconciler = _reconciler(rig, clock)
    before = _calls(rig, "orgs/fetch-resources")
    reconciler.run_once()
    reconciler.run_once()
    assert _calls(rig, "orgs/fetch-resources") == before + 1
    clock.now += timedelta(seconds=WORKSPACE_EVERY_SECONDS + 1)
    reconciler.run_once()
    assert _calls(rig, "orgs/fetch-resources") == before + 2
