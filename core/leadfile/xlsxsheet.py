"""One worksheet of an .xlsx in the reader child: its rows in blocks, a big sheet cut into a workbook of small ones,
and the cells calamine leaves empty (error values, formulas saved without a value)."""

# Imported by the reader child by its bare name: standard library and sibling child modules only.
#
# calamine holds a whole sheet in memory at about 75 bytes a cell (sparse cells, then a dense grid). A sheet part
# larger than the direct limit is therefore rewritten as one workbook with one sheet per block of rows (same
# shared strings, styles and cell references), which calamine then reads one block at a time.

from __future__ import annotations

import html
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from refusal import Refusal
from zipparts import Package, open_part, stream_blocks

SHEET_DATA = re.compile(rb"<((?:\w+:)?)sheetData\b[^>]*?(/?)>")
ROOT = re.compile(rb"<((?:\w+:)?)worksheet\b")
PROLOGUE_MAX = 16 << 20  # bytes before <sheetData>: column widths and views, never this many
ROW_START = re.compile(rb"<(?:\w+:)?row[\s>/]")
CELL_OR_ROW = re.compile(
    rb"<(?:\w+:)?(?:(row)\b([^>]*?)/?>|c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>))",
    re.S,
)
REF = re.compile(rb"""(?:^|\s)r\s*=\s*["']([A-Za-z]*)(\d*)["']""")
NUMBERED = re.compile(rb"""\sr\s*=\s*["'][A-Za-z]*\d""")
TYPE = re.compile(rb"""(?:^|\s)t\s*=\s*["'](\w+)["']""")
VALUE = re.compile(rb"<(?:\w+:)?v>(.*?)</(?:\w+:)?v>", re.S)
FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/></Types>'
)
PACKAGE_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    b'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
REL_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"


class Blocks:
    """A worksheet part read as its prologue (up to <sheetData>), its closing tags and blocks of whole rows."""

    __slots__ = ("blocks", "closing", "prologue")

    def __init__(self, prologue: bytes = b"", closing: bytes = b"", blocks: Iterator[bytes] | None = None) -> None:
        self.prologue = prologue
        self.closing = closing
        self.blocks = blocks if blocks is not None else iter(())


def row_blocks(stream: Any, size: int) -> Blocks:
    """The part's rows in blocks of about `size` bytes, each ending after a </row>."""
    reader = stream_blocks(stream)
    buf = b""
    for block in reader:
        buf += block
        found = SHEET_DATA.search(buf)
        if found:
            break
        if len(buf) > PROLOGUE_MAX:
            raise Refusal("damaged", detail="no sheetData in the first bytes of the sheet")
    else:
        return Blocks()
    root = ROOT.search(buf, 0, found.start())
    prefix = found.group(1)
    closing = b"</" + prefix + b"sheetData></" + (root.group(1) if root else b"") + b"worksheet>"
    if found.group(2):  # <sheetData/>: no rows
        return Blocks(buf[: found.start()] + buf[found.start() : found.end() - 2] + b">", closing)
    return Blocks(buf[: found.end()], closing, _cut(buf[found.end() :], reader, prefix, size))


def _cut(rest: bytes, reader: Iterator[bytes], prefix: bytes, size: int) -> Iterator[bytes]:
    """Blocks of whole rows of about `size` bytes (longer when one row is), up to </sheetData>."""
    end_tag = b"</" + prefix + b"sheetData>"
    row_end = b"</" + prefix + b"row>"
    data = bytearray(rest)
    exhausted = False
    while True:
        while not exhausted and (len(data) <= size or row_end not in data) and end_tag not in data:
            more = next(reader, None)
            if more is None:
                exhausted = True
            else:
                data += more
        end = data.find(end_tag)
        limit = end if end >= 0 else len(data)
        if limit <= size or (exhausted and row_end not in data):
            if limit:
                yield bytes(data[:limit])
            return
        cut = data.rfind(row_end, 0, size)
        if cut < 0:
            cut = data.find(row_end, size, limit)
        if cut < 0:  # no whole row left before the end: the rest as it is
            yield bytes(data[:limit])
            return
        cut += len(row_end)
        yield bytes(data[:cut])
        del data[:cut]


class CellScan:
    """Cells calamine reads as empty: error values by (row, column), 0-based, and formulas with no saved value."""

    __slots__ = ("col", "errors", "formulas_without_value", "row")

    def __init__(self) -> None:
        self.errors: dict[int, list[tuple[int, str]]] = {}
        self.formulas_without_value = 0
        self.row = -1
        self.col = -1

    def feed(self, block: bytes, errors: bool, formulas: bool) -> None:
        """Scan one block of whole rows, keeping the position across blocks as calamine counts it."""
        for match in CELL_OR_ROW.finditer(block):
            if match.group(1):
                ref = REF.search(match.group(2))
                self.row = int(ref.group(2)) - 1 if ref and ref.group(2) else self.row + 1
                self.col = -1
                continue
            attrs, content = match.group(3), match.group(4) or b""
            ref = REF.search(attrs)
            if ref and ref.group(1):
                self.col = _column(ref.group(1))
                if ref.group(2):
                    self.row = int(ref.group(2)) - 1
            else:
                self.col += 1
            if not content:
                continue
            kind = TYPE.search(attrs)
            kind_name = kind.group(1) if kind else b""
            value = VALUE.search(content)
            if errors and kind_name == b"e" and value:
                text = html.unescape(value.group(1).decode("utf-8", "replace"))
                self.errors.setdefault(self.row, []).append((self.col, text))
            saved = value is not None and (value.group(1) or kind_name == b"str")
            if formulas and not saved and FORMULA.search(content):
                self.formulas_without_value += 1


def _numbered(block: bytes) -> bool:
    """Whether the block's first row (or its first cell) carries its row number, as nearly every writer does."""
    first = ROW_START.search(block)
    if first is None:
        return True
    head = block[first.start() : first.start() + 4096]
    return NUMBERED.search(head) is not None


def _column(letters: bytes) -> int:
    number = 0
    for ch in letters.upper():
        number = number * 26 + (ch - 64)
    return number - 1


def scan(zf: zipfile.ZipFile, package: Package, part: str, errors: bool, formulas: bool) -> CellScan:
    """Error cells and formulas without a value of one worksheet part, in one pass over its rows."""
    result = CellScan()
    with open_part(zf, package, part) as stream:
        for block in row_blocks(stream, 4 << 20).blocks:
            result.feed(block, errors, formulas)
    return result


class Chunk:
    """One sheet of the cut workbook: its name and, for rows written without a number, how many rows precede it."""

    __slots__ = ("numbered", "rows_before", "sheet")

    def __init__(self, sheet: str, rows_before: int, numbered: bool) -> None:
        self.sheet = sheet
        self.rows_before = rows_before
        self.numbered = numbered


def cut_workbook(
    zf: zipfile.ZipFile,
    package: Package,
    part: str,
    related: dict[str, str],
    date1904: bool,
    out_path: str,
    size: int,
    cells: CellScan | None,
    scan_for: tuple[bool, bool],
) -> list[Chunk]:
    """Write the sheet `part` as a workbook of sheets of about `size` bytes of rows each; scan cells on the way."""
    chunks: list[Chunk] = []
    with (
        zipfile.ZipFile(out_path, "w", zipfile.ZIP_STORED, allowZip64=True) as out,
        open_part(zf, package, part) as src,
    ):
        pieces = row_blocks(src, size)
        rows_before = 0
        for index, block in enumerate(pieces.blocks):
            name = f"c{index}"
            chunks.append(Chunk(name, rows_before, _numbered(block)))
            rows_before += len(ROW_START.findall(block))
            with out.open(f"xl/worksheets/{name}.xml", "w", force_zip64=True) as sheet:
                sheet.write(pieces.prologue)
                sheet.write(block)
                sheet.write(pieces.closing)
            if cells is not None:
                cells.feed(block, *scan_for)
        out.writestr("[Content_Types].xml", CONTENT_TYPES)
        out.writestr("_rels/.rels", PACKAGE_RELS)
        rels = [
            f'<Relationship Id="s{i}" Type="{REL_TYPE}worksheet" Target="worksheets/{c.sheet}.xml"/>'
            for i, c in enumerate(chunks)
        ]
        for kind in ("sharedStrings", "styles"):
            source = related.get(kind)
            if source is None:
                continue
            with open_part(zf, package, source) as src, out.open(f"xl/{kind}.xml", "w", force_zip64=True) as dst:
                for block in stream_blocks(src):
                    dst.write(block)
            rels.append(f'<Relationship Id="{kind}" Type="{REL_TYPE}{kind}" Target="{kind}.xml"/>')
        out.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships '
            'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(rels)
            + "</Relationships>",
        )
        sheets = "".join(f'<sheet name="{c.sheet}" sheetId="{i + 1}" r:id="s{i}"/>' for i, c in enumerate(chunks))
        out.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8"?><workbook '
            'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<workbookPr date1904="{int(date1904)}"/><sheets>{sheets}</sheets></workbook>',
        )
    return chunks
