"""Cheap pre-scan of an .xlsx zip before any parser sees it: part count, sizes, compression ratio, XML prologs, sheet dimensions."""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from core.errors import InvalidInput, LimitReached
from core.leadfile.model import Limits
from core.leadfile.reader_process import DAMAGED, HEAD_ROWS, PASSWORD

MAX_PARTS = 2_000
MAX_RATIO = 500
RATIO_FLOOR = 1024 * 1024  # parts smaller than this unpacked are never a bomb
PROLOG_BYTES = 64 * 1024
XML_SUFFIXES = (".xml", ".rels", ".vml")
DIMENSION = re.compile(
    rb"<(?:\w+:)?dimension\s+ref=\"\$?([A-Za-z]{1,3})\$?(\d{1,7})(?::\$?([A-Za-z]{1,3})\$?(\d{1,7}))?\""
)
NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


@dataclass(slots=True)
class ZipScan:
    """What the pre-scan learnt: each sheet's declared size, and the sheets too big to open by default."""

    sheets: list[str] = field(default_factory=list)
    dimensions: dict[str, tuple[int, int]] = field(default_factory=dict)
    oversized: list[str] = field(default_factory=list)


def scan_xlsx(data: bytes, limits: Limits, sheet: str | None = None) -> ZipScan:
    """Refuse zip bombs, XML entity tricks and absurd sheet sizes before the workbook is parsed."""
    _check_entry_count(data)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise InvalidInput(DAMAGED) from None
    with zf:
        names = {info.filename for info in infos}
        _check_kind(names)
        _check_sizes(infos, limits)
        heads = {info.filename: _head(zf, info) for info in infos if info.filename.lower().endswith(XML_SUFFIXES)}
        for name, head in heads.items():
            _check_prolog(name, head)
        parts = _sheet_parts(zf)
        scan = ZipScan(sheets=list(parts))
        for name, part in parts.items():
            match = DIMENSION.search(heads.get(part, b""))
            if match:
                scan.dimensions[name] = _size(match)
    _apply_limits(scan, limits, sheet)
    return scan


def _check_entry_count(data: bytes) -> None:
    """Read the part count from the end-of-archive record before zipfile builds its whole directory."""
    tail = data[-(65536 + 22) :]
    at = tail.rfind(b"PK\x05\x06")
    if at >= 0 and len(tail) >= at + 12:
        count = int.from_bytes(tail[at + 10 : at + 12], "little")
        if MAX_PARTS < count < 0xFFFF:
            raise InvalidInput(f"This file has {count:,} parts, far more than a real workbook; it was not opened.")


def _check_kind(names: set[str]) -> None:
    if "xl/workbook.xml" in names:
        return
    if "xl/workbook.bin" in names:
        raise InvalidInput(
            "Excel binary workbooks (.xlsb) are not supported: save the file as .xlsx and upload it again."
        )
    if "mimetype" in names and any(n == "content.xml" for n in names):
        raise InvalidInput("OpenDocument files (.ods) are not supported: save the file as .xlsx and upload it again.")
    if "word/document.xml" in names:
        raise InvalidInput("This is a Word document, not a spreadsheet. Upload the Excel or CSV file with the leads.")
    if "ppt/presentation.xml" in names:
        raise InvalidInput("This is a PowerPoint file, not a spreadsheet. Upload the Excel or CSV file with the leads.")
    raise InvalidInput("This is a zip archive, not an Excel workbook. Upload the Excel or CSV file with the leads.")


def _check_sizes(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > MAX_PARTS:
        raise InvalidInput(f"This file has {len(infos):,} parts, far more than a real workbook; it was not opened.")
    total = 0
    max_total = limits.parse_memory_mb * 1024 * 1024
    for info in infos:
        if info.flag_bits & 0x1:
            raise InvalidInput(PASSWORD)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InvalidInput(DAMAGED)
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise LimitReached(
                f"This file would expand {ratio:,.0f} times when opened, which real workbooks never do "
                "(it looks like a zip bomb), so it was not opened."
            )
    if total > max_total:
        raise LimitReached(
            f"This workbook unpacks to {total / 2**20:,.0f} MB, more than the {limits.parse_memory_mb:,} MB "
            "LeadRelay reads. Remove unused sheets or formatting, or save the leads as CSV."
        )


def _head(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with zf.open(info) as stream:
            return stream.read(PROLOG_BYTES)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError):
        raise InvalidInput(DAMAGED) from None
    except Exception:  # noqa: BLE001 - zlib and friends raise their own kinds on damaged data
        raise InvalidInput(DAMAGED) from None


def _check_prolog(name: str, head: bytes) -> None:
    """The part must reach its root element quickly, with no DOCTYPE or entity declarations on the way."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", "ignore")
    else:
        text = head.decode("utf-8", "ignore").lstrip("\ufeff")
    pos, end = 0, len(text)
    while pos < end:
        if text[pos] in " \t\r\n":
            pos += 1
        elif text.startswith("<?", pos):
            close = text.find("?>", pos)
            if close < 0:
                break
            pos = close + 2
        elif text.startswith("<!--", pos):
            close = text.find("-->", pos)
            if close < 0:
                break
            pos = close + 3
        elif text.startswith("<!", pos):
            raise InvalidInput(
                "This file contains XML declarations (DOCTYPE or ENTITY) that spreadsheets never use and that "
                "are used in attacks, so it was not opened."
            )
        elif text.startswith("<", pos):
            return
        else:
            raise InvalidInput(DAMAGED)
    if len(head) >= PROLOG_BYTES:
        raise InvalidInput(
            f"A part of this file ({posixpath.basename(name)}) has an unusual layout; it was not opened."
        )
    if head.strip():
        raise InvalidInput(DAMAGED)


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> zip part, read from workbook.xml and its relationships (both small, parsed with defusedxml)."""
    try:
        workbook = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels_xml = zf.read("xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in zf.NameToInfo else b""
        rels = ElementTree.fromstring(rels_xml) if rels_xml else None
    except DefusedXmlException:
        raise InvalidInput(
            "This file contains XML declarations that spreadsheets never use; it was not opened."
        ) from None
    except Exception:  # noqa: BLE001 - any parse failure means a damaged workbook
        raise InvalidInput(DAMAGED) from None
    targets: dict[str, str] = {}
    if rels is not None:
        for rel in rels.iter(f"{NS_PKG_REL}Relationship"):
            target = rel.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            targets[rel.get("Id", "")] = path
    parts: dict[str, str] = {}
    for node in workbook.iter(f"{NS_MAIN}sheet"):
        rid = node.get(f"{NS_REL}id", "")
        if rid in targets:
            parts[node.get("name", "")] = targets[rid]
    return parts


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters.upper():
        number = number * 26 + (ch - 64)
    return number


def _size(match: re.Match[bytes]) -> tuple[int, int]:
    """Rows and columns of a `<dimension ref="A1:F100">` match."""
    c1, r1, c2, r2 = match.groups()
    if c2 is None or r2 is None:
        return 1, 1
    rows = abs(int(r2) - int(r1)) + 1
    cols = abs(_column_number(c2) - _column_number(c1)) + 1
    return rows, cols


def _apply_limits(scan: ZipScan, limits: Limits, sheet: str | None) -> None:
    over: dict[str, LimitReached] = {}
    for name, (rows, cols) in scan.dimensions.items():
        if cols > limits.max_columns:
            over[name] = LimitReached(
                f"The sheet “{name}” has {cols:,} columns; the limit is {limits.max_columns:,}. "
                "Delete the columns you do not need and upload it again."
            )
        elif rows > limits.max_rows + HEAD_ROWS:
            over[name] = LimitReached(
                f"The sheet “{name}” has {rows:,} rows; LeadRelay reads at most {limits.max_rows:,} leads from "
                "one file. Split the file and upload the parts."
            )
    if sheet is not None:
        if sheet in over:
            raise over[sheet]
        return
    scan.oversized = list(over)
    if over and set(over) >= set(scan.sheets):
        raise next(iter(over.values()))
