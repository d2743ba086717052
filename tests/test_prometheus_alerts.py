"""docs/prometheus-alerts.yml: it parses, names only metrics the webhook server exposes, and (with promtool) fires."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from core.config import WEBHOOK_PATH
from tests.support import factories
from tests.support.services import unavailable
from webhook_server import create_app

RULES = Path(__file__).resolve().parents[1] / "docs" / "prometheus-alerts.yml"
# Series Prometheus makes itself for every scrape target (not in any /metrics body).
PROMETHEUS_OWN = {"up"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


class Doorbell:
    def delivery(self, container_id: str) -> None:
        pass


def rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (functions, keywords, labels and durations left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name, rest = match.group(0), text[match.end() :].lstrip()
        if name in PROMQL_WORDS or rest.startswith("("):
            continue
        names.add(name)
    return names


def exposed(settings, db) -> set[str]:
    """Every sample name of the real /metrics, with each delivery result counted once so its series exists."""
    app = create_app(settings, db, Doorbell())  # type: ignore[arg-type]
    with TestClient(app) as client:
        client.post(f"{WEBHOOK_PATH}?secret=wrong", json={})
        client.post(f"{WEBHOOK_PATH}?secret=dev-webhook-secret", content=b"{")
        body = client.get("/metrics").text
    return {sample.name for family in text_string_to_metric_families(body) for sample in family.samples}


def test_every_rule_is_complete_and_named_once():
    found = rules()
    assert len(found) >= 5
    assert len({r["alert"] for r in found}) == len(found)
    for rule in found:
        assert set(rule) >= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_name_only_metrics_the_webhook_server_exposes(settings, sqlite_url):
    from core.db import Database

    db = Database(sqlite_url)
    with db.write() as s:  # runs in the database, so the runs-by-status gauge has samples
        factories.job(s, factories.user(s, "ana"), {"Acme": 3})
    try:
        available = exposed(settings, db) | PROMETHEUS_OWN
    finally:
        db.dispose()
    used = {rule["alert"]: metric_names(rule["expr"]) for rule in rules()}
    assert all(used.values())  # the scan sees names (one that finds none proves nothing)
    missing = {alert: sorted(names - available) for alert, names in used.items() if names - available}
    assert missing == {}
    assert {"leadrelay_queue_length", "leadrelay_slot_idle_seconds", "leadrelay_runs"} <= set().union(*used.values())
    assert "leadrelay_webhook_deliveries_total" in set().union(*used.values())


def test_the_name_scan_catches_a_metric_that_does_not_exist():
    assert metric_names('sum by (le) (rate(leadrelay_nope_bucket{a="b"}[5m])) > 1 and on() up == 0') == {
        "leadrelay_nope_bucket",
        "up",
    }


PROMTOOL_TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'leadrelay_queue_length{{job="leadrelay"}}'
        values: '5x90'
      - series: 'leadrelay_slot_idle_seconds{{job="leadrelay"}}'
        values: '0+60x90'
      - series: 'leadrelay_runs{{job="leadrelay",status="success"}}'
        values: '10+1x90'
      - series: 'leadrelay_webhook_deliveries_total{{job="leadrelay",result="accepted"}}'
        values: '7x90'
      - series: 'up{{job="leadrelay"}}'
        values: '1x90'
    alert_rule_test:
      - eval_time: 20m
        alertname: LeadRelayQueueStalled
        exp_alerts: []
      - eval_time: 40m
        alertname: LeadRelayQueueStalled
        exp_alerts:
          - exp_labels: {{severity: warning, job: leadrelay}}
            exp_annotations:
              summary: "LeadRelay: the slot has been idle 40m 0s with work queued"
              description: "Check the worker (Admin page heartbeat), the queue server and whether the queue is paused."
      - eval_time: 80m
        alertname: LeadRelayWebhooksStopped
        exp_alerts:
          - exp_labels: {{severity: warning}}
            exp_annotations:
              summary: "LeadRelay: runs end but PhantomBuster's webhooks stopped arriving"
              description: "Check the agent's webhook URL (PUBLIC_BASE_URL) and that PhantomBuster can reach it."
      - eval_time: 80m
        alertname: LeadRelayNothingFinishes
        exp_alerts: []
      - eval_time: 80m
        alertname: LeadRelayDown
        exp_alerts: []
  - interval: 1m
    input_series:
      - series: 'leadrelay_runs{{job="leadrelay",status="success"}}'
        values: '10+1x90'
      - series: 'leadrelay_webhook_deliveries_total{{job="leadrelay",result="accepted"}}'
        values: '0+1x90'
    alert_rule_test:
      - eval_time: 80m
        alertname: LeadRelayWebhooksStopped
        exp_alerts: []
"""


def test_promtool_checks_the_rules_and_they_fire_as_described(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool is not installed (apt-get install prometheus); the checks above still ran")
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    spec = tmp_path / "alerts_test.yml"
    spec.write_text(PROMTOOL_TESTS.format(rules=RULES), encoding="utf-8")
    result = subprocess.run([promtool, "test", "rules", str(spec)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
