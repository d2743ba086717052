"""Collects a sheet's non-blank rows in the reader child as text lines, checks the limits, writes the parent's file."""

# Imported by the reader child by its bare name: standard library and sibling child modules only.

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from refusal import Refusal
from rowtext import ESC, REC, SEP, decode, encode

WRITE_ROWS = 10_000  # rows encoded per write: the output is never held twice in memory


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

    def add_rows(self, rows: Iterable[list[Any]], first: int, offset: int = 0) -> None:
        """Rows numbered from `first` (1-based), their cells starting at column `offset` (0-based).
        The hot loop of every import: a few C calls a row, everything else in locals."""
        join = SEP.join
        lines, runs = self.lines, self.runs
        append = lines.append
        run = runs[-1] if runs else [0, 0]
        expect = run[0] + run[1] if runs else -1
        count, limit, width, text, max_text = self.count, self.max_rows, self.width, self.text, self.max_text
        pending = self.pending
        pad = [""] * offset
        try:
            for number, row in enumerate(rows, first):
                try:  # most rows hold only text, which joins in one C call
                    line = join(row)
                except TypeError:
                    row = [v if type(v) is str else cell_text(v) for v in row]
                    line = join(row)
                if not line or line.isspace():
                    continue
                count += 1
                if count > limit:
                    if self.stop_early:
                        raise Refusal("too_many_rows_text")
                    continue
                if offset:
                    row = pad + row
                    line = join(row)
                cells = len(row)
                if cells > width:
                    pending.update(range(width, cells))
                    width = cells
                if pending:
                    self._settle(row, width)
                if line.count(SEP) != cells - 1 or line.startswith(ESC):  # see rowtext: JSON for such rows
                    line = encode(row)
                text += len(line) + 1
                if text > max_text:
                    raise Refusal("too_much_text", sheet=self.sheet)
                append(line)
                if number == expect:
                    run[1] += 1
                else:
                    run = [number, 1]
                    runs.append(run)
                expect = number + 1
        finally:
            self.count, self.width, self.text = count, width, text

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
                if piece.count(REC) != len(batch) - 1 or "\x00" in piece or ESC in piece:
                    piece = REC.join(_clean(line) for line in batch)
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


def _clean(line: str) -> str:
    """A line whose cells hold REC, start with ESC or hold NUL (which PostgreSQL cannot store and which is never
    part of a name or a link), in its safe form without the NULs."""
    if not ("\x00" in line or REC in line or line.startswith(ESC)):
        return line
    return encode([c.replace("\x00", "") for c in decode(line)])
