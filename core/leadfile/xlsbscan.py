"""The error cells of an .xlsb worksheet, which calamine reads as empty, by walking its binary records."""

# Imported by the reader child by its bare name: standard library, defusedxml and sibling child modules only.

from __future__ import annotations

import posixpath
import struct
import zipfile
from collections.abc import Iterator

from defusedxml import ElementTree
from zipparts import NS_PKG_REL, Package, read_small

MAX_SCAN = 32 << 20  # larger sheet parts keep calamine's reading (a walk in Python would take too long)
ERRORS = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?", 0x24: "#NUM!", 0x2A: "#N/A"}
ROW_HEADER, CELL_ERROR, FORMULA_ERROR, BUNDLE_SHEET = 0x0000, 0x0003, 0x000B, 0x009C


def records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, body) of each BIFF12 record: type and size are little-endian base-128 numbers."""
    pos, end = 0, len(data)
    while pos < end:
        kind = data[pos]
        pos += 1
        if kind & 0x80 and pos < end:
            kind = (kind & 0x7F) | (data[pos] & 0x7F) << 7
            pos += 1
        size, shift = 0, 0
        for _ in range(4):
            if pos >= end:
                return
            byte = data[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        yield kind, data[pos : pos + size]
        pos += size


def _wide(body: bytes, at: int) -> tuple[str, int]:
    count = struct.unpack_from("<I", body, at)[0]
    if count == 0xFFFFFFFF:
        return "", at + 4
    end = at + 4 + 2 * count
    return body[at + 4 : end].decode("utf-16-le", "replace"), end


def sheet_part(zf: zipfile.ZipFile, package: Package, name: str) -> str | None:
    """The worksheet part of the sheet `name`, from xl/workbook.bin and its relationships."""
    book = read_small(zf, package, "xl/workbook.bin")
    rels = read_small(zf, package, "xl/_rels/workbook.bin.rels")
    if not book or not rels:
        return None
    targets = {
        rel.get("Id", ""): rel.get("Target", "")
        for rel in ElementTree.fromstring(rels).iter(f"{NS_PKG_REL}Relationship")
    }
    for kind, body in records(book):
        if kind != BUNDLE_SHEET or len(body) < 12:
            continue
        try:
            rel_id, at = _wide(body, 8)
            sheet_name, _ = _wide(body, at)
        except struct.error:
            continue
        if sheet_name == name and rel_id in targets:
            return posixpath.normpath(posixpath.join("xl", targets[rel_id].replace("\\", "/")))
    return None


def error_cells(zf: zipfile.ZipFile, package: Package, part: str) -> dict[int, list[tuple[int, str]]]:
    """row -> [(column, error text)] (0-based) of the sheet part's error cells."""
    data = read_small(zf, package, part, MAX_SCAN)
    found: dict[int, list[tuple[int, str]]] = {}
    if not data:
        return found
    row = 0
    for kind, body in records(data):
        if kind == ROW_HEADER and len(body) >= 4:
            row = struct.unpack_from("<I", body)[0]
        elif kind in (CELL_ERROR, FORMULA_ERROR) and len(body) >= 9:
            col = struct.unpack_from("<I", body)[0]
            found.setdefault(row, []).append((col, ERRORS.get(body[8], "#ERROR!")))
    return found
