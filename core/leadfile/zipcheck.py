"""Cheap pre-scan of a zip upload before any parser sees it: which kind of workbook it is (.xlsx, .xlsb, .ods),
part count, sizes, compression ratio, encryption, XML prologs."""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from typing import Literal

from core.errors import InvalidInput, LimitReached
from core.leadfile.model import Limits
from core.leadfile.reader_process import DAMAGED, PASSWORD

ZipKind = Literal["xlsx", "xlsb", "ods"]
MAX_PARTS = 2_000
MAX_RATIO = 500
RATIO_FLOOR = 1024 * 1024  # parts smaller than this unpacked are never a bomb
PROLOG_BYTES = 64 * 1024
XML_SUFFIXES = (".xml", ".rels", ".vml")
OFFICE_DOCUMENT = re.compile(rb"""Type\s*=\s*["'][^"']*/officeDocument["'][^>]*?Target\s*=\s*["']([^"']+)["']""")
TARGET_FIRST = re.compile(rb"""Target\s*=\s*["']([^"']+)["'][^>]*?Type\s*=\s*["'][^"']*/officeDocument["']""")
ODS_TYPES = {
    b"application/vnd.oasis.opendocument.spreadsheet": None,
    b"application/vnd.oasis.opendocument.spreadsheet-template": None,
    b"application/vnd.oasis.opendocument.text": "This is an OpenDocument text document, not a spreadsheet.",
    b"application/vnd.oasis.opendocument.presentation": "This is an OpenDocument presentation, not a spreadsheet.",
}


def scan(data: bytes, limits: Limits) -> ZipKind:
    """The kind of workbook the zip holds; refuses zip bombs, encryption, XML entity tricks and other zips."""
    _check_entry_count(data)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise InvalidInput(DAMAGED) from None
    with zf:
        names = {_normal(info.filename): info for info in infos}
        kind = _kind(zf, names)
        if kind == "ods" and _ods_encrypted(zf, names):  # before the prologs: its encrypted parts are not XML
            raise InvalidInput(PASSWORD)
        _check_sizes(infos, limits)
        for name, info in names.items():
            if name.lower().endswith(XML_SUFFIXES):
                _check_prolog(name, _head(zf, info))
    return kind


def _normal(name: str) -> str:
    """A part name as calamine's zip reader sees it: forward slashes (Windows tools write backslashes)."""
    return name.replace("\\", "/").lstrip("/")


def _check_entry_count(data: bytes) -> None:
    """Read the part count from the end-of-archive record before zipfile builds its whole directory."""
    tail = data[-(65536 + 22) :]
    at = tail.rfind(b"PK\x05\x06")
    if at >= 0 and len(tail) >= at + 12:
        count = int.from_bytes(tail[at + 10 : at + 12], "little")
        if MAX_PARTS < count < 0xFFFF:
            raise InvalidInput(f"This file has {count:,} parts, far more than a real workbook; it was not opened.")


def _lookup(names: dict[str, zipfile.ZipInfo], wanted: str) -> zipfile.ZipInfo | None:
    if wanted in names:
        return names[wanted]
    lowered = wanted.lower()
    return next((info for name, info in names.items() if name.lower() == lowered), None)


def _kind(zf: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> ZipKind:
    if _lookup(names, "xl/workbook.bin"):
        return "xlsb"
    if _workbook_xml(zf, names):
        return "xlsx"
    mimetype = _lookup(names, "mimetype")
    if mimetype is not None and _lookup(names, "content.xml"):
        kind = _head(zf, mimetype)[:200].strip()
        if kind in ODS_TYPES:
            message = ODS_TYPES[kind]
            if message:
                raise InvalidInput(f"{message} Upload the spreadsheet or CSV file with the leads.")
            return "ods"
        raise InvalidInput(
            "This is an OpenDocument file but not a spreadsheet. Upload the spreadsheet or CSV file with the leads."
        )
    if _lookup(names, "word/document.xml"):
        raise InvalidInput("This is a Word document, not a spreadsheet. Upload the Excel or CSV file with the leads.")
    if _lookup(names, "ppt/presentation.xml"):
        raise InvalidInput("This is a PowerPoint file, not a spreadsheet. Upload the Excel or CSV file with the leads.")
    raise InvalidInput("This is a zip archive, not an Excel workbook. Upload the Excel or CSV file with the leads.")


def _workbook_xml(zf: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> bool:
    """Whether the package has a workbook part: where _rels/.rels points, else in xl/ or at the root."""
    rels = _lookup(names, "_rels/.rels")
    if rels is not None:
        head = _head(zf, rels)
        found = OFFICE_DOCUMENT.search(head) or TARGET_FIRST.search(head)
        if found:
            target = _normal(found.group(1).decode("utf-8", "replace"))
            info = _lookup(names, posixpath.normpath(target))
            if info is not None and info.filename.lower().endswith(".xml"):
                return True
    return _lookup(names, "xl/workbook.xml") is not None or _lookup(names, "workbook.xml") is not None


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


def _ods_encrypted(zf: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> bool:
    """Whether the OpenDocument manifest says its parts are encrypted (a password-protected file)."""
    manifest = _lookup(names, "META-INF/manifest.xml")
    return manifest is not None and b"encryption-data" in _head(zf, manifest)


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
