"""A run's batch URL: the CSV PhantomBuster downloads, only with this launch's token, only while it can be needed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from starlette.testclient import TestClient

from core import lifecycle
from core.lifecycle import batches
from core.models import Run, utcnow
from tests.support import factories
from tests.support.doorbell import QueueDoorbell
from webhook_server import create_app


def _path(token: str) -> str:
    return batches.url("", token)


def test_the_token_answers_for_its_own_run_in_flight_and_a_margin_after(db, settings):
    with db.write() as s:
        owner = factories.user(s)
        factories.job(s, owner, {"Acme": 2, "Beta": 1}, batch_size=2)
        plan = lifecycle.claim_next(s, settings, holder="w", now=utcnow(), actor="worker")
    with TestClient(create_app(settings, db, QueueDoorbell())) as client:
        answer = client.get(_path(plan.batch_token))
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        lines = answer.text.splitlines()
        assert lines[0] == "profileUrl" and lines[1:] == [
            "https://www.linkedin.com/in/acme-person-0",
            "https://www.linkedin.com/in/acme-person-1",
        ]
        with db.read() as s:
            assert s.get(Run, plan.run_id).batch_fetched_at is not None
        assert client.get(_path(plan.batch_token[:-1] + "x")).status_code == 404  # a wrong token
        assert client.get(_path("a" * 200)).status_code == 404
        with db.write() as s:  # the run ended a minute ago: still there for a late download
            s.execute(update(Run).where(Run.id == plan.run_id).values(status="success", ended_at=utcnow()))
        assert client.get(_path(plan.batch_token)).status_code == 200
        margin = settings.batch_url_margin_seconds
        with db.write() as s:  # past the margin: gone
            ended = utcnow() - timedelta(seconds=margin + 1)
            s.execute(update(Run).where(Run.id == plan.run_id).values(ended_at=ended))
        assert client.get(_path(plan.batch_token)).status_code == 404


def test_a_new_launch_of_the_run_replaces_its_token(db, settings):
    with db.write() as s:
        owner = factories.user(s)
        factories.job(s, owner, {"Acme": 1})
        plan = lifecycle.claim_next(s, settings, holder="w", now=utcnow(), actor="worker")
        lifecycle.put_back(
            s, plan.run_id, token=plan.token, reason="t", count_attempt=False, now=utcnow(), actor="worker"
        )
    with TestClient(create_app(settings, db, QueueDoorbell())) as client:
        assert client.get(_path(plan.batch_token)).status_code == 404  # queued again: nothing before the launch
        with db.write() as s:
            again = lifecycle.claim_next(s, settings, holder="w", now=utcnow(), actor="worker")
        assert again.run_id == plan.run_id and again.batch_token != plan.batch_token
        assert again.csv_name != plan.csv_name
        assert client.get(_path(plan.batch_token)).status_code == 404
        assert client.get(_path(again.batch_token)).status_code == 200
    with db.read() as s:
        stored = s.scalar(select(Run.batch_token_hash).where(Run.id == plan.run_id))
    assert again.batch_token not in stored  # only a hash is kept
