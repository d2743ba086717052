"""The Admin page's health: probes cached briefly, quota from orgs/fetch-resources, the agent's set-up checked."""

from __future__ import annotations

from core import health
from core.config import SANDBOX_AGENT_ID, load_settings


def test_health_probes_are_cached(settings, monkeypatch, db):
    calls = []
    monkeypatch.setattr(
        health, "ping_queue_server", lambda url: calls.append(url) or health.Probe(True, "answers PING", 1.0)
    )
    down = health.Probe(False, "down", 2.0)
    monkeypatch.setattr(health, "ask_phantombuster", lambda s: (down, None, health.Probe(False, "not checked", 0)))
    health.clear_cache()
    with db.read() as s:
        first = health.check(s, settings)
        second = health.check(s, settings)
    health.clear_cache()
    assert len(calls) == 1
    assert first.queue_server.ok and not first.phantombuster.ok and second.quota is None
    assert not first.worker_ok and first.worker_at is None


def test_quota_and_the_agent_check_come_from_phantombuster(sandbox_process):
    sandbox_process.reset()
    sb = load_settings(phantombuster_base_url=sandbox_process.api_url)
    probe, resources, agent = health.ask_phantombuster(sb)
    assert probe.ok and resources is not None and resources.monthly_remaining > 0
    # The session sandbox's agent has no webhook: the check says what to change.
    assert not agent.ok and "webhook" in agent.detail.lower()
    client = sandbox_process.client()
    try:
        client._request(
            "POST", "agents/save", json={"id": SANDBOX_AGENT_ID, "notifications": {"webhook": sb.webhook_url}}
        )
        assert health.ask_phantombuster(sb)[2].ok
    finally:
        client._request("POST", "agents/save", json={"id": SANDBOX_AGENT_ID, "notifications": {"webhook": ""}})
        client.http.close()
