"""The webhook server in-process: secrets, body cap, validation, one effect per container, status API, metrics."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.testclient import TestClient

from core.config import WEBHOOK_PATH
from core.db import Database
from core.models import WebhookDelivery
from webhook_server import RateLimiter, create_app

SECRET = "dev-webhook-secret"
PAYLOAD = {
    "agentId": "4000000000000001", "agentName": "Profile Scraper", "containerId": "3358014727012763",
    "script": "LinkedIn Profile Scraper.js", "scriptOrg": "phantombuster", "branch": "master",
    "launchDuration": 121, "runDuration": 1850, "resultObject": "[]", "exitMessage": "finished", "exitCode": 0,
}  # fmt: skip


class Deliveries(list):
    """The containers the server rang the worker for (a doorbell that only counts deliveries)."""

    def delivery(self, container_id: str) -> None:
        self.append(container_id)


@pytest.fixture
def server(settings, db: Database):
    enqueued = Deliveries()
    app = create_app(settings, db, enqueued)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, enqueued, db


def _deliveries(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(WebhookDelivery)))


def test_delivery_recorded_once_and_enqueued_once(server):
    client, enqueued, db = server
    for _ in range(3):
        r = client.post(f"{WEBHOOK_PATH}?secret={SECRET}", json=PAYLOAD)
        assert r.status_code == 200
    assert enqueued == ["3358014727012763"]
    assert _deliveries(db) == 1


@pytest.mark.parametrize("query", ["", "?secret=", "?secret=wrong", "?secret=dev-webhook-secreT", "?other=x"])
def test_wrong_secret_401_and_no_write(server, query):
    client, enqueued, db = server
    r = client.post(f"{WEBHOOK_PATH}{query}", json=PAYLOAD)
    assert r.status_code == 401
    assert enqueued == [] and _deliveries(db) == 0


def test_body_cap_413(server, settings):
    client, _enqueued, db = server
    big = json.dumps({**PAYLOAD, "resultObject": "x" * (settings.webhook_max_body_bytes + 10)})
    r = client.post(f"{WEBHOOK_PATH}?secret={SECRET}", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and _deliveries(db) == 0


@pytest.mark.parametrize(
    "body", [b"", b"{", b"[1]", b'{"containerId": null}', b'{"containerId": "1", "exitCode": "x"}']
)
def test_malformed_400(server, body):
    client, enqueued, db = server
    r = client.post(f"{WEBHOOK_PATH}?secret={SECRET}", content=body)
    assert r.status_code == 400 and _deliveries(db) == 0 and enqueued == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(st.sampled_from(list(PAYLOAD)), json_values, max_size=8).map(lambda d: json.dumps(d).encode()),
    ),
    secret=st.one_of(st.just(SECRET), st.text(max_size=30)),
)
def test_generated_bad_requests_never_5xx(server, body, secret):
    client, _enqueued, db = server
    before = _deliveries(db)
    r = client.post(WEBHOOK_PATH, params={"secret": secret}, content=body)
    assert r.status_code < 500
    if r.status_code != 200:
        assert _deliveries(db) == before


def test_status_api_requires_token_and_rate_limits(server):
    client, _, _ = server
    assert client.get("/api/phantom_buster/status").status_code == 401
    assert client.get("/api/phantom_buster/status", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = client.get("/api/phantom_buster/status", headers={"Authorization": "Bearer dev-status-token"})
    assert r.status_code == 200
    body = r.json()
    assert {"is_processing", "current_company", "queue_length", "current_job_duration", "estimated_completion"} <= set(
        body
    )
    assert body["slot"]["state"] == "idle"
    codes = [
        client.get("/api/phantom_buster/status", headers={"Authorization": "Bearer dev-status-token"}).status_code
        for _ in range(70)
    ]
    assert 429 in codes


def test_rate_limiter_refills():
    limiter = RateLimiter(per_minute=2)
    assert limiter.allow("a", now=0) == 0 and limiter.allow("a", now=0) == 0
    assert limiter.allow("a", now=0) > 0
    assert limiter.allow("a", now=31) == 0


def test_health_and_metrics(server):
    client, _, _ = server
    assert client.get("/healthz").json() == {"ok": True}
    client.post(f"{WEBHOOK_PATH}?secret={SECRET}", json=PAYLOAD)
    text = client.get("/metrics").text
    assert "leadrelay_webhook_latency_seconds_bucket" in text
    assert 'leadrelay_webhook_deliveries_total{result="accepted"} 1.0' in text
    assert "leadrelay_queue_length" in text and "leadrelay_slot_idle_seconds" in text


def test_secret_never_logged(server, caplog):
    client, _, _ = server
    with caplog.at_level(logging.DEBUG):
        client.post(f"{WEBHOOK_PATH}?secret={SECRET}", json=PAYLOAD)
        client.post(f"{WEBHOOK_PATH}?secret={SECRET}", content=b"{")
    # The httpx records are the test client's (playing PhantomBuster); the server's own logs must not hold it.
    server_side = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert all(SECRET not in m for m in server_side)


# Text a database may refuse (NUL, lone surrogates written as JSON escapes), numbers JSON has no word for, and
# nesting deep enough to break a recursive parser: each body is answered 2xx or 4xx, never 5xx, on both databases.
hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["\x00", "a\x00b", "\ufffd", "Ærø\x00", "\u202e"]),
)
raw_fragments = st.sampled_from(
    [
        b'"\\u0000"', b'"\\ud800"', b'"\\udfff x"', b'"\\ud83d\\ude00"', b"NaN", b"Infinity", b"-Infinity",
        b"1e999", b"123456789012345678901234567890", b'"\\"', b"[" * 1000 + b"]" * 1000, b"{}" * 3,
    ]
)  # fmt: skip


@hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(["agentName", "exitMessage", "resultObject", "script", "containerId", "extra"]),
    text=hostile_text,
    raw=raw_fragments,
    use_raw=st.booleans(),
)
def test_hostile_text_and_numbers_never_5xx_on_either_database(server, field, text, raw, use_raw):
    client, _enqueued, db = server
    value = raw if use_raw else json.dumps(text).encode()
    body = b'{"containerId": "3358014727012763", "exitCode": 0, "' + field.encode() + b'": ' + value + b"}"
    r = client.post(f"{WEBHOOK_PATH}?secret={SECRET}", content=body)
    assert r.status_code < 500, (r.status_code, body[:200])
    if r.status_code == 200:
        with db.read() as s:
            stored = [row.payload for row in s.scalars(select(WebhookDelivery))]
        assert all("\x00" not in json.dumps(p, ensure_ascii=False) for p in stored)


def test_nesting_a_thousand_levels_deep_is_a_400(server):
    client, _enqueued, db = server
    body = b'{"containerId": "1", "resultObject": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert client.post(f"{WEBHOOK_PATH}?secret={SECRET}", content=body).status_code == 400
    assert _deliveries(db) == 0


def test_wrong_tokens_are_rate_limited_like_right_ones(server):
    client, _, _ = server
    codes = [
        client.get("/api/phantom_buster/status", headers={"Authorization": f"Bearer guess-{n}"}).status_code
        for n in range(70)
    ]
    assert codes[0] == 401 and 429 in codes
