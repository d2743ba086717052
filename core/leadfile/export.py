"""Writes enriched leads as .xlsx or .csv: original columns, PhantomBuster profile fields, status and error, formula-safe.

A text cell of an .xlsx is never evaluated, so .xlsx cells hold the text exactly ("+47 22 00 00 00" stays that)
and the file holds no formula; a CSV has no cell types, so there a text that starts like a formula gets a
leading quote."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any, Literal

import xlsxwriter

from core.errors import InvalidInput
from core.leadfile.model import ExportRow

# Characters that make a spreadsheet treat a cell as a formula (or hide how it starts); the quote itself is
# escaped too, so the original text is always the cell minus one leading quote when it starts with one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPED_STARTS = (*FORMULA_STARTS, "'")
XLSX_CELL_MAX = 32_767
PREFERRED_PROFILE_FIELDS = (
    "fullName",
    "firstName",
    "lastName",
    "linkedinHeadline",
    "linkedinJobTitle",
    "companyName",
    "location",
    "linkedinProfileUrl",
    "professionalEmail",
    "linkedinJobLocation",
    "linkedinJobDateRange",
    "linkedinJobDescription",
    "companyWebsite",
    "linkedinCompanyUrl",
    "linkedinDescription",
    "linkedinSkillsLabel",
    "linkedinSchoolName",
    "linkedinSchoolDegree",
    "linkedinFollowersCount",
    "linkedinConnectionsCount",
    "linkedinProfileImageUrl",
    "linkedinProfileId",
    "vmid",
    "query",
    "timestamp",
)
XLSX_OPTIONS = {
    "strings_to_urls": False,
    "strings_to_formulas": False,
    "strings_to_numbers": False,
    "constant_memory": True,
}


def safe_cell(text: str) -> str:
    """The text with a leading quote when it starts like a formula (or with a quote), so no spreadsheet runs it."""
    return "'" + text if text.startswith(ESCAPED_STARTS) else text


def original_text(cell: str) -> str:
    """The text `safe_cell` was given: its result minus the one leading quote it may have added."""
    return cell[1:] if cell.startswith("'") else cell


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _unique(name: str, taken: set[str]) -> str:
    candidate = name
    while candidate.casefold() in taken:
        candidate = "pb_" + candidate
    taken.add(candidate.casefold())
    return candidate


def export_header(columns: list[str], rows: list[ExportRow]) -> tuple[list[str], list[str], list[str]]:
    """(header, profile keys in header order, status/error names): profile names that collide get a `pb_` prefix."""
    seen: dict[str, None] = {}
    for row in rows:
        if row.profile:
            seen.update(dict.fromkeys(str(k) for k in row.profile))
    keys = [k for k in PREFERRED_PROFILE_FIELDS if k in seen] + [k for k in seen if k not in PREFERRED_PROFILE_FIELDS]
    taken = {c.casefold() for c in columns}
    status_names = [_unique(n if n.casefold() not in taken else "leadrelay_" + n, taken) for n in ("status", "error")]
    profile_names = [_unique(k, taken) for k in keys]
    return [*columns, *profile_names, *status_names], keys, status_names


def _clean(text: str) -> str:
    """The text with lone surrogates (which no file encoding can hold) replaced by U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _cells(columns: list[str], keys: list[str], row: ExportRow, clean: bool = False) -> list[str]:
    """The row's cells as text, exactly as stored."""
    values = row.values or {}
    profile = row.profile or {}
    cells = [_text(values.get(c)) for c in columns]
    cells.extend(_text(profile.get(k)) for k in keys)
    cells.append(_text(row.status))
    cells.append(_text(row.error))
    if clean:
        cells = [_clean(c) for c in cells]
    return cells


def export_leads(columns: list[str], rows: Iterable[ExportRow], fmt: Literal["xlsx", "csv"]) -> bytes:
    """The leads as .xlsx or .csv bytes: original columns in order, then profile fields, then status and error."""
    if fmt not in ("xlsx", "csv"):
        raise InvalidInput(f"Exports are .xlsx or .csv, not .{fmt}.")
    materialised = list(rows)
    header, keys, _ = export_header(list(columns), materialised)
    write = _write_csv if fmt == "csv" else _write_xlsx
    try:
        return write(header, columns, keys, materialised, False)
    except UnicodeEncodeError:  # a lone surrogate somewhere (from JSON): write again with every cell cleaned
        return write([_clean(h) for h in header], columns, keys, materialised, True)


def _write_csv(header: list[str], columns: list[str], keys: list[str], rows: list[ExportRow], clean: bool) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(c) for c in _cells(columns, keys, row, clean)] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def _write_xlsx(header: list[str], columns: list[str], keys: list[str], rows: list[ExportRow], clean: bool) -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, XLSX_OPTIONS)
    sheet = workbook.add_worksheet("Leads")
    bold = workbook.add_format({"bold": True})
    sheet.freeze_panes(1, 0)
    for col, name in enumerate(header):
        sheet.write_string(0, col, name[:XLSX_CELL_MAX], bold)
    for row_index, row in enumerate(rows, start=1):
        for col, cell in enumerate(_cells(columns, keys, row, clean)):
            if cell:  # write_string: a text cell, whatever it starts with (no formula, no number, no link)
                sheet.write_string(row_index, col, cell[:XLSX_CELL_MAX])
    workbook.close()
    return buffer.getvalue()
