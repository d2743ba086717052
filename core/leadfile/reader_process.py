"""Runs the file reader in a separate, resource-limited process and turns its answer into rows or a clear error."""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, LimitReached
from core.leadfile.gcpause import paused_gc
from core.leadfile.model import Limits
from core.leadfile.rows import Rows
from core.leadfile.rowtext import ESC, REC, decode

log = logging.getLogger(__name__)
CHILD = Path(__file__).with_name("child.py")
HEAD_ROWS = 30
READ_BLOCK = 1 << 20  # the rows file is decoded this many bytes at a time: the text is never held twice
# An .xlsx sheet part larger than the first number is read in blocks of about the second (bytes of XML): calamine
# holds a sheet read whole at about 75 bytes a cell, so 48 MB of XML (some 2 million cells) is its largest.
SHEET_BLOCKS = (48 << 20, 24 << 20)
SUFFIXES = {"xlsx": ".xlsx", "xlsb": ".xlsb", "ods": ".ods", "xls": ".xls", "text": ".csv"}
RUST_OOM = re.compile(rb"memory allocation of (\d+) bytes failed")
DAMAGED = (
    "This file could not be read: it seems damaged or incomplete (for example cut off during download). "
    "Open it in Excel, save it again as .xlsx and upload that copy."
)
PASSWORD = "This file is password-protected: remove the password and upload it again."
STRAY_CELLS = (
    "A sheet needing this much usually has a stray cell or formatting far below or to the right of its table: "
    "in Excel press Ctrl+End to find the last cell, delete the empty rows and columns up to it, save and upload "
    "the file again."
)


@dataclass(slots=True)
class SheetRows:
    """What the child read: the worksheet names, the chosen one, its non-blank rows and where they were."""

    sheet_names: list[str]
    sheet_name: str | None
    rows: Rows
    row_numbers: list[int]
    columns_at: list[int]  # each column's 0-based position in the sheet (empty columns were dropped)
    formula_cells_without_value: int


def read_table(data: bytes, kind: str, file_name: str, limits: Limits, sheet: str | None = None) -> SheetRows:
    """Read a workbook or CSV file in a child process with memory, CPU, time and output limits."""
    started = time.perf_counter()
    max_file = max(limits.parse_memory_mb, limits.max_text_bytes >> 20) * 1024 * 1024 + (64 << 20)
    suffix = ".tsv" if kind == "text" and file_name.lower().endswith(".tsv") else SUFFIXES[kind]
    with tempfile.TemporaryDirectory(prefix="leadrelay-read-") as tmp:
        source = Path(tmp, "input" + suffix)  # fixed names: the uploaded file name is never a path
        output = Path(tmp, "rows.txt")
        source.write_bytes(data)
        request = {
            "input": str(source),
            "output": str(output),
            "kind": kind,
            "file_name": source.name,
            "sheet": sheet,
            "head_rows": HEAD_ROWS,
            "max_rows": limits.max_rows,
            "max_columns": limits.max_columns,
            "max_text": limits.max_text_bytes,
            "max_unpacked": limits.parse_memory_mb * 1024 * 1024,
            "max_file": max_file,
            "memory_mb": limits.reader_memory_mb,
            "cpu_s": limits.parse_timeout_s,
            "sheet_blocks": list(SHEET_BLOCKS),
        }
        answer = _run_child(request, tmp, limits)
        if not answer.get("ok"):
            raise _refusal(answer, limits)
        with paused_gc():
            lines = _read_lines(output) if output.exists() else []
    rows = _checked(answer, lines)
    log.debug(
        "read %s sheet %r: %d rows in %d blocks in %.3f s, reader peak %.0f MiB",
        kind,
        rows.sheet_name,
        len(rows.rows),
        int(answer.get("blocks", 0)),
        time.perf_counter() - started,
        float(answer.get("peak_mib", 0)),
    )
    return rows


def _read_lines(path: Path) -> list[str]:
    """The rows file as one string per row, decoded a block at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    lines: list[str] = []
    rest = ""
    with open(path, "rb") as fh:
        while block := fh.read(READ_BLOCK):
            text = decoder.decode(block)
            parts = (rest + text if rest else text).split(REC)
            del text
            rest = parts.pop()
            lines.extend(parts)
    rest += decoder.decode(b"", final=True)
    if rest or lines:
        lines.append(rest)
    return lines


def _checked(answer: dict[str, Any], lines: list[str]) -> SheetRows:
    """The child's answer as SheetRows, after checking that it is consistent (a confused child is a damaged file)."""
    try:
        names, name = answer.get("sheet_names"), answer.get("sheet_name")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("sheet names")
        if name is not None and name not in names:
            raise ValueError("sheet name")
        width = int(answer.get("width", 0))
        columns_at = [int(c) for c in answer.get("columns_at", [])]
        if width < 0 or len(columns_at) != width:
            raise ValueError("width")
        numbers: list[int] = []
        for first, count in answer.get("runs", []):
            numbers.extend(range(int(first), int(first) + max(int(count), 0)))
        if len(numbers) != len(lines):
            raise ValueError("row count")
        if any(map(str.startswith, lines, repeat(ESC))):
            for line in lines:
                if line.startswith(ESC):
                    decode(line)
        formulas = max(int(answer.get("formula_cells_without_value", 0)), 0)
    except (ValueError, TypeError):
        raise InvalidInput(DAMAGED) from None
    return SheetRows(names, name, Rows(lines, width), numbers, columns_at, formulas)


def _run_child(request: dict[str, Any], cwd: str, limits: Limits) -> dict[str, Any]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    if "COVERAGE_PROCESS_CONFIG" in os.environ:
        # Only under `make coverage`: coverage.py hands its settings to child processes in this one variable,
        # and the clean environment above would otherwise leave the reader child unmeasured.
        env["COVERAGE_PROCESS_CONFIG"] = os.environ["COVERAGE_PROCESS_CONFIG"]
    # -B: no __pycache__ in the source tree; -E -s: no environment or user site settings.
    proc = subprocess.Popen(
        [sys.executable, "-B", "-E", "-s", str(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    try:
        stdout, stderr = proc.communicate(json.dumps(request).encode(), timeout=limits.parse_timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise LimitReached(
            f"Reading this file took longer than {limits.parse_timeout_s:g} seconds, so it was stopped. "
            "Remove unused sheets, columns or formatting, or split the file, and upload it again."
        ) from None
    except BaseException:
        _kill(proc)
        raise
    try:
        answer = json.loads(stdout.decode("utf-8"))
    except ValueError:
        answer = None
    if proc.returncode != 0 and not (isinstance(answer, dict) and answer.get("ok") is False):
        # (a refusal on stdout with the reader killed is the zip verifier stopping it: see zipparts.Verifier)
        log.warning("file reader ended with code %s: %s", proc.returncode, stderr[-2000:].decode("utf-8", "replace"))
        raise _crash(proc.returncode, stderr, limits)
    if not isinstance(answer, dict):
        raise InvalidInput(DAMAGED)
    if answer.get("detail"):
        log.info("file reader refused the file (%s): %s", answer.get("code"), answer["detail"])
    return answer


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _size(count: float) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20)):
        if count >= scale:
            return f"{count / scale:,.0f} {unit}"
    return f"{count / 1024:,.0f} KB"


def _crash(returncode: int, stderr: bytes, limits: Limits) -> Exception:
    if returncode == -signal.SIGXCPU:
        return LimitReached("Reading this file needed more computing time than allowed, so it was stopped.")
    if returncode == -signal.SIGXFSZ:
        return LimitReached("This workbook holds more text than LeadRelay reads from one file.")
    wanted = RUST_OOM.search(stderr)
    if wanted and int(wanted.group(1)) > limits.reader_memory_mb * 2**20:
        # one allocation larger than all the reader may use: calamine's grid of a sheet's whole used area
        return LimitReached(
            f"Reading this sheet would need {_size(int(wanted.group(1)))} of memory, more than the "
            f"{limits.reader_memory_mb:,} MB allowed. {STRAY_CELLS}"
        )
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
    if code == "too_many_rows_text":
        return LimitReached(
            f"This file has more than {limits.max_rows:,} rows; LeadRelay reads at most "
            f"{limits.max_rows:,} leads from one file. Split the file and upload the parts."
        )
    if code == "too_many_columns":
        where = f"The sheet “{sheet}”" if answer.get("sheet") is not None else "This file"
        return LimitReached(
            f"{where} has {_count(answer.get('columns'))} columns; the limit is {limits.max_columns:,}. "
            "Delete the columns you do not need and upload it again."
        )
    if code == "too_much_text":
        return LimitReached(
            f"This file holds more than {limits.max_text_bytes / 2**20:,.0f} MB of cell text, more than LeadRelay "
            "reads from one file. Delete the columns you do not need, or split the file, and upload it again."
        )
    if code == "unpacked_too_big":
        return LimitReached(
            f"This workbook unpacks to more than {limits.parse_memory_mb:,} MB, more than LeadRelay reads. "
            "Remove unused sheets or formatting, or save the leads as CSV."
        )
    if code == "area":
        return LimitReached(
            f"A sheet of this file spreads its cells over {_count(answer.get('cells'))} cells, more than can be read. "
            f"{STRAY_CELLS}"
        )
    if code == "memory":
        return LimitReached("Reading this file needed more memory than allowed. Split it and upload the parts.")
    if code == "no_such_sheet":
        names = ", ".join(f"“{s}”" for s in answer.get("sheets") or [])
        return InvalidInput(f"This workbook has no sheet named “{sheet}”. Its sheets are: {names}.")
    if code == "no_worksheet":
        return InvalidInput("This workbook has no worksheet with cells (only charts or macros).")
    if code == "csv_error":
        return InvalidInput(
            f"This CSV file could not be read near row {_count(answer.get('row'))}: {answer.get('detail')}."
        )
    if code == "utf16_damaged":
        return InvalidInput("This UTF-16 text file is damaged (it ends in the middle of a character).")
    return InvalidInput(DAMAGED)
