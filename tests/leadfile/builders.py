"""Test helper: builds lead workbooks (openpyxl, xlsxwriter) and hand-made hostile zips, all in memory."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import openpyxl
import xlsxwriter

NAMES = ["Ærøskøbing Søren Ødegård", "Łódź Paweł Żółć", "José Müller"]
HEADER = ["First Name", "Last Name", "Company", "LinkedIn URL", "Email", "Country"]


def lead_rows(n: int = 3) -> list[list[str]]:
    """A header and `n` leads whose names carry accents from three code pages."""
    rows = [list(HEADER)]
    for i in range(n):
        name = NAMES[i % len(NAMES)]
        first, _, last = name.partition(" ")
        rows.append(
            [first, last, f"{name} AS", f"https://www.linkedin.com/in/person-{i}", f"p{i}@example.com", "Norge"]
        )
    return rows


def xlsx_openpyxl(sheets: Mapping[str, Sequence[Sequence[Any]]]) -> bytes:
    """A workbook as openpyxl writes it (shared strings, a dimension element)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def xlsx_xlsxwriter(sheets: Mapping[str, Sequence[Sequence[Any]]], constant_memory: bool = False) -> bytes:
    """A workbook as xlsxwriter writes it (inline strings in constant-memory mode)."""
    out = io.BytesIO()
    # Text stays text: a name such as "=" must not become a formula the test then reads back as 0.
    options = {"strings_to_urls": False, "strings_to_formulas": False, "constant_memory": constant_memory}
    wb = xlsxwriter.Workbook(out, options)
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    ws.write(r, c, value)
    wb.close()
    return out.getvalue()


CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    b'<Override PartName="/xl/sharedStrings.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    b"</Types>"
)
ROOT_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    b'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    b'<sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    b'worksheet" Target="worksheets/sheet1.xml"/>'
    b'<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    b'sharedStrings" Target="sharedStrings.xml"/></Relationships>'
)
SHARED = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2">'
    b"<si><t>LinkedIn</t></si><si><t>https://www.linkedin.com/in/jane</t></si></sst>"
)


def sheet_xml(dimension: str = "A1:A2", doctype: bytes = b"") -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>' + doctype + b'<worksheet xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main"><dimension ref="' + dimension.encode() + b'"/><sheetData>'
        b'<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>'
        b"</sheetData></worksheet>"
    )


def minimal_parts(**overrides: bytes) -> dict[str, bytes]:
    """The parts of a tiny valid workbook (one LinkedIn column, one lead); keyword names replace parts."""
    parts = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": ROOT_RELS,
        "xl/workbook.xml": WORKBOOK,
        "xl/_rels/workbook.xml.rels": WORKBOOK_RELS,
        "xl/worksheets/sheet1.xml": sheet_xml(),
        "xl/sharedStrings.xml": SHARED,
    }
    parts.update(overrides)
    return parts


def zip_parts(parts: dict[str, bytes]) -> bytes:
    """A zip of `parts` written with zipfile-compatible deflate."""
    return raw_zip([(name, _deflate(data), zlib.crc32(data), len(data)) for name, data in parts.items()])


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def zeros_deflated(megabytes: int) -> bytes:
    """A raw deflate stream that inflates to `megabytes` MiB of zero bytes, built without inflating anything:
    one full-flushed block for 1 MiB of zeros, repeated, then an empty final block."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(b"\0" * (1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = zlib.compressobj(9, zlib.DEFLATED, -15)
    again.compress(b"\0" * (1 << 20))
    repeat = again.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    return block + repeat * (megabytes - 1) + final


def raw_zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip from (name, deflated bytes, crc32, declared size) entries: sizes and CRCs are written as given."""
    body = b""
    central = b""
    for name, data, crc, size in entries:
        encoded = name.encode()
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0)
        body += encoded + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0, 0, 0, 0, 0,
            offset,
        )  # fmt: skip
        central += encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(body), 0)
    return body + central + end


def billion_laughs() -> bytes:
    lol = b'<!ENTITY lol "lol">'
    for i in range(1, 10):
        prev = b"&lol;" if i == 1 else b"&lol" + str(i - 1).encode() + b";"
        lol += b"<!ENTITY lol" + str(i).encode() + b' "' + prev * 10 + b'">'
    return (
        b'<?xml version="1.0"?><!DOCTYPE sst [' + lol + b"]>"
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>'
    )


EXTERNAL_ENTITY = b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
