"""The audit log: every action core records reads as a sentence for people, whatever details it carries."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import select

from core import audit
from core.models import ACTIVE_JOB_STATUSES, ENDED_RUN_STATUSES, AuditEvent, JobStatus

ROOT = Path(__file__).resolve().parents[2]


def _recorded_actions() -> set[str]:
    """Every action name core and the pages pass to audit.record, read from the source (both sides of an `if`)."""
    found: set[str] = set()
    for path in [*(ROOT / "core").rglob("*.py"), *(ROOT / "pages").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "audit.record" and len(node.args) > 2):
                continue
            action = node.args[2]
            branches = [action.body, action.orelse] if isinstance(action, ast.IfExp) else [action]
            for branch in branches:
                if isinstance(branch, ast.Constant):
                    found.add(branch.value)
                elif isinstance(branch, ast.JoinedStr):  # f"job_{job.status}", f"run_{outcome.status}"
                    prefix = branch.values[0].value
                    # Only ended jobs and runs are recorded this way.
                    ended = (
                        [s for s in JobStatus if s not in ACTIVE_JOB_STATUSES]
                        if prefix == "job_"
                        else ENDED_RUN_STATUSES
                    )
                    found.update(prefix + s for s in ended)
                else:
                    raise AssertionError(f"{path}:{node.lineno}: an action this test cannot read")
    return found


def test_every_recorded_action_has_a_sentence():
    actions = _recorded_actions()
    assert len(actions) > 25  # the reader found the calls
    assert {"phantom_launched", "run_adopted", "user_enabled", "run_timed_out"} <= actions
    assert sorted(actions - set(audit.SENTENCES)) == []


def test_a_missing_detail_reads_as_a_dash_and_a_first_attempt_says_nothing_of_attempts():
    assert audit.sentence("run_failed", {}) == "The batch failed: —"
    assert audit.sentence("run_launching", {"company": "Acme", "leads": 5, "attempt": 1}) == (
        "Batch for Acme is starting (5 leads)."
    )
    assert audit.sentence("run_launching", {"company": "Acme", "leads": 5, "attempt": 3}) == (
        "Batch (attempt 3) for Acme is starting (5 leads)."
    )
    assert audit.sentence("some_new_thing", {"x": 1}) == "Some new thing."
    assert audit.sentence("user_role_changed", {"by": "root", "user": "ana", "old": "analyst", "new": "admin"}) == (
        "root made ana an admin (was analyst)."
    )


def test_a_record_is_part_of_the_callers_transaction(db):
    with db.write() as s:
        audit.record(s, "admin", "queue_paused", by="root")
        s.rollback()
    with db.write() as s:
        audit.record(s, "admin", "queue_resumed", by="root", job_id=None)
    with db.read() as s:
        rows = list(s.scalars(select(AuditEvent)))
    assert [(r.action, r.details) for r in rows] == [("queue_resumed", {"by": "root"})]
