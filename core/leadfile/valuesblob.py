"""The original cells of a job's leads as one compressed blob: one rowtext line per lead, keyed by its row number."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from core.leadfile.rows import RowValues
from core.leadfile.rowtext import REC, SEP, decode, encode

FORMAT = "rowtext-zlib-1"
MAGIC = b"leadrelay-values-1\n"
PACK_ROWS = 10_000  # leads encoded and compressed at a time: the blob's text never exists whole
LEVEL = 1  # the text compresses about five times at level 1; higher levels cost the import more than they save


def _line(values: Mapping[str, Any], columns: list[str]) -> str:
    if isinstance(values, RowValues) and values.columns == columns:
        return values.line()
    return encode(["" if values.get(c) is None else str(values.get(c)) for c in columns])


def pack(columns: list[str], leads: Sequence[Any]) -> bytes:
    """The `values` of `leads` (anything with row_number and a values mapping) in the order of `columns`."""
    packer = zlib.compressobj(LEVEL)
    out = [packer.compress(MAGIC + json.dumps(columns).encode() + b"\n")]
    for start in range(0, len(leads), PACK_ROWS):
        text = REC.join(
            [f"{lead.row_number}{SEP}{_line(lead.values, columns)}" for lead in leads[start : start + PACK_ROWS]]
        )
        out.append(packer.compress(((REC if start else "") + text).encode("utf-8", "surrogatepass")))
    out.append(packer.flush())
    return b"".join(out)


def unpack(blob: bytes) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The columns and (row number, cells) of each lead in a blob made by `pack`; ValueError when it is not one."""
    text = zlib.decompress(blob)
    if not text.startswith(MAGIC):
        raise ValueError("not a values blob")
    head, _, body = text[len(MAGIC) :].partition(b"\n")
    columns = json.loads(head)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ValueError("columns")

    def rows() -> Iterator[tuple[int, list[str]]]:
        if not body:
            return
        for record in body.decode("utf-8", "surrogatepass").split(REC):
            number, _, line = record.partition(SEP)
            yield int(number), decode(line)

    return columns, rows()
