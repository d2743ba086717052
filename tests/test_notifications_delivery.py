"""Notifications with real worker processes: each message delivered once through SIGKILLs between claim and send,
and once with two workers draining one outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import signal

import pytest
from sqlalchemy import select

from core import auth, notifications, notify_prefs
from core.models import utcnow
from core.notify_channels import SIGNATURE_HEADER, signature_matches
from core.notify_tables import NotificationPrefs, OutboxMessage
from tests.support.notify_receivers import Gate, HttpSink, SmtpSink, wait_for
from tests.support.stack import Stack

pytestmark = pytest.mark.slow
FAST = {"run_seconds": [0.2, 0.4], "seed": 5}


def outbox(stack: Stack) -> list[OutboxMessage]:
    with stack.db.read() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def leads_file(path, n: int = 4):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["First Name", "Last Name", "Company", "LinkedIn URL"])
        for i in range(n):
            writer.writerow([f"P{i}", "Nordmann", "Acme", f"https://www.linkedin.com/in/notify-{i}"])
    return path


def test_each_message_is_delivered_once_through_worker_kills_between_claim_and_send(
    tmp_path, database_url, redis_server, settings
):
    smtp_sink, slack_sink, hook_sink = SmtpSink(), HttpSink(), HttpSink()
    with smtp_sink, slack_sink.serve() as slack_srv, hook_sink.serve() as hook_srv:
        gates = {
            "email": Gate(smtp_sink.port),
            "slack": Gate(slack_srv.port),
            "webhook": Gate(hook_srv.port),
        }
        with gates["email"], gates["slack"], gates["webhook"]:
            stack = Stack(
                tmp_path,
                database_url,
                redis_server,
                smtp_host="127.0.0.1",
                smtp_port=gates["email"].port,
                smtp_tls="none",
                smtp_timeout_seconds=120,
                notify_http_timeout_seconds=120,
                notify_poll_seconds=0.2,
                notify_lease_seconds=3,
                app_base_url="https://leadrelay.test",
            )
            try:
                _kill_between_claim_and_send(stack, tmp_path, settings, gates, smtp_sink, slack_sink, hook_sink)
            finally:
                stack.stop()


def _kill_between_claim_and_send(stack, tmp_path, settings, gates, smtp_sink, slack_sink, hook_sink):
    with stack.db.write() as s:
        ana = auth.create_user(s, "ana", "password-123", "analyst")
    saved = notify_prefs.save(
        stack.db,
        settings,
        ana,
        email="ana@example.com",
        slack_url=f"http://127.0.0.1:{gates['slack'].port}/services/T/B/x",
        webhook_url=f"http://127.0.0.1:{gates['webhook'].port}/hooks/leadrelay",
        on_completed=True,
        on_failed=True,
        on_needs_admin=True,
    )
    stack.start(faults=FAST)
    stack.wait_worker_ready()
    result = stack.cli("import", str(leads_file(tmp_path / "leads.csv")), "--owner", "ana")
    assert result.returncode == 0, result.stderr
    job = stack.wait_job(int(result.stdout.split()[1]))
    assert job.status == "completed"

    received = {"email": smtp_sink.messages, "slack": slack_sink.requests, "webhook": hook_sink.requests}
    current, killed = "worker", {}
    for n in range(1, 4):
        # Whichever channel the worker is sending on now: its gate holds the connection, nothing has arrived.
        channel = wait_for(
            lambda: next((c for c, g in gates.items() if g.holding and g.held), None), 60, "a send in progress"
        )
        pid = stack.procs[current].pid
        row = wait_for(
            lambda pid=pid: next(
                (r for r in outbox(stack) if r.status == "sending" and str(r.claimed_by).endswith(f":{pid}")), None
            ),
            30,
            "the claimed row",
        )
        assert row.channel == channel and received[channel] == []
        stack.kill(current, signal.SIGKILL)
        killed[row.id] = pid
        gates[channel].open()
        current = f"worker{n}"
        stack.start_worker(current)

    rows = wait_for(lambda: (r := outbox(stack)) and all(x.status == "sent" for x in r) and r, 60, "every row sent")
    assert [(r.channel, r.attempts) for r in rows] == [("email", 2), ("slack", 2), ("webhook", 2)]
    assert set(killed) == {r.id for r in rows}
    assert all(not str(r.claimed_by).endswith(f":{killed[r.id]}") for r in rows)
    assert (len(smtp_sink.messages), len(slack_sink.requests), len(hook_sink.requests)) == (1, 1, 1)
    link = f"https://leadrelay.test/history?job={job.id}"
    assert link in smtp_sink.messages[0].get_payload(decode=True).decode()
    assert link in json.loads(slack_sink.requests[0].body)["text"]
    hook = hook_sink.requests[0]
    assert signature_matches(hook.body, saved.new_secret, hook.headers[SIGNATURE_HEADER.lower()])
    assert json.loads(hook.body)["job"] == {
        "job_id": job.id,
        "file_name": "leads.csv",
        "status": "completed",
        "leads": 4,
        "enriched": 4,
        "failed": 0,
        "error": None,
    }


def test_two_workers_drain_one_outbox_and_send_each_message_once(tmp_path, database_url, redis_server, settings):
    sink = HttpSink(delay=0.05)
    with sink.serve() as server:
        stack = Stack(tmp_path, database_url, redis_server, notify_poll_seconds=0.1, notify_lease_seconds=30)
        try:
            with stack.db.write() as s:
                ana = auth.create_user(s, "ana", "password-123", "analyst")
            notify_prefs.save(
                stack.db, settings, ana, email="", webhook_url=f"{server.url}/hook",
                on_completed=True, on_failed=True, on_needs_admin=True,
            )  # fmt: skip
            stack.start(faults=FAST)
            stack.wait_worker_ready("worker")
            stack.start_worker("worker1")
            stack.wait_worker_ready("worker1")
            now = utcnow()
            with stack.db.write() as s:
                prefs = s.get(NotificationPrefs, ana.id)
                for i in range(60):
                    facts = {"job_id": i + 1, "file_name": f"f{i}.csv", "leads": 1, "enriched": 1}
                    notifications.enqueue(s, prefs, "job_completed", f"job_completed:{i}", facts, now, job_id=i + 1)
            rows = wait_for(
                lambda: (r := outbox(stack)) and all(x.status == "sent" for x in r) and r, 90, "every row sent"
            )
        finally:
            stack.stop()
    delivered = [r.headers["x-leadrelay-delivery"] for r in sink.requests]
    assert sorted(delivered, key=int) == [str(r.id) for r in rows] and len(rows) == 60
    senders = {r.claimed_by for r in rows}
    assert len(senders) == 2, f"one worker sent everything: {senders}"
    assert all(r.attempts == 1 for r in rows)
