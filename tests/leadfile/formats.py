"""Test helper: lead files in the formats and layouts other people's tools write: .ods (odfpy and LibreOffice's
error cells), .xls (xlwt, and BIFF5 in the UTF-16 code page), .xlsb (BIFF12 records), zips with parts at the root
or with backslashes, password-protected packages, far cells, and a fast writer for big .xlsx files."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

import msoffcrypto.format.ooxml
import xlwt
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P

from tests.leadfile import xlsgen

Rows = Sequence[Sequence[Any]]


def ods_odfpy(sheets: Mapping[str, Rows]) -> bytes:
    """An .ods as odfpy writes it: text cells and float cells."""
    doc = OpenDocumentSpreadsheet()
    for name, rows in sheets.items():
        table = Table(name=name)
        for row in rows:
            tr = TableRow()
            for value in row:
                if isinstance(value, int | float):
                    cell = TableCell(valuetype="float", value=value)
                    cell.addElement(P(text=str(value)))
                elif value is None or value == "":
                    cell = TableCell()
                else:
                    cell = TableCell(valuetype="string")
                    cell.addElement(P(text=str(value)))
                tr.addElement(cell)
            table.addElement(tr)
        doc.spreadsheet.addElement(table)
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue()


ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"'
)
MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{extra}'
    "</manifest:file-entry></manifest:manifest>"
)


def ods_package(table_xml: str, *, encrypted: bool = False, mimetype: str = "spreadsheet") -> bytes:
    """An .ods written the way LibreOffice lays it out, around one <table:table> of hand-written XML."""
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODS_NS} office:version="1.2">'
        f"<office:body><office:spreadsheet>{table_xml}</office:spreadsheet></office:body></office:document-content>"
    ).encode()
    extra = '<manifest:encryption-data manifest:checksum-type="SHA1/1K"/>' if encrypted else ""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), f"application/vnd.oasis.opendocument.{mimetype}")
        zf.writestr("content.xml", bytes(range(256)) * 8 if encrypted else content, zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", MANIFEST.format(extra=extra), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def ods_text(text: str) -> str:
    return f'<table:table-cell office:value-type="string" calcext:value-type="string"><text:p>{escape(text)}</text:p></table:table-cell>'


def ods_libreoffice_errors() -> bytes:
    """LibreOffice's forms of error results (#DIV/0! as a float 0, #N/A as an empty string), with its padding of
    empty cells and rows to the sheet's full size."""
    div0 = (
        '<table:table-cell table:formula="of:=1/0" office:value-type="float" office:value="0" '
        'calcext:value-type="error"><text:p>#DIV/0!</text:p></table:table-cell>'
    )
    na = (
        '<table:table-cell table:formula="of:=NA()" office:value-type="string" office:string-value="" '
        'calcext:value-type="error"><text:p>#N/A</text:p></table:table-cell>'
    )
    pad = '<table:table-cell table:number-columns-repeated="16381"/>'
    rows = [
        [ods_text("LinkedIn"), ods_text("Company"), ods_text("Score")],
        [ods_text("https://www.linkedin.com/in/ann"), ods_text("Acme"), div0],
        [ods_text("https://www.linkedin.com/in/bo"), na, ods_text("7")],
    ]
    body = "".join("<table:table-row>" + "".join(r) + pad + "</table:table-row>" for r in rows)
    body += '<table:table-row table:number-rows-repeated="1048573"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
    return ods_package(
        f'<table:table table:name="Leads"><table:table-column table:number-columns-repeated="16384"/>{body}</table:table>'
    )


def xls_xlwt(sheets: Mapping[str, Rows], errors: Mapping[tuple[int, int], str] | None = None) -> bytes:
    """An .xls as xlwt writes it (BIFF8), with error cells at `errors` positions (row, column)."""
    book = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    sheet.write(r, c, value)
        for (r, c), text in (errors or {}).items():
            sheet.row(r).set_cell_error(c, XLSB_ERRORS[text])  # by code: xlwt's own names are partly wrong
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xls_biff5(rows: Rows, codepage: int = 1200) -> bytes:
    """A BIFF5 (Excel 95) workbook whose CODEPAGE record says `codepage`; with 1200 its strings are UTF-16, which
    calamine reads as 8-bit text (a NUL after every letter) and xlrd reads right."""
    encoding = "utf-16-le" if codepage == 1200 else f"cp{codepage}"

    def text(value: str) -> bytes:
        return value.encode(encoding)

    body = xlsgen._record(0x0809, struct.pack("<HHHH", 0x0500, 0x0010, 0x0DBB, 0x07CC))
    width = max((len(r) for r in rows), default=0)
    body += xlsgen._record(0x0200, struct.pack("<HHHHH", 0, len(rows), 0, width, 0))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value not in (None, ""):
                raw = text(str(value))
                body += xlsgen._record(0x0204, struct.pack("<HHHH", r, c, 0, len(raw)) + raw)
    body += xlsgen._record(0x000A)
    head = xlsgen._record(0x0809, struct.pack("<HHHH", 0x0500, 0x0005, 0x0DBB, 0x07CC))
    head += xlsgen._record(0x0042, struct.pack("<H", codepage))
    head += xlsgen._record(0x0031, struct.pack("<HHHHH", 200, 0, 0x7FFF, 400, 0) + b"\0\0\0\0" + b"\x05Arial")
    xf = struct.pack("<HHHBBBBIIH", 0, 0, 0xFFF5, 0x20, 0, 0, 0, 0, 0, 0x20C0)[:16]
    head += xlsgen._record(0x00E0, xf) * 16
    name = text("Leads")
    tail = xlsgen._record(0x000A)

    def sheet_record(offset: int) -> bytes:
        return xlsgen._record(0x0085, struct.pack("<IBB", offset, 0, 0) + bytes([len(name)]) + name)

    offset = len(head) + len(sheet_record(0)) + len(tail)
    return xlsgen.compound_file([("Book", head + sheet_record(offset) + tail + body)])


def _biff12(kind: int, body: bytes = b"") -> bytes:
    head = bytes([kind]) if kind < 0x80 else bytes([(kind & 0x7F) | 0x80, kind >> 7])
    size, length = len(body), b""
    while True:
        byte = size & 0x7F
        size >>= 7
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            break
    return head + length + body


def _wide(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return struct.pack("<I", len(raw) // 2) + raw


XLSB_ERRORS = {
    "#NULL!": 0x00,
    "#DIV/0!": 0x07,
    "#VALUE!": 0x0F,
    "#REF!": 0x17,
    "#NAME?": 0x1D,
    "#NUM!": 0x24,
    "#N/A": 0x2A,
}


def xlsb_workbook(sheets: Mapping[str, Rows]) -> bytes:
    """An .xlsb with inline text cells, numbers and error cells (strings in XLSB_ERRORS)."""
    book = _biff12(0x0083) + _biff12(0x0099, bytes(12)) + _biff12(0x008F)
    rels = []
    parts: dict[str, bytes] = {}
    for index, (name, rows) in enumerate(sheets.items(), start=1):
        book += _biff12(0x009C, struct.pack("<II", 0, index) + _wide(f"rId{index}") + _wide(name))
        rels.append(
            f'<Relationship Id="rId{index}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/worksheet" Target="worksheets/sheet{index}.bin"/>'
        )
        width = max((len(r) for r in rows), default=1)
        sheet = _biff12(0x0081) + _biff12(0x0094, struct.pack("<IIII", 0, max(len(rows) - 1, 0), 0, width - 1))
        sheet += _biff12(0x0091)
        for r, row in enumerate(rows):
            sheet += _biff12(0x0000, struct.pack("<I", r) + bytes(13))
            for c, value in enumerate(row):
                cell = struct.pack("<I", c) + bytes(4)
                if value is None or value == "":
                    continue
                if isinstance(value, str) and value in XLSB_ERRORS:
                    sheet += _biff12(0x0003, cell + bytes([XLSB_ERRORS[value]]))
                elif isinstance(value, int | float):
                    sheet += _biff12(0x0005, cell + struct.pack("<d", float(value)))
                else:
                    sheet += _biff12(0x0006, cell + _wide(str(value)))
        sheet += _biff12(0x0092) + _biff12(0x0082)
        parts[f"xl/worksheets/sheet{index}.bin"] = sheet
    book += _biff12(0x0090) + _biff12(0x009D, bytes(20)) + _biff12(0x0084)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types '
            'xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        zf.writestr("xl/workbook.bin", book)
        zf.writestr(
            "xl/_rels/workbook.bin.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships '
            'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(rels)
            + "</Relationships>",
        )
        for name, data in parts.items():
            zf.writestr(name, data)
    return out.getvalue()


def relaid(xlsx: bytes, *, root: bool = False, backslashes: bool = False) -> bytes:
    """The same workbook with its parts moved to the zip's root (references rewritten) or its paths written with
    backslashes, as some Windows tools write them."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in src.namelist():
            data = src.read(name)
            if root:
                name = name[3:] if name.startswith("xl/") else name
                for old, new in (
                    (b'Target="xl/', b'Target="'),
                    (b'Target="/xl/', b'Target="/'),
                    (b'PartName="/xl/', b'PartName="/'),
                ):
                    data = data.replace(old, new)
            if backslashes:
                name = name.replace("/", "\\")
            zf.writestr(name, data)
    return out.getvalue()


def with_dimension(xlsx: bytes, part: str, ref: str) -> bytes:
    """The workbook with the <dimension> of one sheet part replaced by `ref` (what it declares, not what it holds)."""
    import re

    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in src.namelist():
            data = src.read(name)
            if name == part:
                data = re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), data)
                assert ref.encode() in data
            zf.writestr(name, data)
    return out.getvalue()


def encrypted_ooxml(package: bytes, password: str = "secret") -> bytes:
    """The package encrypted with a password as Excel does it (ECMA-376 agile encryption in an OLE2 file)."""
    out = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(package)).encrypt(password, out)
    return out.getvalue()


def xlsx_cells(cells: Mapping[str, str], *, dimension: str | None = None) -> bytes:
    """A one-sheet .xlsx with text cells at the given references (A1, XFD1048576...), in row order."""
    from tests.leadfile.builders import minimal_parts, zip_parts

    by_row: dict[int, list[tuple[str, str]]] = {}
    for ref, value in cells.items():
        letters = ref.rstrip("0123456789")
        by_row.setdefault(int(ref[len(letters) :]), []).append((ref, value))
    rows = "".join(
        f'<row r="{r}">'
        + "".join(f'<c r="{ref}" t="inlineStr"><is><t>{escape(v)}</t></is></c>' for ref, v in by_row[r])
        + "</row>"
        for r in sorted(by_row)
    )
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{dim}<sheetData>{rows}</sheetData></worksheet>"
    ).encode()
    return zip_parts(minimal_parts(**{"xl/worksheets/sheet1.xml": sheet}))


def xlsx_fast(rows: Rows, sheet: str = "Leads") -> bytes:
    """A big .xlsx quickly: inline strings and numbers written as XML text, deflated at level 1."""
    from tests.leadfile.builders import CONTENT_TYPES, ROOT_RELS

    def cell(ref: str, value: Any) -> str:
        if isinstance(value, int | float):
            return f'<c r="{ref}"><v>{value}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'

    letters = [_letters(i) for i in range(max((len(r) for r in rows), default=0))]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", ROOT_RELS)
        zf.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="{escape(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>',
        )
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
                b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            for r, row in enumerate(rows, start=1):
                cells = "".join(cell(f"{letters[c]}{r}", v) for c, v in enumerate(row) if v not in (None, ""))
                fh.write(f'<row r="{r}">{cells}</row>'.encode())
            fh.write(b"</sheetData></worksheet>")
    return out.getvalue()


def _letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
