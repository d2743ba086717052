"""Collects a sheet's non-blank rows in the reader child as text lines, checks the limits, writes the parent's file."""

# Imported by the reader child by its bare name: standard library and sibling child modules only.

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import islice, repeat
from typing import Any

from refusal import Refusal
from rowtext import ESC, REC, SEP, decode, encode

WRITE_ROWS = 10_000  # rows encoded per write: the output is never held twice in memory
FIRST_BATCH = 256  # rows in the first batch, before the sheet's width is known
BATCH_ROWS = 8192  # rows per batch after it, fewer for wide sheets: a quarter million cells at a time
BATCH_CELLS = 1 << 18


def cell_text(value: Any) -> str:
    """A cell as text the way an analyst reads it: integers without '.0', dates in ISO form."""
    kind = type(value)
    if kind is str:
        return value
    if kind is float:
        if value.is_integer():
            return str(int(value))
        return format(value, ".15g")
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is int:
        return str(value)
    if kind is dt.datetime:
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if kind is dt.date:
        return value.isoformat()
    if kind is dt.time:
        return value.isoformat(timespec="seconds")
    if kind is dt.timedelta:
        seconds = int(value.total_seconds())
        sign = "-" if seconds < 0 else ""
        hours, rest = divmod(abs(seconds), 3600)
        return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return "" if value is None else str(value)


class RowSink:
    """The non-blank rows of one sheet as lines (see rowtext), their row numbers, and the columns with data."""

    def __init__(self, request: dict[str, Any], sheet: str | None) -> None:
        self.sheet = sheet
        self.max_rows = int(request["max_rows"]) + int(request["head_rows"])
        self.max_columns = int(request["max_columns"])
        self.max_text = int(request["max_text"])
        self.stop_early = False  # CSV stops at the first row over the limit; a workbook counts them all
        self.lines: list[str] = []
        self.runs: list[list[int]] = []
        self.count = 0  # non-blank rows seen, stored or not
        self.width = 0
        self.pending: set[int] = set()  # columns with no non-blank cell so far
        self.text = 0
        self.formulas_without_value = 0  # set by the .xlsx reader: formula cells saved without a value
        self.blocks = 0  # set by the .xlsx reader: blocks of rows a big sheet was read in (0: read whole)
        self.extra_peak_mib = 0.0  # the peak of a helper process (the zip verifier), added to the child's

    def add_rows(self, rows: Iterable[list[Any]], first: int, offset: int = 0) -> None:
        """Rows numbered from `first` (1-based), their cells starting at column `offset` (0-based).
        The hot loop of every import, done a batch of rows at a time with C-level map calls."""
        source = iter(rows)
        number = first
        size = FIRST_BATCH
        while batch := list(islice(source, size)):
            if offset:
                pad = [""] * offset
                batch = [pad + list(row) for row in batch]
            self._add_batch(batch, number)
            number += len(batch)
            size = max(16, min(BATCH_ROWS, BATCH_CELLS // max(self.width, 1)))

    def _add_batch(self, batch: list[list[Any]], first: int) -> None:
        join = SEP.join
        try:  # most batches hold only text, which joins in C
            lines = list(map(join, batch))
        except TypeError:  # numbers or dates somewhere: the rows holding them become text
            lines = []
            for index, row in enumerate(batch):
                try:
                    lines.append(join(row))
                except TypeError:
                    row = batch[index] = [v if type(v) is str else cell_text(v) for v in row]
                    lines.append(join(row))
        numbers: Iterable[int] = range(first, first + len(batch))
        if "" in lines or any(map(str.isspace, lines)):  # blank rows: keep the others with their numbers
            kept = [
                (n, r, line) for n, r, line in zip(numbers, batch, lines, strict=True) if line and not line.isspace()
            ]
            numbers, batch, lines = [k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept]
        if not lines:
            return
        room = self.max_rows - self.count
        self.count += len(lines)
        if len(lines) > room:
            if self.stop_early:
                raise Refusal("too_many_rows_text")
            room = max(room, 0)
            numbers, batch, lines = list(numbers)[:room], batch[:room], lines[:room]
            if not lines:
                return
        widest = max(map(len, batch))
        if widest > self.width:
            self.pending.update(range(self.width, widest))
            self.width = widest
        for row in batch:
            if not self.pending:
                break
            self._settle(row, self.width)
        cells = sum(map(len, batch))
        if sum(map(str.count, lines, repeat(SEP))) != cells - len(batch) or any(
            map(str.startswith, lines, repeat(ESC))
        ):
            # a cell holds the separator, or a row starts with ESC: such rows take the JSON form (see rowtext)
            lines = [
                encode(r) if line.count(SEP) != len(r) - 1 or line.startswith(ESC) else line
                for r, line in zip(batch, lines, strict=True)
            ]
        self.text += sum(map(len, lines)) + len(lines)
        if self.text > self.max_text:
            raise Refusal("too_much_text", sheet=self.sheet)
        self.lines.extend(lines)
        self._number(numbers)

    def _number(self, numbers: Iterable[int]) -> None:
        """Add the row numbers to the runs ([first, count] of consecutive numbers)."""
        runs = self.runs
        if isinstance(numbers, range) and numbers:
            if runs and runs[-1][0] + runs[-1][1] == numbers.start:
                runs[-1][1] += len(numbers)
            else:
                runs.append([numbers.start, len(numbers)])
            return
        for number in numbers:
            if runs and runs[-1][0] + runs[-1][1] == number:
                runs[-1][1] += 1
            else:
                runs.append([number, 1])

    def _settle(self, row: list[str], width: int) -> None:
        cells = len(row)
        used = [i for i in self.pending if i < cells and row[i] and not row[i].isspace()]
        self.pending.difference_update(used)
        if width - len(self.pending) > self.max_columns:
            raise Refusal("too_many_columns", sheet=self.sheet, columns=width - len(self.pending))

    def has_nul(self) -> bool:
        """Whether some cell holds a NUL character (an .xls decoded in the wrong code page does)."""
        return any("\x00" in line for line in self.lines)

    def columns(self) -> list[int]:
        """The 0-based indexes of the columns with at least one non-blank cell."""
        return [i for i in range(self.width) if i not in self.pending]

    def check(self) -> None:
        """Refuse a sheet over the row limit (counted over all its rows)."""
        if self.count > self.max_rows:
            raise Refusal("too_many_rows", sheet=self.sheet, rows=self.count)

    def write(self, path: str) -> dict[str, Any]:
        """Write the rows, without their empty columns, to `path`; the facts the parent needs to read them."""
        self.check()
        keep = self.columns()
        if len(keep) != self.width:
            self._project(keep)
        lines = self.lines
        with open(path, "wb") as fh:
            for start in range(0, len(lines), WRITE_ROWS):
                batch = lines[start : start + WRITE_ROWS]
                piece = REC.join(batch)
                if piece.count(REC) != len(batch) - 1 or ESC in piece:
                    piece = REC.join(_safe(line) for line in batch)
                if start:
                    fh.write(REC.encode())
                fh.write(piece.encode("utf-8", "surrogatepass"))
        return {"width": len(keep), "columns_at": keep, "runs": self.runs}

    def _project(self, keep: list[int]) -> None:
        """Drop the empty columns from every line."""
        for index, line in enumerate(self.lines):
            cells = decode(line)
            width = len(cells)
            self.lines[index] = encode([cells[i] if i < width else "" for i in keep])


def _safe(line: str) -> str:
    """A line whose cells hold REC in the JSON form of rowtext (a line starting with ESC already is in it)."""
    if REC not in line or line.startswith(ESC):
        return line
    return encode(line.split(SEP))
