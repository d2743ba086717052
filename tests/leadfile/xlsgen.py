"""Test helper: writes small legacy .xls (BIFF8 in an OLE2 compound file) workbooks, so no binary fixture is committed."""

from __future__ import annotations

import datetime as dt
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any

SECTOR = 512
ENDOFCHAIN = 0xFFFFFFFE
FREESECT = 0xFFFFFFFF
FATSECT = 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

Cell = str | int | float | dt.date | None
EPOCH = dt.datetime(1899, 12, 30)


def _dir_entry(name: str, kind: int, start: int, size: int, child: int = NOSTREAM, right: int = NOSTREAM) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    entry = encoded.ljust(64, b"\0")
    entry += struct.pack("<HBB", len(encoded), kind, 1)
    entry += struct.pack("<III", NOSTREAM, right, child)
    entry += b"\0" * 16 + b"\0" * 4 + b"\0" * 16
    entry += struct.pack("<IQ", start, size)
    assert len(entry) == 128
    return entry


def compound_file(streams: Sequence[tuple[str, bytes]]) -> bytes:
    """An OLE2 compound file holding `streams` (each padded to 4096 bytes so no mini stream is needed)."""
    padded = [(name, data.ljust(max(len(data), 4096), b"\0")) for name, data in streams]
    chains: list[tuple[int, int]] = []
    sector = 0
    for _, data in padded:
        count = math.ceil(len(data) / SECTOR)
        chains.append((sector, count))
        sector += count
    entries = [_dir_entry("Root Entry", 5, ENDOFCHAIN, 0, child=1 if padded else NOSTREAM)]
    for index, ((name, data), (start, _)) in enumerate(zip(padded, chains, strict=True), start=1):
        right = index + 1 if index < len(padded) else NOSTREAM
        entries.append(_dir_entry(name, 2, start, len(data), right=right))
    while len(entries) % 4:
        entries.append(_dir_entry("", 0, 0, 0))
    directory = b"".join(entries)
    dir_sector, dir_count = sector, len(directory) // SECTOR  # four entries a sector, chained
    used = sector + dir_count
    fat_sectors = 1
    while fat_sectors * (SECTOR // 4) < used + fat_sectors:
        fat_sectors += 1
    fat = [FREESECT] * (fat_sectors * (SECTOR // 4))
    for start, count in [*chains, (dir_sector, dir_count)]:
        for i in range(count):
            fat[start + i] = start + i + 1 if i < count - 1 else ENDOFCHAIN
    for i in range(fat_sectors):
        fat[used + i] = FATSECT
    difat = [used + i for i in range(fat_sectors)] + [FREESECT] * (109 - fat_sectors)
    header = OLE2_MAGIC + b"\0" * 16
    header += struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6) + b"\0" * 6
    header += struct.pack("<IIIIIIIII", 0, fat_sectors, dir_sector, 0, 4096, ENDOFCHAIN, 0, ENDOFCHAIN, 0)
    header += struct.pack("<109I", *difat)
    assert len(header) == SECTOR
    body = b"".join(data.ljust(math.ceil(len(data) / SECTOR) * SECTOR, b"\0") for _, data in padded)
    body += directory
    body += struct.pack(f"<{len(fat)}I", *fat)
    return header + body


def _record(kind: int, data: bytes = b"") -> bytes:
    assert len(data) <= 8224
    return struct.pack("<HH", kind, len(data)) + data


def _bof(kind: int) -> bytes:
    return _record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))


def _xl_string(text: str, length_bytes: int = 2) -> bytes:
    fmt = "<H" if length_bytes == 2 else "<B"
    return struct.pack(fmt, len(text.encode("utf-16-le")) // 2) + b"\x01" + text.encode("utf-16-le")


def _sst(strings: list[str]) -> bytes:
    """The shared string table, cut into CONTINUE records between strings."""
    head = struct.pack("<II", len(strings), len(strings))
    records, current = [], head
    for text in strings:
        piece = _xl_string(text)
        if len(current) + len(piece) > 8224:
            records.append(current)
            current = b""
        current += piece
    records.append(current)
    return _record(0x00FC, records[0]) + b"".join(_record(0x003C, r) for r in records[1:])


def xls_workbook(
    sheets: Mapping[str, Sequence[Sequence[Any]]], *, encrypted: bool = False, other_streams: int = 0
) -> bytes:
    """A BIFF8 workbook with text, number and date cells; `other_streams` empty streams come before it."""
    strings: list[str] = []
    index: dict[str, int] = {}
    bodies: list[bytes] = []
    for rows in sheets.values():
        records = [_bof(0x0010)]
        width = max((len(r) for r in rows), default=0)
        records.append(_record(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, width, 0)))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, str):
                    if value not in index:
                        index[value] = len(strings)
                        strings.append(value)
                    records.append(_record(0x00FD, struct.pack("<HHHI", r, c, 0, index[value])))
                elif isinstance(value, dt.date):
                    moment = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
                    serial = (moment - EPOCH) / dt.timedelta(days=1)
                    records.append(_record(0x0203, struct.pack("<HHHd", r, c, 1, serial)))
                else:
                    records.append(_record(0x0203, struct.pack("<HHHd", r, c, 0, float(value))))
        records.append(_record(0x000A))
        bodies.append(b"".join(records))
    xf = struct.pack("<HHHBBBBIIH", 0, 0, 0xFFF5, 0x20, 0, 0, 0, 0, 0, 0x20C0)
    xf_date = struct.pack("<HHHBBBBIIH", 0, 14, 0x0001, 0x20, 0, 0, 0, 0, 0, 0x20C0)
    globals_head = _bof(0x0005)
    if encrypted:
        globals_head += _record(0x002F, struct.pack("<HHH", 1, 1, 1) + b"\x11" * 48)
    globals_head += _record(0x0042, struct.pack("<H", 1200)) + _record(0x0022, struct.pack("<H", 0))
    globals_head += _record(
        0x0031, struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 0) + _xl_string("Arial", 1)
    )
    globals_head += _record(0x00E0, xf) + _record(0x00E0, xf_date)
    sheet_records_len = sum(len(_record(0x0085, b"\0" * (6 + len(_xl_string(n, 1))))) for n in sheets)
    tail = _sst(strings) + _record(0x000A)
    offset = len(globals_head) + sheet_records_len + len(tail)
    boundsheets = b""
    for name, body in zip(sheets, bodies, strict=True):
        boundsheets += _record(0x0085, struct.pack("<IBB", offset, 0, 0) + _xl_string(name, 1))
        offset += len(body)
    stream = globals_head + boundsheets + tail + b"".join(bodies)
    others = [(f"Other{i}", b"") for i in range(other_streams)]
    return compound_file([*others, ("Workbook", stream)])


def encrypted_package() -> bytes:
    """A minimal OLE2 file shaped like a password-protected .xlsx (EncryptionInfo + EncryptedPackage streams)."""
    return compound_file([("EncryptionInfo", b"\x04\x00\x04\x00" + b"\0" * 200), ("EncryptedPackage", b"\x42" * 5000)])
