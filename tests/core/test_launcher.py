"""The launcher against the sandbox over HTTP: what each answer to agents/launch does to the run and the slot."""

from __future__ import annotations

from sqlalchemy import select

from core.lifecycle import slot
from core.models import Run, RunStatus
from core.orphans import RUN_TAG


def _launch_elsewhere(rig, metadata: dict[str, str]) -> str:
    """A container on the agent that this launcher did not start (someone in PhantomBuster's own console)."""
    argument = {"spreadsheetUrl": "https://www.linkedin.com/in/someone-else", "numberOfAddsPerLaunch": 1}
    return rig.engine.client.launch(argument, metadata=metadata, max_instance_count=5)


def _runs(rig) -> list[Run]:
    with rig.db.read() as s:
        return list(s.scalars(select(Run).order_by(Run.id)))


def test_busy_with_another_container_puts_the_run_back_without_an_attempt_and_waits(rig, db):
    rig.sb.reset(run_seconds=[30, 30], seed=41, max_parallelism=1)
    _launch_elsewhere(rig, {})  # the agent's one slot is taken by something that is not ours
    rig.job({"Acme": 2})
    rig.bell.rung.clear()
    assert rig.engine.dispatch() is not None  # claimed, then PhantomBuster answered 429
    (run,) = _runs(rig)
    assert run.status == RunStatus.PENDING and run.attempts == 0 and run.container_id is None
    with db.read() as s:
        lease = slot.get(s)
        assert lease.run_id is None and lease.blocked_until is not None  # free, but held back a moment
    assert [name for name, _ in rig.bell.rung] == ["dispatch"]  # tried again after the back-off
    assert len(rig.sb.record()["launches"]) == 1  # only the foreign one was started


def test_busy_with_this_runs_own_container_adopts_it(rig, db):
    rig.sb.reset(run_seconds=[30, 30], seed=42, max_parallelism=1)
    rig.job({"Acme": 2})
    (run,) = _runs(rig)
    # The run's own launch went through earlier, but its answer was lost: PhantomBuster runs it already.
    container_id = _launch_elsewhere(rig, {RUN_TAG: str(run.id)})
    assert rig.engine.dispatch() == run.id
    (run,) = _runs(rig)
    assert run.status == RunStatus.PHANTOM_LAUNCHED and run.container_id == container_id
    assert len(rig.sb.record()["launches"]) == 1  # adopted, not launched a second time


def test_an_open_circuit_puts_the_run_back_and_waits_the_cooldown(rig, db):
    rig.job({"Acme": 2})
    breaker = rig.engine.client.breaker
    for _ in range(breaker.threshold):  # PhantomBuster failed several calls in a row just before
        breaker.record(False)
    assert rig.engine.dispatch() is not None
    (run,) = _runs(rig)
    assert run.status == RunStatus.PENDING and run.attempts == 0
    with db.read() as s:
        assert slot.get(s).blocked_until is not None
    assert rig.sb.record()["launches"] == []  # no call was made while the circuit was open
