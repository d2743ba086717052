"""The simulator in-process, driven by a manual clock: exact timings, reproducible seeds, fault plans."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox import faults
from sandbox.clock import ManualTime
from sandbox.models import ApiError
from sandbox.sheets import StaticSheetFetcher
from sandbox.simulator import Simulator
from sandbox.views import container_json
from sandbox.webhooks import CollectingSender

AGENT = "4000000000000001"
URLS = ["https://www.linkedin.com/in/jane-doe-42", "https://www.linkedin.com/in/max"]
SHEET = "http://sheets.test/batch.csv"
SHEETS = StaticSheetFetcher({SHEET: "profileUrl\n" + "\n".join(URLS) + "\n"})


def make(**knobs: Any) -> tuple[Simulator, ManualTime, CollectingSender]:
    t = ManualTime()
    sender = CollectingSender()
    faults = {"run_seconds": [2, 2], "start_delay_seconds": 0.5, **knobs}
    sim = Simulator(faults=faults, clock=t, scheduler=t, sender=sender, sheets=SHEETS)
    sim.add_agent(AGENT, webhook_url="http://127.0.0.1:9/hook?secret=x")
    return sim, t, sender


def launch(sim: Simulator, **extra: Any) -> str:
    bonus = {"spreadsheetUrl": SHEET, "columnName": "profileUrl", "csvName": f"run-{sim.record_json()['running']}"}
    return sim.launch({"id": AGENT, "bonusArgument": {**bonus, **extra.pop("bonus", {})}, **extra})


def test_exact_lifecycle_times() -> None:
    sim, t, sender = make()
    cid = launch(sim)
    c = sim.get_container(cid)
    assert c.status == "starting"
    t.advance(0.5)
    assert c.status == "running" and c.launched_at == t.now
    t.advance(1.99)
    assert c.status == "running" and sender.deliveries == []
    t.advance(0.01)
    view = container_json(sim, c)
    assert view["status"] == "finished" and view["endedAt"] - view["launchedAt"] == 2000
    payload = sender.deliveries[0].payload
    assert payload["launchDuration"] == 500 and payload["runDuration"] == 2000
    assert [p["profileUrl"] for p in json.loads(payload["resultObject"])] == URLS
    assert t.pending == 0


def test_same_seed_same_ids_and_outcomes() -> None:
    def run() -> list[tuple[str, int | None, str | None]]:
        sim, t, _ = make(seed=42, max_parallelism=10, exit_codes={"87": 0.3}, empty_result_rate=0.3, run_seconds=[1, 3])
        ids = [launch(sim) for _ in range(8)]
        t.advance(10)
        return [(cid, sim.get_container(cid).exit_code, sim.get_container(cid).result_object) for cid in ids]

    first = run()
    assert first == run()
    assert {code for _, code, _ in first} == {0, 87}


def test_parallelism_counts_all_containers_and_stop_only_kills_the_agent() -> None:
    sim, t, sender = make(max_parallelism=2)
    sim.add_agent("4000000000000002")
    a, b = launch(sim), launch(sim)
    with pytest.raises(ApiError) as exc:
        launch(sim)
    assert exc.value.status == 429 and exc.value.slug == "maxParallelismReached"
    other = sim.launch({"id": "4000000000000002"})
    assert sim.record_json()["max_concurrent"] == 3
    assert set(sim.stop_agent({"id": AGENT})) == {a, b}
    assert sim.get_container(a).end_type == "killed" and sim.get_container(other).status == "starting"
    assert [d.payload["exitMessage"] for d in sender.deliveries] == ["killed", "killed"]
    t.advance(5)
    assert sim.get_container(other).status == "finished"


def test_early_webhook_then_no_second_one() -> None:
    sim, t, sender = make(webhook_early_seconds=1.5)
    cid = launch(sim)
    t.advance(0.5 + 0.5)
    assert len(sender.deliveries) == 1 and sim.get_container(cid).status == "running"
    t.advance(1.5)
    c = sim.get_container(cid)
    assert c.status == "finished" and c.result_object == sender.deliveries[0].payload["resultObject"]
    assert len(sender.deliveries) == 1


def test_finish_control_and_launch_error() -> None:
    sim, _, sender = make(launch_error_rate=1.0)
    cid = launch(sim)
    assert sim.finish() == [cid]
    c = sim.get_container(cid)
    assert c.status == "launch error" and c.launched_at is None
    sim.set_faults({"launch_error_rate": 0.0, "webhook_on_launch_error": False})
    assert len(sender.deliveries) == 1
    cid = launch(sim)
    assert sim.finish(cid) == [cid] and sim.get_container(cid).exit_code == 0


def test_save_argument_and_bonus_merge() -> None:
    sim, t, _ = make()
    saved = {"spreadsheetUrl": URLS[0], "sessionCookie": "c", "x": 1}
    cid = sim.launch({"id": AGENT, "argument": saved, "saveArgument": True, "bonusArgument": json.dumps({"x": 2})})
    assert sim.get_container(cid).argument == {**saved, "x": 2}
    assert sim.agents[AGENT].argument == saved
    t.advance(5)
    cid = launch(sim, bonus={"numberOfAddsPerLaunch": 1})  # the bonus spreadsheetUrl wins over the saved one
    t.advance(1)
    assert sim.get_container(cid).profile_urls == URLS[:1]


def test_record_is_bounded() -> None:
    sim = Simulator(clock=ManualTime(), scheduler=ManualTime(), sender=CollectingSender(), sheets=SHEETS, max_calls=3)
    for i in range(5):
        sim.record_call("GET", f"/api/v2/x{i}", 200)
    assert [c["path"] for c in sim.record_json()["calls"]] == ["/api/v2/x2", "/api/v2/x3", "/api/v2/x4"]


def test_fault_knob_validation() -> None:
    base = faults.defaults()
    assert faults.merge(base, {"run_seconds": 1})["run_seconds"] == [1.0, 1.0]
    assert faults.merge(base, {"hang_endpoints": "/api/v2/agents/launch"})["hang_endpoints"] == ["agents/launch"]
    assert faults.merge(base, {"org_timezone": "Europe/Oslo"})["org_timezone"] == "Europe/Oslo"
    assert faults.merge(base, {"early_stop_after": None})["early_stop_after"] is None
    new_bad = [
        {"org_timezone": "Nowhere/City"},
        {"org_timezone": 3},
        {"row_keys": "modern"},
        {"early_stop_reason": "tired"},
        {"result_files_csv_key": "csv"},
        {"early_stop_after": -1},
        {"missing_profile_rate": 1.5},
        {"skip_processed": "yes"},
        {"sheet_max_bytes": 0},
        {"result_object_scope": "all"},
    ]
    for bad in new_bad:
        with pytest.raises(faults.FaultError):
            faults.merge(base, bad)
    defaults = faults.defaults()  # the documented behaviour by default, random failures off
    assert defaults["skip_processed"] and defaults["require_credentials"] and defaults["counts_as_strings"]
    assert defaults["default_adds_per_launch"] == 100 and defaults["row_keys"] == "current"
    assert all(defaults[k] == 0.0 for k in ("missing_profile_rate", "early_stop_rate", "result_files_rate"))
    for bad in ({"x": 1}, {"webhook_duplicates": 0}, {"exit_codes": {"0": 0.5}}, {"hang_mode": "sometimes"}, []):
        with pytest.raises(faults.FaultError):
            faults.merge(base, bad)
    with pytest.raises(ValueError):
        Simulator(faults={"seed": "x"}, sender=CollectingSender())


def test_early_webhook_carries_the_rows_saved_once() -> None:
    sim, t, sender = make(webhook_early_seconds=1.0)
    cid = launch(sim)
    t.advance(5)
    c = sim.get_container(cid)
    assert c.status == "finished" and len(sender.deliveries) == 1
    assert c.result_object == sender.deliveries[0].payload["resultObject"]
    assert len(sim.store.get(AGENT, c.csv_name).rows) == len(URLS)  # written once, not twice


def test_the_sheet_is_fetched_at_container_start() -> None:
    sheets = StaticSheetFetcher({SHEET: "profileUrl\n" + URLS[0] + "\n"})
    t = ManualTime()
    sim = Simulator(faults={"start_delay_seconds": 1.0}, clock=t, scheduler=t, sender=CollectingSender(), sheets=sheets)
    sim.add_agent(AGENT)
    sim.launch({"id": AGENT, "bonusArgument": {"spreadsheetUrl": SHEET, "columnName": "profileUrl"}})
    assert sheets.fetched == []
    t.advance(1.0)
    assert sheets.fetched == [SHEET]
