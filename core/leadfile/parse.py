"""Reads an uploaded lead file of any supported kind into a ParsedFile, checking the limits as early as it can."""

from __future__ import annotations

import hashlib

from core.errors import InvalidInput, LimitReached
from core.leadfile import sniff, zipcheck
from core.leadfile.model import Limits, ParsedFile
from core.leadfile.reader_process import read_table
from core.leadfile.table import build_table


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f}".rstrip("0").rstrip(".")


def parse_file(data: bytes, file_name: str, limits: Limits = Limits(), sheet: str | None = None) -> ParsedFile:
    """The header and data rows of an .xlsx, .xlsm, .xlsb, .xls, .ods, .csv or .tsv file;
    InvalidInput or LimitReached with a reason."""
    if len(data) > limits.max_bytes:
        raise LimitReached(
            f"This file is {_megabytes(len(data))} MB; the limit is {_megabytes(limits.max_bytes)} MB. "
            "Split it or remove unused columns, then upload it again."
        )
    kind: str = sniff.detect(data, file_name)
    if kind == "zip":
        kind = zipcheck.scan(data, limits)
    read = read_table(data, kind, file_name, limits, sheet=sheet)
    if kind != "text" and not read.rows:
        raise InvalidInput(f"The sheet “{read.sheet_name}” is empty.")
    table = build_table(read.rows, read.row_numbers, limits, read.columns_at)
    return ParsedFile(
        file_name=file_name,
        file_size=len(data),
        content_hash=hashlib.sha256(data).hexdigest(),
        sheet_names=read.sheet_names,
        sheet_name=read.sheet_name,
        header_row_number=table.header_row_number,
        columns=table.columns,
        rows=table.rows,
        row_numbers=table.row_numbers,
        formula_cells_without_value=read.formula_cells_without_value,
    )
