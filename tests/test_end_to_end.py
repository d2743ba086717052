"""End to end with real processes: a 20-lead file at 5 companies goes through the sandbox one run at a time."""

from __future__ import annotations

import csv
import itertools

import pytest
from sqlalchemy import select

from core.models import Lead, Run
from tests.support.stack import Stack

COMPANIES = ["VING NORGE AS", "Acme", "Beta AS", "Gamma GmbH", "Delta Oy"]


def write_leads(path, per_company: int = 4) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["First Name", "Last Name", "Company", "LinkedIn URL", "Email"])
        for c, company in enumerate(COMPANIES):
            for i in range(per_company):
                writer.writerow(
                    [
                        f"Person{i}",
                        f"Ødegård{c}",
                        company,
                        f"https://www.linkedin.com/in/person-{c}-{i}",
                        f"p{c}{i}@example.com",
                    ]
                )


@pytest.fixture
def stack(tmp_path, database_url, redis_server):
    s = Stack(tmp_path, database_url, redis_server)
    yield s
    s.stop()


def test_twenty_leads_complete_in_order_one_at_a_time(stack, tmp_path):
    # The sandbox would accept overlapping runs: only our lease keeps them one at a time.
    stack.start(faults={"run_seconds": [0.2, 0.4], "max_parallelism": 10, "seed": 7})
    assert stack.cli("create-user", "ana", "--role", "analyst", stdin="password-123\n").returncode == 0
    leads_file = tmp_path / "leads.csv"
    write_leads(leads_file)
    result = stack.cli("import", str(leads_file), "--owner", "ana", "--batch-size", "5")
    assert result.returncode == 0, result.stderr
    job_id = int(result.stdout.split()[1])
    assert "good: 20" in result.stdout

    job = stack.wait_job(job_id, timeout=60)
    assert job.status == "completed", stack.log("worker")[-2000:]
    assert (job.completed_leads, job.failed_leads, job.total_batches, job.completed_batches) == (20, 0, 5, 5)
    with stack.db.read() as s:
        leads = list(s.scalars(select(Lead).where(Lead.job_id == job_id)))
        runs = list(s.scalars(select(Run).where(Run.job_id == job_id).order_by(Run.seq)))
    assert all(lead.status == "success" and lead.profile and lead.profile.get("fullName") for lead in leads)

    record = stack.record()
    assert record["max_concurrent"] == 1
    assert record["rejected_launches"] == []
    launches = sorted(record["launches"], key=lambda launch: launch["accepted_at"])
    assert len(launches) == 5
    assert [launch["containerId"] for launch in launches] == [run.container_id for run in runs]
    for earlier, later in itertools.pairwise(launches):
        assert later["accepted_at"] >= earlier["ended_at"]
    assert [r.company for r in runs] == COMPANIES
