"""Pacing one LinkedIn account over a simulated fortnight: the budget spent, never exceeded, only in working hours.

A controlled clock drives the real dispatcher (core.lifecycle's gate, claim, budget cut and ledger) on a real
SQLite database; 20,000 leads from 5 analysts arrive over the first days, and each run takes a random 4-8 s a
profile plus 30 s. Each morning every queued job's ETA is sampled and later held against when it really ended.
The baseline, in the same process, is the dispatcher without an account gate (as before): launches whenever the
slot frees. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from collections import defaultdict
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select

from core import accounts, forecast, pacing
from core.config import load_settings
from core.db import Database
from core.models import Job
from core.schema import migrate
from tests.support.pacing_sim import Simulation

OSLO = ZoneInfo("Europe/Oslo")
START = datetime(2026, 11, 30, 6, 0, tzinfo=OSLO)  # a Monday morning
ANALYSTS = ("ana", "ole", "kari", "per", "liv")


def arrivals(rng: random.Random, total: int = 20_000) -> list[tuple[str, int, timedelta]]:
    """Files of 500-3,000 leads from five analysts over the first three days."""
    files, left = [], total
    while left > 0:
        size = min(left, rng.randint(500, 3000))
        files.append((rng.choice(ANALYSTS), size, timedelta(minutes=rng.randint(0, 3 * 24 * 60))))
        left -= size
    return files


def simulate(template: Path, workdir: Path, *, paced: bool, seed: int, days: int) -> dict:
    path = workdir / f"{'paced' if paced else 'baseline'}.db"
    shutil.copy(template, path)
    db = Database(f"sqlite:///{path}")
    settings = load_settings(data_dir=workdir, phantombuster_api_key="bench-not-a-key",
                             phantombuster_agent_id="1", phantombuster_webhook_secret="x" * 20)  # fmt: skip
    rng = random.Random(seed)
    with db.write() as s:
        account = accounts.current(s, settings)
        day = "mon,tue,wed,thu,fri"
        change = (
            accounts.LimitChange(1500, 50, 10.0, 5.0, "08:00", "18:00", day, "Europe/Oslo", 0.5, 0.15)
            if paced
            else accounts.LimitChange(10_000, 50, 0.0, 0.0, "00:00", "24:00", day + ",sat,sun", "Europe/Oslo", 1, 0)
        )
        accounts.change_limits(s, account, change, settings, "bench", START)
    sim = Simulation(db, settings, START, duration=lambda n: 30 + n * rng.uniform(4.0, 8.0))
    for n, (owner, size, offset) in enumerate(arrivals(random.Random(seed + 1))):
        sim.at(START + offset, "job", owner=owner, companies={f"Company {n}": size}, batch_size=50)
    samples: list[tuple[int, datetime, datetime]] = []  # job, sampled at, estimated end

    def morning(sim: Simulation) -> None:
        with sim.db.write() as s:
            plan = forecast.forecast(s, settings, sim.now)
        samples.extend((job_id, sim.now, place.eta.likely) for job_id, place in plan.jobs.items() if place.position)

    for d in range(days):
        sim.at((START + timedelta(days=d)).replace(hour=7, minute=30), "call", fn=morning)
    end = START + timedelta(days=days)
    sim.run_until(end)

    with db.read() as s:
        finished = dict(s.execute(select(Job.id, Job.finished_at).where(Job.finished_at.is_not(None))).all())
        limits = accounts.limits(accounts.current(s, settings), settings)
    db.dispose()
    strict = pacing.Limits(1500, 50, 600, 300, time(8), time(18), pacing.parse_days("mon,tue,wed,thu,fri"),
                           OSLO) if not paced else limits  # fmt: skip
    ledger = sim.ledger()
    per_day: dict = defaultdict(int)
    outside = 0
    for at, profiles in ledger:
        per_day[at.astimezone(OSLO).date()] += profiles
        outside += not pacing.in_window(strict, at)
    over = sum(1 for day, sent in per_day.items() if sent > pacing.allowance_on(strict, day))
    # What the limits allowed while work was queued: the allowance of every working day whose whole working
    # hours had work waiting (from the first file's arrival until the queue emptied), against what it sent.
    first = START + min(offset for _, _, offset in arrivals(random.Random(seed + 1)))
    emptied = max(finished.values()) if len(finished) == len(arrivals(random.Random(seed + 1))) else end
    allowed = sent = 0
    for d in range(days):
        day = (START + timedelta(days=d)).date()
        if first <= datetime.combine(day, time(8), OSLO) and datetime.combine(day, time(18), OSLO) <= emptied:
            allowed += pacing.allowance_on(limits, day)
            sent += per_day.get(day, 0)
    ratios = [
        (finished[job] - at).total_seconds() / max(1.0, (eta - at).total_seconds())
        for job, at, eta in samples
        if job in finished and eta > at
    ]

    ratios.sort()
    settled = START + max(offset for _, _, offset in arrivals(random.Random(seed + 1)))
    known = sorted(
        (finished[job] - at).total_seconds() / max(1.0, (eta - at).total_seconds())
        for job, at, eta in samples
        if job in finished and eta > at and at >= settled
    )

    def q(p: float) -> float | None:
        return round(ratios[min(len(ratios) - 1, int(p * len(ratios)))], 3) if ratios else None

    return {
        "sent": sent,
        "allowed": allowed,
        "sent_in_all": sum(p for _, p in ledger),
        "budget_use": round(sent / allowed, 4) if allowed else None,
        "over_limit_days": over,
        "outside_window": outside,
        "launches": len(ledger),
        "jobs_finished": len(finished),
        "eta_samples": len(ratios),
        "eta_ratio_p10": q(0.1),
        "eta_ratio_p50": q(0.5),
        "eta_ratio_p90": q(0.9),
        # Samples taken once every file had arrived: an ETA cannot know of files uploaded after it.
        "eta_ratio_p90_after_arrivals": round(known[min(len(known) - 1, int(0.9 * len(known)))], 3) if known else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadrelay-pacing-") as tmp:
        workdir = Path(tmp)
        template = workdir / "template.db"
        db = Database(f"sqlite:///{template}")
        migrate(db)
        db.dispose()
        baseline = simulate(template, workdir, paced=False, seed=args.seed, days=args.days)
        print("baseline (no account gate, measured against the same limits):", json.dumps(baseline))
        paced = simulate(template, workdir, paced=True, seed=args.seed, days=args.days)
        print("paced:", json.dumps(paced))
    print(
        json.dumps(
            {
                "days": args.days,
                "budget_use": paced["budget_use"],
                "over_limit": paced["over_limit_days"],
                "outside_window": paced["outside_window"],
                "eta_ratio_p10": paced["eta_ratio_p10"],
                "eta_ratio_p90": paced["eta_ratio_p90"],
                "eta_ratio_p50": paced["eta_ratio_p50"],
                "eta_ratio_p90_after_arrivals": paced["eta_ratio_p90_after_arrivals"],
                "sent": paced["sent"],
                "allowed": paced["allowed"],
                "baseline_over_limit": baseline["over_limit_days"],
                "baseline_outside_window": baseline["outside_window"],
                "outside_window_ratio": round(paced["outside_window"] / max(1, baseline["outside_window"]), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
