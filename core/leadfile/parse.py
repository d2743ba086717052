"""Reads an uploaded lead file of any supported kind into a ParsedFile, checking the limits as early as it can."""

from __future__ import annotations

import hashlib

from core.errors import InvalidInput, LimitReached
from core.leadfile import sniff, textfile, zipcheck
from core.leadfile.model import Limits, ParsedFile
from core.leadfile.reader_process import read_workbook
from core.leadfile.table import build_table


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f}".rstrip("0").rstrip(".")


def parse_file(data: bytes, file_name: str, limits: Limits = Limits(), sheet: str | None = None) -> ParsedFile:
    """The header and data rows of an .xlsx, .xls, .csv or .tsv file; InvalidInput or LimitReached with a reason."""
    if len(data) > limits.max_bytes:
        raise LimitReached(
            f"This file is {_megabytes(len(data))} MB; the limit is {_megabytes(limits.max_bytes)} MB. "
            "Split it or remove unused columns, then upload it again."
        )
    kind = sniff.detect(data, file_name)
    if kind == "text":
        rows, numbers = textfile.read_records(data, file_name, limits)
        sheet_names: list[str] = []
        sheet_name: str | None = None
    else:
        skip: list[str] = []
        if kind == "xlsx":
            skip = zipcheck.scan_xlsx(data, limits, sheet).oversized
        read = read_workbook(data, kind, limits, sheet=sheet, skip=skip)
        rows, numbers = read.rows, read.row_numbers
        sheet_names, sheet_name = read.sheet_names, read.sheet_name
        if not rows:
            raise InvalidInput(f"The sheet “{sheet_name}” is empty.")
    table = build_table(rows, numbers, limits)
    return ParsedFile(
        file_name=file_name,
        file_size=len(data),
        content_hash=hashlib.sha256(data).hexdigest(),
        sheet_names=sheet_names,
        sheet_name=sheet_name,
        header_row_number=table.header_row_number,
        columns=table.columns,
        rows=table.rows,
        row_numbers=table.row_numbers,
    )
