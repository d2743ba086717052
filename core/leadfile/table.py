"""Finds the header row among the first rows of a sheet and shapes the data rows into a rectangular table."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvalidInput, LimitReached
from core.leadfile.headers import header_score, looks_like_profile_url
from core.leadfile.model import Limits
from core.leadfile.reader_process import HEAD_ROWS
from core.leadfile.rows import Rows


@dataclass(slots=True)
class Table:
    """Columns and rectangular data rows (cell text), with each row's number and the header's row number."""

    header_row_number: int
    columns: list[str]
    rows: Rows
    row_numbers: list[int]


def column_letter(index: int) -> str:
    """Excel's letter for a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def find_header(rows: list[list[str]]) -> int | None:
    """Index of the header among the first rows: the one naming the most lead fields; None when the file has none."""
    best, best_score = 0, 0
    for index, row in enumerate(rows[:HEAD_ROWS]):
        score = header_score(row)
        if score > best_score:
            best, best_score = index, score
    if best_score == 0 and rows and any(looks_like_profile_url(c) for c in rows[0]):
        return None
    return best


def _names(header: list[str], keep: list[int], columns_at: list[int]) -> list[str]:
    """Header texts, with a name for unnamed columns (their letter in the sheet) and a number for repeated ones."""
    names: list[str] = []
    seen: set[str] = set()
    for index in keep:
        name = header[index].strip().lstrip("\ufeff").strip() if index < len(header) else ""
        if not name:
            name = f"Column {column_letter(columns_at[index] if index < len(columns_at) else index)}"
        base, n = name, 1
        while name.casefold() in seen:
            n += 1
            name = f"{base} ({n})"
        seen.add(name.casefold())
        names.append(name)
    return names


def _used_columns(header: list[str], data: Rows, width: int) -> list[int]:
    """Columns with a header or at least one non-blank cell, found in one pass that stops when all are settled."""
    pending = {i for i in range(width) if not (i < len(header) and header[i].strip())}
    step = data.block_rows()
    for start in range(0, len(data), step):
        if not pending:
            break
        for row in data.block(start, start + step):
            for i in [i for i in pending if i < len(row) and row[i].strip()]:
                pending.discard(i)
            if not pending:
                break
    return [i for i in range(width) if i not in pending]


def build_table(rows: Rows, numbers: list[int], limits: Limits, columns_at: list[int] | None = None) -> Table:
    """Header found, columns named, data rows padded or cut to the column count; limits checked exactly, after
    empty columns are dropped."""
    if not rows:
        raise InvalidInput("This file has no rows with data.")
    header_at = find_header(rows[:HEAD_ROWS])
    if header_at is None:
        header: list[str] = []
        data, data_numbers, header_number = rows, numbers, 0
    else:
        header = rows.cells(header_at)
        data, data_numbers = rows.tail(header_at + 1), numbers[header_at + 1 :]
        header_number = numbers[header_at]
    width = max(rows.width, len(header))
    keep = _used_columns(header, data, width)
    if len(keep) > limits.max_columns:
        raise LimitReached(
            f"This sheet has {len(keep):,} columns; the limit is {limits.max_columns:,}. "
            "Delete the columns you do not need and upload it again."
        )
    if len(data) > limits.max_rows:
        raise LimitReached(
            f"This file has {len(data):,} rows of leads; LeadRelay reads at most {limits.max_rows:,} from one file. "
            "Split the file and upload the parts."
        )
    if not keep:
        raise InvalidInput("This file has no columns with data.")
    names = _names(header, keep, columns_at or [])
    shaped = data.reshaped(width, None if keep == list(range(width)) else keep, names)
    return Table(header_number, names, shaped, list(data_numbers))
