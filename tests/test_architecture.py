"""The structure the project keeps: one owner for a run's life, core free of frameworks, pages without SQL or HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWNER = ROOT / "core" / "lifecycle"
STATE_TABLES = {"Run", "Slot", "WebhookDelivery"}
SLOT_WRITES = {"acquire", "take_over", "fence", "release", "force_release", "set_paused", "block"}


def _files(*parts: str) -> list[Path]:
    found: list[Path] = []
    for part in parts:
        path = ROOT / part
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _state_writes(tree: ast.AST) -> list[str]:
    """Every place a module changes a run's status, the slot or the webhook inbox, as text."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first = node.args[0] if node.args else None
            table = first.id if isinstance(first, ast.Name) else ""
            # Retention removes expired jobs' runs whole: a delete of runs is not a change of their status.
            if name in ("update", "insert", "delete") and table in STATE_TABLES and (name, table) != ("delete", "Run"):
                found.append(f"line {node.lineno}: {name}({table})")
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if owner in ("slot", "slots") and name in SLOT_WRITES:
                found.append(f"line {node.lineno}: {owner}.{name}()")
            if name == "Run" and any(k.arg == "status" for k in node.keywords):
                found.append(f"line {node.lineno}: Run(status=...)")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr == "status" and "RunStatus" in ast.unparse(node):
                    found.append(f"line {node.lineno}: {ast.unparse(target)} = ...")
    return found


def test_only_core_lifecycle_changes_a_run_the_slot_or_the_inbox():
    offenders = {}
    for path in _files("core", "pages", "worker.py", "webhook_server.py", "streamlit_app.py"):
        if OWNER in path.parents:
            continue
        writes = _state_writes(ast.parse(path.read_text(encoding="utf-8")))
        if writes:
            offenders[str(path.relative_to(ROOT))] = writes
    assert offenders == {}


def test_the_owner_is_really_where_those_changes_are():
    writes = [w for path in _files("core/lifecycle") for w in _state_writes(ast.parse(path.read_text()))]
    assert len(writes) > 10  # the scan sees them (a scan that finds nothing anywhere proves nothing)


def test_core_imports_no_web_or_ui_framework_and_no_edge():
    banned = ("streamlit", "starlette", "uvicorn", "worker", "webhook_server", "pages", "sandbox", "streamlit_app")
    offenders = {}
    for path in _files("core"):
        bad = sorted(n for n in _imports(ast.parse(path.read_text())) if n.split(".")[0] in banned)
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_pages_hold_no_sql_and_no_http():
    offenders = {}
    for path in _files("pages", "streamlit_app.py"):
        bad = sorted(n for n in _imports(ast.parse(path.read_text())) if n.split(".")[0] in ("sqlalchemy", "httpx"))
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_every_core_module_opens_with_a_one_line_docstring_and_stays_short():
    problems = {}
    for path in _files("core"):
        if "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text))
        lines = text.count("\n")
        if not doc or lines > 420:
            problems[str(path.relative_to(ROOT))] = (bool(doc), lines)
    assert problems == {}
