"""Webhook payload validation, constant-time secret check with rotation, and the inbox's one effect per container."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core import webhooks
from core.errors import InvalidInput
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


def test_inbox_one_row_per_container(db):
    p = webhooks.parse_payload(b'{"containerId": "42", "exitCode": 0}')
    with db.write() as s:
        assert webhooks.record(s, p) is True
    with db.write() as s:
        assert webhooks.record(s, p) is False
    with db.read() as s:
        rows = list(s.scalars(select(WebhookDelivery)))
    assert len(rows) == 1 and rows[0].duplicates == 1
