"""Webhook payload validation, constant-time secret check with rotation, and the inbox's one effect per container."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core import webhooks
from core.errors import InvalidInput
from core.lifecycle import inbox
from core.models import WebhookDelivery


def test_secret_matching():
    assert webhooks.secret_matches("b", ["a", "b"])
    assert not webhooks.secret_matches("c", ["a", "b"])
    assert not webhooks.secret_matches(None, ["a"])
    assert not webhooks.secret_matches("", [""])


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"exitCode": 0}',
        b'{"containerId": true}',
        b'{"containerId": "../etc"}',
        b'{"containerId": "1", "exitCode": "0"}',
        b'{"containerId": "1", "runDuration": "x"}',
        b"\xff\xfe",
    ],
)
def test_bad_payloads_refused(body):
    with pytest.raises(InvalidInput):
        webhooks.parse_payload(body)


def test_payload_shape_accepted():
    p = webhooks.parse_payload(
        json.dumps(
            {
                "agentId": "1",
                "containerId": 3358014727012763,
                "exitCode": 0,
                "exitMessage": "finished",
                "resultObject": "[]",
            }
        ).encode()
    )
    assert p.container_id == "3358014727012763" and p.exit_code == 0


def test_inbox_one_row_per_body_and_a_cap_per_container(db):
    p = webhooks.parse_payload(b'{"containerId": "42", "exitCode": 0}')
    with db.write() as s:
        assert webhooks.receive(s, p).ring
    with db.write() as s:
        again = webhooks.receive(s, p)
        assert not again.ring and not again.new_body
    other = webhooks.parse_payload(b'{"containerId": "42", "exitCode": 1}')  # a different body: kept beside it
    with db.write() as s:
        assert webhooks.receive(s, other).new_body
    with db.read() as s:
        rows = list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    assert [(r.payload["exitCode"], r.duplicates) for r in rows] == [(0, 1), (1, 0)]
    with db.write() as s:  # a flood of distinct bodies for one container is only counted past the cap
        for n in range(inbox.MAX_BODIES_PER_CONTAINER + 5):
            webhooks.receive(s, webhooks.parse_payload(f'{{"containerId": "43", "runDuration": {n}}}'.encode()))
    with db.read() as s:
        kept = list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.container_id == "43")))
    assert len(kept) == inbox.MAX_BODIES_PER_CONTAINER and sum(r.duplicates for r in kept) == 5


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"containerId": "1", "a": ' + b"[" * 100 + b"]" * 100 + b"}",
        b'{"containerId": "1", "exitCode": NaN}',
        b'{"containerId": "1", "runDuration": Infinity}',
        b'{"containerId": "1", "agentName": "\\ud800"}',
        b'{"containerId": "1", "exitCode": 99999999999}',
    ],
)
def test_hostile_bodies_are_refused_with_a_reason(raw):
    with pytest.raises(InvalidInput):
        webhooks.parse_payload(raw)


def test_text_a_database_cannot_store_is_cleaned():
    p = webhooks.parse_payload(b'{"containerId": "1", "agentName": "a\\u0000b", "k\\u0000": "\\u0000"}')
    assert p.body["agentName"] == "ab" and p.body["k"] == ""
