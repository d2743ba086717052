"""The engine against the sandbox over real HTTP: launches, completions, crashes at each step, and each hole found."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from core import jobs, lifecycle, webhooks
from core.lifecycle import batches, slot
from core.models import AuditEvent, Heartbeat, Job, Lead, Run, User, WebhookDelivery, utcnow
from core.orphans import FENCE_TAG, RUN_TAG
from core.phantombuster import scraper_launch_argument
from tests.support.engine_rig import Rig


def _launch_elsewhere(rig: Rig, metadata: dict[str, str]) -> str:
    """A launch LeadRelay did not make (or whose answer it lost): one profile URL, straight to the API."""
    argument = {"spreadsheetUrl": "https://www.linkedin.com/in/someone-else", "numberOfAddsPerLaunch": 1}
    return rig.engine.client.launch(argument, metadata=metadata, max_instance_count=5)


def _deliver(rig: Rig, container_id: str, **fields) -> bool:
    """A webhook body for the container, recorded as the webhook server would; True when the worker is rung."""
    body = {"containerId": container_id, "agentId": "4000000000000001", **fields}
    payload = webhooks.parse_payload(__import__("json").dumps(body).encode())
    with rig.db.write() as s:
        recorded = webhooks.receive(s, payload)
    if recorded.ring:
        rig.bell.delivery(container_id)
    return recorded.ring


def test_job_runs_one_at_a_time_to_completion(rig, db):
    job_id = rig.job({"Acme": 4, "Beta": 3, "Gamma": 2})
    assert rig.engine.dispatch() is not None
    rig.drain(rig.done(job_id))
    with db.read() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.completed_leads, job.total_batches) == ("completed", 9, 5)
        assert all(lead.profile for lead in s.scalars(select(Lead).where(Lead.job_id == job_id)))
    record = rig.sb.record()
    assert record["max_concurrent"] == 1 and len(record["launches"]) == 5


def test_crash_after_claim_before_launch_relaunches_once(rig, db):
    job_id = rig.job({"Acme": 2})
    with db.write() as s:  # the worker dies right after this commit
        plan = lifecycle.claim_next(s, rig.settings, holder="dead", now=utcnow(), actor="worker")
    assert plan is not None
    with db.write() as s:  # the lease expires
        slot.fence(s, plan.token, expires_at=utcnow() - timedelta(seconds=1))
    rig.use(launch_lease_seconds=0.5, launch_lookup_margin_seconds=0.5)
    rig.drain(rig.done(job_id))
    assert len(rig.sb.record()["launches"]) == 1


def test_crash_after_launch_before_record_adopts_container(rig, db):
    job_id = rig.job({"Acme": 2})
    with db.write() as s:
        plan = lifecycle.claim_next(s, rig.settings, holder="dead", now=utcnow(), actor="worker")
    # The launch reaches PhantomBuster, then the worker dies before recording the container.
    argument = scraper_launch_argument(
        batches.url(rig.settings.public_base_url, plan.batch_token),
        column_name=batches.COLUMN,
        csv_name=plan.csv_name,
        number_of_adds=plan.lead_count,
    )
    rig.engine.client.launch(argument, metadata={RUN_TAG: str(plan.run_id), FENCE_TAG: str(plan.token)})
    with db.write() as s:
        slot.fence(s, plan.token, expires_at=utcnow() - timedelta(seconds=1))
    rig.drain(rig.done(job_id))
    assert len(rig.sb.record()["launches"]) == 1, "the run was launched twice"
    with db.read() as s:
        assert s.get(Job, job_id).completed_leads == 2


def test_stale_holder_cannot_write(rig, db):
    rig.job({"Acme": 2})
    with db.write() as s:
        plan = lifecycle.claim_next(s, rig.settings, holder="old", now=utcnow(), actor="worker")
    with db.write() as s:
        slot.fence(s, plan.token, expires_at=utcnow() - timedelta(seconds=1))
        assert slot.take_over(s, holder="other", token=plan.token, ttl=60) is not None
    assert not rig.engine.launcher.record(plan, "999", actor="worker")  # the old holder's write is refused
    run = rig.run(plan.run_id)
    assert run.status == "launching" and run.container_id is None


def test_retryable_failure_is_retried_then_dead_lettered(rig, db):
    rig.sb.reset(run_seconds=[0.05, 0.1], agent_timeout_rate=1.0, seed=5, max_parallelism=10)
    job_id = rig.job({"Acme": 1}, batch_size=1)
    rig.engine.dispatch()
    deadline = time.monotonic() + 30
    while not rig.done(job_id)():
        # Retries wait a backoff; make it pass at once for the test.
        with db.write() as s:
            s.execute(update(Run).where(Run.status == "pending").values(not_before=None))
        rig.bell.drain(rig.engine, rig.reconciler, lambda: not rig.bell.tasks or rig.done(job_id)(), timeout=10)
        rig.reconciler.run_once()
        assert time.monotonic() < deadline
    with db.read() as s:
        run = s.scalar(select(Run).where(Run.job_id == job_id))
    assert run.status == "failed" and run.attempts == rig.settings.max_run_attempts and run.dead_reason
    assert len(rig.sb.record()["launches"]) == rig.settings.max_run_attempts


def test_success_after_a_failed_attempt_keeps_no_error_message(rig, db):
    job_id = rig.job({"Acme": 1}, batch_size=1)
    with db.write() as s:
        s.execute(update(Run).values(error_message="The run hit the agent's time limit", attempts=1))
    rig.engine.dispatch()
    rig.drain(rig.done(job_id))
    with db.read() as s:
        run = s.scalar(select(Run).where(Run.job_id == job_id))
    assert run.status == "success" and run.error_message is None


def test_run_past_sequential_queue_timeout_is_stopped_and_timed_out(rig, db):
    rig.sb.reset(run_seconds=[30, 30], seed=6, max_parallelism=10)
    rig.use(sequential_queue_timeout=1, max_run_attempts=1)
    job_id = rig.job({"Acme": 2})
    run_id = rig.engine.dispatch()
    rig.wait(lambda: (utcnow() - rig.run(run_id).launched_at).total_seconds() > 1.1)
    actions = rig.reconciler.run_once().actions
    assert any("timed out" in action for action in actions), actions
    with db.read() as s:
        run = s.scalar(select(Run).where(Run.job_id == job_id))
        job = s.get(Job, job_id)
        assert slot.get(s).run_id is None
    assert run.status == "timed_out" and "within 1 second," in (run.dead_reason or "")
    assert job.status == "failed" and job.failed_leads == 2
    assert any(c["path"].endswith("agents/stop") for c in rig.sb.record()["calls"])


def test_cancel_stops_the_run_in_flight(rig, db):
    rig.sb.reset(run_seconds=[20, 20], seed=8, max_parallelism=10)
    job_id = rig.job({"Acme": 2, "Beta": 2})
    run_id = rig.engine.dispatch()
    with db.write() as s:
        owner = s.get(Job, job_id)
        user = s.get(User, owner.owner_id)
        assert jobs.cancel_job(s, user, job_id) == run_id
    assert rig.engine.stop(run_id) == "stopped"
    rig.drain(lambda: rig.run(run_id).status != "phantom_launched", timeout=20)
    with db.read() as s:
        runs = {r.id: r.status for r in s.scalars(select(Run).where(Run.job_id == job_id))}
        leads = set(s.scalars(select(Lead.status).where(Lead.job_id == job_id)))
        assert s.get(Job, job_id).status == "cancelled" and slot.get(s).run_id is None
    assert set(runs.values()) == {"cancelled"} and leads == {"cancelled"}
    assert any(c["path"].endswith("agents/stop") for c in rig.sb.record()["calls"])
    assert len(rig.sb.record()["launches"]) == 1


# -- the holes found by attacking the running system ----------------------------------------------------


def test_hole1_a_container_phantombuster_forgot_ends_its_run_and_frees_the_slot(rig, db):
    rig.sb.reset(run_seconds=[30, 30], seed=9, max_parallelism=10)
    job_id = rig.job({"Acme": 2, "Beta": 2})
    run_id = rig.engine.dispatch()
    lost = rig.run(run_id).container_id
    rig.sb.reset(run_seconds=[0.05, 0.1], seed=10, max_parallelism=10)  # PhantomBuster forgets every container
    with db.write() as s:
        s.execute(update(Run).where(Run.id == run_id).values(next_check_at=utcnow() - timedelta(seconds=60)))
    report = rig.reconciler.run_once()  # one pass plans the check that finds out
    assert any("overdue" in a for a in report.actions), report.actions
    rig.drain(lambda: rig.run(run_id).container_id != lost, timeout=10)
    run = rig.run(run_id)
    assert run.status in ("pending", "launching", "phantom_launched", "success")
    assert "no longer knows the run's container" in (run.error_message or "")
    rig.drain(rig.done(job_id))
    with db.read() as s:
        assert s.get(Job, job_id).completed_leads == 4


def test_hole1_one_failing_item_never_aborts_a_reconciler_pass(rig, db, monkeypatch):
    rig.sb.reset(run_seconds=[30, 30], seed=11, max_parallelism=10)
    rig.use(sequential_queue_timeout=1)
    rig.job({"Acme": 2, "Beta": 2})
    first = rig.engine.dispatch()
    with db.write() as s:  # the first run is past its timeout and an admin released the slot by hand
        s.execute(update(Run).where(Run.id == first).values(launched_at=utcnow() - timedelta(seconds=10)))
        lifecycle.force_release(s, utcnow())

    def broken(run_id: int) -> str:
        raise RuntimeError("a bug in one item")

    monkeypatch.setattr(rig.engine, "time_out", broken)
    rig.bell.rung.clear()
    with pytest.raises(ExceptionGroup) as raised:
        rig.reconciler.run_once()
    assert "a bug in one item" in str(raised.value.exceptions[0])
    assert ("dispatch", ()) in rig.bell.rung, "the rest of the pass (an idle slot with runs queued) was not handled"
    with db.read() as s:
        assert s.get(Heartbeat, "worker") is not None


def test_hole2_a_timeout_never_stops_another_container(rig, db):
    rig.sb.reset(run_seconds=[30, 30], seed=12, max_parallelism=10)
    rig.use(sequential_queue_timeout=1, max_run_attempts=1)
    job_id = rig.job({"Acme": 2})
    run_id = rig.engine.dispatch()
    other = _launch_elsewhere(rig, {})
    rig.wait(lambda: (utcnow() - rig.run(run_id).launched_at).total_seconds() > 1.1)
    for _ in range(3):  # several passes: none may stop what runs on the agent
        rig.reconciler.run_once()
    assert not any(c["path"].endswith("agents/stop") for c in rig.sb.record()["calls"])
    assert rig.engine.client.fetch_container(other).status == "running"
    with db.read() as s:
        assert s.get(Job, job_id).status == "failed" and slot.get(s).run_id is None


def test_hole3_one_pending_check_whatever_the_webhooks_and_passes(rig, db):
    rig.sb.reset(run_seconds=[3, 3], seed=13, max_parallelism=10, webhook_drop_rate=1.0)
    rig.use(expected_run_seconds=6.0)  # while it runs, a check every 3 s
    rig.bell.max_delay = 10.0  # real delays: this test counts PhantomBuster calls over time
    job_id = rig.job({"Acme": 2})
    run_id = rig.engine.dispatch()
    container = rig.run(run_id).container_id
    for n in range(20):  # twenty different (forged or repeated) deliveries while PhantomBuster runs it
        _deliver(rig, container, exitCode=0, exitMessage="finished", runDuration=n)
        while rig.bell.run_next(rig.engine, rig.reconciler):
            pass
        rig.reconciler.run_once()
        current = rig.run(run_id).check_ticket
        assert sum(1 for t in rig.bell.tasks if t[2] == "check" and t[3] == (run_id, current)) == 1
        time.sleep(0.1)  # webhooks arriving over two seconds, not a wait for a condition
    rig.drain(rig.done(job_id), timeout=20)
    # The checks that ran: a few for a 3-second run, whatever rang for it (not one per webhook or pass).
    assert rig.fetches(container) <= 6, rig.fetches(container)


def test_hole3_a_stale_ticket_asks_phantombuster_nothing(rig, db):
    rig.sb.reset(run_seconds=[30, 30], seed=14, max_parallelism=10)
    rig.job({"Acme": 2})
    run_id = rig.engine.dispatch()
    run = rig.run(run_id)
    before = rig.fetches(run.container_id)
    assert rig.engine.check(run_id, run.check_ticket - 1) == "superseded"
    assert rig.fetches(run.container_id) == before


def test_hole4_a_launch_processed_late_is_adopted_not_launched_twice(rig, db):
    # The sandbox holds the launch request 3 s before processing it; the client gives up after 1 s.
    rig.sb.reset(
        run_seconds=[0.2, 0.3], seed=15, max_parallelism=10, hang_seconds=3, hang_endpoints=["agents/launch"],
        hang_count=1, hang_mode="before",
    )  # fmt: skip
    rig.engine.client = rig.sb.client(timeout=1.0, sleep=lambda _: None)
    rig.use(launch_lease_seconds=1.0, launch_lookup_margin_seconds=6.0)
    job_id = rig.job({"Acme": 2})
    run_id = rig.engine.dispatch()
    assert rig.run(run_id).launch_unanswered_at is not None
    rig.drain(rig.done(job_id), timeout=30)
    assert len(rig.sb.record()["launches"]) == 1, "the late launch was launched a second time"
    with db.read() as s:
        assert s.get(Job, job_id).completed_leads == 2
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        details = [(e.action, e.actor, e.details) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions.count("run_adopted") == 1, details


def test_hole4_an_orphan_of_a_queued_run_is_adopted_and_one_of_an_ended_run_stopped(rig, db):
    rig.sb.reset(run_seconds=[30, 30], seed=16, max_parallelism=10)
    job_id = rig.job({"Acme": 2, "Beta": 2})
    with db.read() as s:
        first, second = s.scalars(select(Run.id).where(Run.job_id == job_id).order_by(Run.seq))
    # A container for the queued second run that no run holds (a launch whose answer was lost long ago).
    orphan = _launch_elsewhere(rig, {RUN_TAG: str(second)})
    assert "adopted container" in " ".join(rig.engine.containers.scan())
    assert rig.run(second).container_id == orphan and rig.run(second).status == "phantom_launched"
    with db.write() as s:  # that run ends by hand; its container keeps running
        s.execute(update(Run).where(Run.id == second).values(status="success", container_id=None))
        lifecycle.force_release(s, utcnow())
    stopped = rig.engine.containers.scan()
    assert any("stopped container" in line for line in stopped), stopped
    assert rig.engine.client.fetch_container(orphan).status == "finished"
    assert rig.run(first).status == "pending"


def test_hole5_a_webhook_for_a_running_container_changes_nothing_visible(rig, db):
    rig.sb.reset(run_seconds=[2, 2], seed=17, max_parallelism=10, webhook_drop_rate=1.0)
    job_id = rig.job({"Acme": 2})
    run_id = rig.engine.dispatch()
    container = rig.run(run_id).container_id
    # A forged "failed" delivery first, while PhantomBuster still runs the container.
    _deliver(rig, container, exitCode=1, exitMessage="killed", resultObject="forged")
    while rig.bell.run_next(rig.engine, rig.reconciler):
        pass
    run = rig.run(run_id)
    assert run.status == "phantom_launched" and run.webhook_received_at is None and run.webhook_payload is None
    _deliver(rig, container, exitCode=0, exitMessage="finished", resultObject="genuine")
    rig.drain(rig.done(job_id))
    run = rig.run(run_id)
    assert run.status == "success" and run.webhook_payload["resultObject"] == "genuine"
    with db.read() as s:
        outcomes = {row.payload["resultObject"]: row.outcome for row in s.scalars(select(WebhookDelivery))}
    assert outcomes == {"forged": "disagreed", "genuine": "confirmed"}


def test_hole7_a_result_object_of_any_kind_is_trimmed_everywhere(rig, db):
    big = [{"linkedinProfileUrl": f"https://linkedin.com/in/p{n}", "bio": "x" * 200} for n in range(10_000)]
    payload = webhooks.parse_payload(__import__("json").dumps({"containerId": "123", "resultObject": big}).encode())
    assert len(payload.body["resultObject"]) < webhooks.MAX_RESULT_CHARS + 100
    payload = webhooks.parse_payload(
        __import__("json").dumps({"containerId": "124", "resultObject": {"rows": big}}).encode()
    )
    assert len(payload.body["resultObject"]) < webhooks.MAX_RESULT_CHARS + 100


# -- the real Profile Scraper: its input, its rows, its early stops --------------------------------------


def _lead_results(db, job_id: int) -> dict[str, tuple[str, str | None]]:
    with db.read() as s:
        return {
            lead.linkedin_url.rsplit("/", 1)[-1]: (lead.status, lead.error)
            for lead in s.scalars(select(Lead).where(Lead.job_id == job_id))
        }


def test_a_run_sends_its_batch_as_a_csv_url_with_a_result_file_of_its_own(rig, db):
    job_id = rig.job({"Acme": 2})
    rig.engine.dispatch()
    rig.drain(rig.done(job_id))
    launch = rig.sb.record()["launches"][0]
    argument = launch["argument"]
    assert argument["spreadsheetUrl"].startswith(rig.settings.public_base_url + "/batches/")
    assert argument["columnName"] == "profileUrl" and argument["numberOfAddsPerLaunch"] == 2
    assert argument["csvName"].startswith("leadrelay-run-") and "profileUrls" not in argument
    with db.read() as s:
        assert s.get(Job, job_id).completed_leads == 2


def test_a_retried_lead_is_scraped_again_under_a_result_file_of_its_own(rig, db):
    # Every page times out on the first launch: the phantom writes those URLs (failed) into its result file.
    rig.sb.reset(run_seconds=[0.05, 0.1], seed=20, max_parallelism=10, transient_error_rate=1.0)
    job_id = rig.job({"Acme": 2})
    first = rig.engine.dispatch()
    rig.drain(lambda: rig.run(first).status == "success")
    rig.sb.set_faults(transient_error_rate=0.0)
    rig.drain(rig.done(job_id))
    results = _lead_results(db, job_id)
    assert {status for status, _ in results.values()} == {"success"}, results
    names = [launch["argument"]["csvName"] for launch in rig.sb.record()["launches"]]
    assert len(names) == 2 and len(set(names)) == 2


def test_error_rows_fail_only_their_leads_with_the_reason_in_plain_words(rig, db):
    job_id = rig.job({"Missing Co": 1, "Private Co": 1, "Acme": 1}, batch_size=3)
    rig.engine.dispatch()
    rig.drain(rig.done(job_id))
    results = _lead_results(db, job_id)
    assert results["acme-person-0"] == ("success", None)
    status, error = results["missing-co-person-0"]
    assert status == "failed" and "LinkedIn has no profile at this URL" in error
    status, error = results["private-co-person-0"]
    assert status == "failed" and "private" in error


def test_an_early_stop_with_exit_0_sends_the_untried_leads_back_to_the_queue(rig, db):
    rig.sb.reset(run_seconds=[0.05, 0.1], seed=21, max_parallelism=10, early_stop_after=1, early_stop_rate=1.0)
    job_id = rig.job({"Acme": 3}, batch_size=3)
    first = rig.engine.dispatch()
    rig.drain(lambda: rig.run(first).status == "success")
    with db.read() as s:
        assert s.scalar(select(func.count()).where(Lead.job_id == job_id, Lead.status == "success")) == 1
        requeued = s.scalars(select(Run).where(Run.job_id == job_id, Run.id != first)).all()
    assert [r.lead_count for r in requeued] == [2]
    rig.sb.set_faults(early_stop_rate=0.0)
    rig.drain(rig.done(job_id))
    assert {status for status, _ in _lead_results(db, job_id).values()} == {"success"}


def test_leads_never_tried_are_given_up_after_their_attempts(rig, db):
    rig.sb.reset(run_seconds=[0.05, 0.1], seed=22, max_parallelism=10, early_stop_after=0, early_stop_rate=1.0)
    job_id = rig.job({"Acme": 2}, batch_size=2)
    rig.engine.dispatch()
    rig.drain(rig.done(job_id))
    results = _lead_results(db, job_id)
    assert {status for status, _ in results.values()} == {"failed"}
    assert all("did not get to this profile in 3 launches" in error for _, error in results.values())
    assert len(rig.sb.record()["launches"]) == rig.settings.max_lead_attempts


def test_a_result_object_that_links_to_the_result_files_is_followed(rig, db):
    rig.sb.reset(run_seconds=[0.05, 0.1], seed=23, max_parallelism=10, result_files_rate=1.0)
    job_id = rig.job({"Acme": 2})
    rig.engine.dispatch()
    rig.drain(rig.done(job_id))
    with db.read() as s:
        leads = list(s.scalars(select(Lead).where(Lead.job_id == job_id)))
    assert all(lead.status == "success" and lead.profile.get("firstName") for lead in leads)
    assert all(isinstance(lead.profile.get("linkedinConnectionsCount"), int) for lead in leads)
