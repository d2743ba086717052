"""Prometheus metrics: webhook latency measured in-process, run and queue figures read from the database."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core import status
from core.db import Database
from core.models import utcnow


class DatabaseCollector(Collector):
    """Reads runs by outcome, queue length and slot idle time at scrape time."""

    def __init__(self, db: Database, default_run_seconds: float) -> None:
        self.db = db
        self.default_run_seconds = default_run_seconds

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with self.db.read() as session:
            counts = status.runs_by_status(session)
            view = status.slot_view(session, now)
        runs = GaugeMetricFamily("leadrelay_runs", "Runs by status (outcome for ended runs).", labels=["status"])
        for name, n in sorted(counts.items()):
            runs.add_metric([name], n)
        yield runs
        yield GaugeMetricFamily("leadrelay_queue_length", "Runs waiting for the slot.", value=counts.get("pending", 0))
        idle = (now - view.idle_since).total_seconds() if view.idle_since and view.run_id is None else 0.0
        yield GaugeMetricFamily(
            "leadrelay_slot_idle_seconds", "Seconds the slot has been idle (0 while busy).", value=idle
        )
        yield GaugeMetricFamily("leadrelay_slot_fence", "The slot's fencing token.", value=view.fence)


class WebhookMetrics:
    """The webhook server's own counters and latency histogram, in a registry of its own."""

    def __init__(self, db: Database, default_run_seconds: float) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "leadrelay_webhook_deliveries", "Webhook requests by result.", ["result"], registry=self.registry
        )
        self.latency = Histogram(
            "leadrelay_webhook_latency_seconds",
            "Time to record a webhook delivery and answer.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.registry.register(DatabaseCollector(db, default_run_seconds))
