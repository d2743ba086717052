"""UI refresh cost: one Task Manager refresh and one History page, at 10,000 and at 1,000,000 leads.

Builds two SQLite databases with the real schema: a small one (100 jobs, 10,000 leads, 1,000 runs) and a large
one (10,000 jobs, 1,000,000 leads, 100,000 runs), most jobs finished over the last 30 days and a few active with
a run in flight. Then times, as an analyst, the core calls the page fragments make (the sidebar indicator and
toasts and the board: the slot lane, the active jobs with their places, ETAs and waiting reasons; and History's first page and a job detail),
30 repetitions each, and prints the medians. Goal: under 100 ms per refresh and at most 1.5x slower at 1,000,000
leads. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select

from core import auth, board, read_models
from core.config import load_settings
from core.db import Database
from core.lifecycle import slot
from core.models import Job, Lead, Run, User
from core.schema import migrate

ANALYSTS = 20
SETTINGS = load_settings()
LEADS_PER_JOB = 100
RUNS_PER_JOB = 10
ACTIVE_JOBS = 6
CHUNK = 20_000


def _profile(i: int) -> dict[str, Any]:
    return {"fullName": f"Person {i}", "linkedinJobTitle": "Head of Sales", "companyName": f"Company {i % 997}"}


def build(path: Path, jobs: int, seed: int = 7) -> tuple[float, dict[str, int]]:
    """Create and fill one database; returns the seconds it took and the row counts."""
    started = time.perf_counter()
    rng = random.Random(seed)
    db = Database(f"sqlite:///{path}")
    migrate(db)
    now = datetime.now(UTC)
    with db.write() as s:
        s.add_all(
            [User(name=f"analyst{i}", role="analyst") for i in range(ANALYSTS)] + [User(name="admin", role="admin")]
        )
    with db.read() as s:
        owners = list(s.scalars(select(User.id).where(User.role == "analyst").order_by(User.id)))
    job_rows, run_rows, lead_rows = [], [], []
    counts = {"jobs": 0, "runs": 0, "leads": 0}
    with db.engine.begin() as conn:
        for j in range(1, jobs + 1):
            active = j > jobs - ACTIVE_JOBS
            owner = owners[0] if active and j % 2 else owners[j % len(owners)]
            created = now - timedelta(minutes=5) if active else now - timedelta(seconds=rng.uniform(600, 30 * 86400))
            finished = None if active else created + timedelta(seconds=rng.uniform(60, 3600))
            failed = rng.choice((0, 0, 0, 2, 5))
            job_rows.append(
                {
                    "id": j,
                    "owner_id": owner,
                    "status": "pending" if active else ("completed" if failed < 5 else "failed"),
                    "stage": "batch_processing" if active else "completed",
                    "file_name": f"leads-{j}.xlsx",
                    "content_hash": f"{j:064x}",
                    "columns": ["Name", "Company", "LinkedIn"],
                    "mapping": {"linkedin_url": "LinkedIn", "company": "Company"},
                    "report": {"rows": LEADS_PER_JOB, "good": LEADS_PER_JOB, "duplicates": 0, "problems": 0},
                    "companies": f"Company {j % 997}, Company {(j + 1) % 997}",
                    "total_leads": LEADS_PER_JOB,
                    "completed_leads": 0 if active else LEADS_PER_JOB - failed,
                    "failed_leads": 0 if active else failed,
                    "total_batches": RUNS_PER_JOB,
                    "completed_batches": 0 if active else RUNS_PER_JOB,
                    "percentage": 0.0 if active else 100.0,
                    "created_at": created,
                    "finished_at": finished,
                    "updated_at": finished or created,
                }
            )
            for r in range(RUNS_PER_JOB):
                run_id = (j - 1) * RUNS_PER_JOB + r + 1
                launched = None if active else created + timedelta(seconds=30 * r)
                run_rows.append(
                    {
                        "id": run_id,
                        "job_id": j,
                        "owner_id": owner,
                        "seq": r + 1,
                        "company": f"Company {(j + r // 5) % 997}",
                        "lead_count": LEADS_PER_JOB // RUNS_PER_JOB,
                        "status": "pending" if active else "success",
                        "container_id": None if active else f"c{run_id}",
                        "attempts": 0 if active else 1,
                        "launch_requested_at": launched,
                        "launched_at": launched,
                        "ended_at": None if active else launched + timedelta(seconds=rng.uniform(20, 60)),
                        "exit_code": None if active else 0,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
                for k in range(LEADS_PER_JOB // RUNS_PER_JOB):
                    n = (run_id - 1) * (LEADS_PER_JOB // RUNS_PER_JOB) + k
                    ok = active or k >= failed or r > 0
                    lead_rows.append(
                        {
                            "job_id": j,
                            "run_id": run_id,
                            "row_number": r * (LEADS_PER_JOB // RUNS_PER_JOB) + k + 2,
                            "company": f"Company {j % 997}",
                            "linkedin_url": f"https://www.linkedin.com/in/bench-{n}",
                            "input": {"Name": f"Person {n}", "LinkedIn": f"https://www.linkedin.com/in/bench-{n}"},
                            "status": "pending" if active else ("success" if ok else "failed"),
                            "profile": None if active or not ok else _profile(n),
                            "error": None if ok else "PhantomBuster returned no profile for this URL.",
                            "enriched_at": None if active or not ok else finished,
                        }
                    )
            if len(lead_rows) >= CHUNK or j == jobs:
                conn.execute(insert(Job), job_rows)
                conn.execute(insert(Run), run_rows)
                conn.execute(insert(Lead), lead_rows)
                counts["jobs"] += len(job_rows)
                counts["runs"] += len(run_rows)
                counts["leads"] += len(lead_rows)
                job_rows, run_rows, lead_rows = [], [], []
    with db.write() as s:
        # One run of the first active job holds the slot, as during a normal day.
        first_active = s.scalar(select(Run).where(Run.status == "pending").order_by(Run.job_id, Run.seq).limit(1))
        first_active.status = "phantom_launched"
        first_active.launch_requested_at = first_active.launched_at = now - timedelta(seconds=20)
        first_active.container_id = "in-flight"
        slot.acquire(s, holder="bench", run_id=first_active.id, ttl=600)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    db.dispose()
    return time.perf_counter() - started, counts


def task_manager_refresh(db: Database, user: User, since: datetime) -> None:
    """What one 3-second refresh of the Task Manager (with its sidebar) reads."""
    now = datetime.now(UTC)
    with db.read() as s:
        auth.user_for_token(s, "no-such-token")
        read_models.finished_since(s, user, 0, since)
        read_models.indicator(s, user)
    with db.read() as s:
        read_models.slot_lane(s, user, now)
    with db.read() as s:
        board.board(s, SETTINGS, user, now)


def history_page(db: Database, user: User, job_id: int) -> None:
    """What one History refresh reads: the first page of jobs and an open job's detail."""
    with db.read() as s:
        read_models.history(s, user, read_models.HistoryFilter(since=datetime.now(UTC) - timedelta(days=30)))
        read_models.job_detail(s, user, job_id)


def history_search(db: Database, user: User) -> None:
    """A search that matches nothing (the worst case: every job of the user is looked at)."""
    with db.read() as s:
        read_models.history(s, user, read_models.HistoryFilter(search="no-such-company"))


def median_ms(fn, reps: int) -> float:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def measure(path: Path, reps: int) -> dict[str, float]:
    db = Database(f"sqlite:///{path}")
    with db.read() as s:
        user = s.scalar(select(User).where(User.name == "analyst0"))
        admin = s.scalar(select(User).where(User.name == "admin"))
        job_id = s.scalar(select(Job.id).where(Job.owner_id == user.id).order_by(Job.id.desc()).limit(1))
    since = datetime.now(UTC) - timedelta(minutes=10)
    result = {
        "refresh_ms": median_ms(lambda: task_manager_refresh(db, user, since), reps),
        "history_ms": median_ms(lambda: history_page(db, user, job_id), reps),
        "search_ms": median_ms(lambda: history_search(db, user), reps),
        "admin_refresh_ms": median_ms(lambda: task_manager_refresh(db, admin, since), reps),
        "admin_history_ms": median_ms(lambda: history_page(db, admin, job_id), reps),
    }
    db.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where to build the databases (default: a temp dir)")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--large-jobs", type=int, default=10_000)
    args = parser.parse_args()
    where = args.dir or Path(tempfile.mkdtemp(prefix="leadrelay-bench-"))
    where.mkdir(parents=True, exist_ok=True)
    try:
        run(where, args.reps, args.large_jobs)
    finally:
        if args.dir is None:
            shutil.rmtree(where, ignore_errors=True)


def run(where: Path, reps: int, large_jobs: int) -> None:
    """Build both databases in `where`, time them, print the results and the JSON line."""
    sizes = {"small": large_jobs // 100, "large": large_jobs}
    results = {}
    for name, jobs in sizes.items():
        path = where / f"ui-{name}.db"
        path.unlink(missing_ok=True)
        seconds, counts = build(path, jobs)
        print(f"{name}: built {counts} in {seconds:.1f} s ({path.stat().st_size / 1e6:.0f} MB)", flush=True)
        results[name] = measure(path, reps)
        r = results[name]
        print(
            f"{name}: Task Manager refresh {r['refresh_ms']:.1f} ms, History page {r['history_ms']:.1f} ms, "
            f"History search with no match {r['search_ms']:.1f} ms; as admin: refresh {r['admin_refresh_ms']:.1f} ms, "
            f"History {r['admin_history_ms']:.1f} ms (medians of {reps})",
            flush=True,
        )
    small, large = results["small"], results["large"]
    growth = large["refresh_ms"] / small["refresh_ms"]
    summary = {
        "small_ms": round(small["refresh_ms"], 2),
        "large_ms": round(large["refresh_ms"], 2),
        "growth": round(growth, 2),
        "history_small_ms": round(small["history_ms"], 2),
        "history_large_ms": round(large["history_ms"], 2),
        "search_small_ms": round(small["search_ms"], 2),
        "search_large_ms": round(large["search_ms"], 2),
        "admin_small_ms": round(small["admin_refresh_ms"], 2),
        "admin_large_ms": round(large["admin_refresh_ms"], 2),
        "goal_met": large["refresh_ms"] < 100 and growth <= 1.5 and large["history_ms"] < 100,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
