"""The original cells of a job's leads as one compressed blob: their row numbers, then one rowtext line per lead."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Any

from core.leadfile.rows import RowValues
from core.leadfile.rowtext import REC, decode, encode

FORMAT = "rowtext-zlib-1"
MAGIC = b"leadrelay-values-1\n"
PACK_ROWS = 10_000  # leads encoded and compressed at a time: the blob's text never exists whole
LEVEL = 1  # the text compresses about five times at level 1; higher levels cost the import more than they save


def _line(values: Mapping[str, Any], columns: list[str]) -> str:
    if isinstance(values, RowValues) and values.columns == columns:
        return values.line()
    return encode(["" if values.get(c) is None else str(values.get(c)) for c in columns])


def _lines(columns: list[str], leads: Sequence[Any]) -> list[str]:
    """Each lead's cells as one rowtext line: the rows' own strings when the leads come from one parsed table."""
    values = list(map(attrgetter("values"), leads))
    if values and all(type(v) is RowValues for v in values[:1]) and set(map(type, values)) == {RowValues}:
        rows = values[0].rows
        if rows.names == columns and set(map(id, map(attrgetter("rows"), values))) == {id(rows)}:
            return rows.lines_of(list(map(attrgetter("row"), values)))
    return [_line(v, columns) for v in values]


def text(columns: list[str], leads: Sequence[Any]) -> list[bytes]:
    """The blob's text, in pieces of PACK_ROWS leads: a header line (the columns), a line of row numbers, then
    one rowtext line per lead."""
    numbers = list(map(attrgetter("row_number"), leads))
    pieces = [MAGIC + json.dumps(columns).encode() + b"\n" + json.dumps(numbers).encode() + b"\n"]
    for start in range(0, len(leads), PACK_ROWS):
        joined = REC.join(_lines(columns, leads[start : start + PACK_ROWS]))
        pieces.append(((REC if start else "") + joined).encode("utf-8", "surrogatepass"))
    return pieces


def compress(pieces: list[bytes]) -> bytes:
    """The blob from its text (zlib releases the GIL meanwhile: another thread may store the leads)."""
    packer = zlib.compressobj(LEVEL)
    out = [packer.compress(piece) for piece in pieces]
    out.append(packer.flush())
    return b"".join(out)


def pack(columns: list[str], leads: Sequence[Any]) -> bytes:
    """The `values` of `leads` (anything with row_number and a values mapping) in the order of `columns`."""
    return compress(text(columns, leads))


def unpack(blob: bytes) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The columns and (row number, cells) of each lead in a blob made by `pack`; ValueError when it is not one."""
    text = zlib.decompress(blob)
    if not text.startswith(MAGIC):
        raise ValueError("not a values blob")
    head, _, rest = text[len(MAGIC) :].partition(b"\n")
    listed, _, body = rest.partition(b"\n")
    columns, numbers = json.loads(head), json.loads(listed)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ValueError("columns")
    lines = body.decode("utf-8", "surrogatepass").split(REC) if numbers else []
    if not isinstance(numbers, list) or len(lines) != len(numbers):
        raise ValueError("row numbers")

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, line in zip(numbers, lines, strict=True):
            yield int(number), decode(line)

    return columns, rows()
