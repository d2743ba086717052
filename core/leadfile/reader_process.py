"""Runs the workbook reader in a separate, resource-limited process and turns its answer into rows or a clear error."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, LimitReached
from core.leadfile.gcpause import paused_gc
from core.leadfile.model import Limits

log = logging.getLogger(__name__)
CHILD = Path(__file__).with_name("child.py")
HEAD_ROWS = 30
DAMAGED = (
    "This file could not be read: it seems damaged or incomplete (for example cut off during download). "
    "Open it in Excel, save it again as .xlsx and upload that copy."
)
PASSWORD = "This file is password-protected: remove the password in Excel and upload it again."


@dataclass(slots=True)
class SheetRows:
    """What the child read: the worksheet names, the chosen one and its non-blank rows with their row numbers."""

    sheet_names: list[str]
    sheet_name: str
    rows: list[list[str]]
    row_numbers: list[int]


def read_workbook(
    data: bytes, kind: str, limits: Limits, sheet: str | None = None, skip: list[str] | None = None
) -> SheetRows:
    """Read an .xlsx or .xls file in a child process with memory, CPU, time and output limits."""
    started = time.perf_counter()
    max_output = max(64 * 1024 * 1024, limits.parse_memory_mb * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="leadrelay-read-") as tmp:
        source = Path(tmp, "input.bin")  # fixed names: the uploaded file name is never a path
        output = Path(tmp, "rows.bin")
        source.write_bytes(data)
        request = {
            "input": str(source),
            "output": str(output),
            "kind": kind,
            "sheet": sheet,
            "skip": skip or [],
            "head_rows": HEAD_ROWS,
            "max_rows": limits.max_rows,
            "max_columns": limits.max_columns,
            "max_unpacked": limits.parse_memory_mb * 1024 * 1024,
            "max_output": max_output,
            "memory_mb": limits.parse_memory_mb,
            "cpu_s": limits.parse_timeout_s,
        }
        answer = _run_child(request, tmp, limits.parse_timeout_s)
        if not answer.get("ok"):
            raise _refusal(answer, limits)
        size = output.stat().st_size if output.exists() else 0
        if size > max_output:
            raise LimitReached("This workbook holds more text than LeadRelay reads from one file.")
        body = output.read_bytes() if size else b"S"
    names, name = answer.get("sheet_names"), answer.get("sheet_name")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or name not in names:
        raise InvalidInput(DAMAGED)
    with paused_gc():
        rows, numbers = _decode(body, answer.get("width", 0), answer.get("runs", []))
    log.debug(
        "read %s sheet %r: %d rows in %.3f s, reader peak %.0f MiB",
        kind,
        name,
        len(rows),
        time.perf_counter() - started,
        float(answer.get("peak_mib", 0)),
    )
    return SheetRows(names, name, rows, numbers)


def _run_child(request: dict[str, Any], cwd: str, timeout_s: float) -> dict[str, Any]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    proc = subprocess.Popen(
        [sys.executable, "-E", "-s", str(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    try:
        stdout, stderr = proc.communicate(json.dumps(request).encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise LimitReached(
            f"Reading this file took longer than {timeout_s:g} seconds, so it was stopped. "
            "Remove unused sheets, columns or formatting, or split the file, and upload it again."
        ) from None
    except BaseException:
        _kill(proc)
        raise
    if proc.returncode != 0:
        log.warning(
            "workbook reader ended with code %s: %s", proc.returncode, stderr[-2000:].decode("utf-8", "replace")
        )
        raise _crash(proc.returncode)
    try:
        answer = json.loads(stdout.decode("utf-8"))
    except ValueError:
        raise InvalidInput(DAMAGED) from None
    if not isinstance(answer, dict):
        raise InvalidInput(DAMAGED)
    return answer


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _crash(returncode: int) -> Exception:
    if returncode == -signal.SIGXCPU:
        return LimitReached("Reading this file needed more computing time than allowed, so it was stopped.")
    if returncode == -signal.SIGXFSZ:
        return LimitReached("This workbook holds more text than LeadRelay reads from one file.")
    if returncode in (-signal.SIGKILL, -signal.SIGABRT, -signal.SIGSEGV, 1):
        return LimitReached(
            "Reading this file needed more memory than allowed or the reader stopped on damaged content. "
            "Open it in Excel, remove unused sheets or formatting, save it as .xlsx and upload it again."
        )
    return InvalidInput(DAMAGED)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "too many"


def _refusal(answer: dict[str, Any], limits: Limits) -> Exception:
    code = answer.get("code")
    sheet = str(answer.get("sheet"))
    if code == "password":
        return InvalidInput(PASSWORD)
    if code == "too_many_rows":
        return LimitReached(
            f"The sheet “{sheet}” has {_count(answer.get('rows'))} rows; LeadRelay reads at most {limits.max_rows:,} leads "
            "from one file. Split the file and upload the parts."
        )
    if code == "too_many_columns":
        return LimitReached(
            f"The sheet “{sheet}” has {_count(answer.get('columns'))} columns; the limit is {limits.max_columns:,}. "
            "Delete the columns you do not need and upload it again."
        )
    if code == "unpacked_too_big":
        return LimitReached(
            f"This workbook unpacks to more than {limits.parse_memory_mb:,} MB, more than LeadRelay reads. "
            "Remove unused sheets or formatting, or save the leads as CSV."
        )
    if code == "memory":
        return LimitReached("Reading this file needed more memory than allowed. Split it and upload the parts.")
    if code == "no_such_sheet":
        names = ", ".join(f"“{s}”" for s in answer.get("sheets") or [])
        return InvalidInput(f"This workbook has no sheet named “{sheet}”. Its sheets are: {names}.")
    if code == "no_worksheet":
        return InvalidInput("This workbook has no worksheet with cells (only charts or macros).")
    if code == "all_skipped":
        return LimitReached("Every sheet of this workbook is larger than the limits; split the file and try again.")
    return InvalidInput(DAMAGED)


def _decode(body: bytes, width: Any, runs: Any) -> tuple[list[list[str]], list[int]]:
    """Rows from the child's output ('S' + cells joined by one separator, or 'J' + JSON) and their row numbers."""
    fmt, payload = body[:1], memoryview(body)[1:]  # a view: the payload is not copied before it is decoded
    try:
        width = int(width)
        spans = [(int(first), max(int(count), 0)) for first, count in runs]
        total = sum(count for _, count in spans)  # checked against the rows before any number is made
        if fmt == b"S":
            cells = str(payload, "utf-8", "surrogatepass").split("\x1f") if payload else []
            if len(cells) != max(width, 0) * total or (total and width <= 0):
                raise ValueError("row shape")
            rows = [cells[i : i + width] for i in range(0, len(cells), width)] if total else []
        elif fmt == b"J":
            rows = json.loads(str(payload, "utf-8", "surrogatepass"))
            if not isinstance(rows, list) or not all(
                isinstance(r, list) and all(isinstance(c, str) for c in r) for r in rows
            ):
                raise ValueError("row shape")
        else:
            raise ValueError("unknown format")
        if len(rows) != total:
            raise ValueError("row count")
        numbers: list[int] = []
        for first, count in spans:
            numbers.extend(range(first, first + count))
    except (ValueError, TypeError):
        raise InvalidInput(DAMAGED) from None
    return rows, numbers
