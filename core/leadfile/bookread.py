"""Chooses a workbook's sheet and reads it into a RowSink in the reader child, with calamine or (for .xls) xlrd."""

# Imported by the reader child by its bare name: standard library, the reader libraries and sibling child modules.

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from headers import header_score, looks_like_profile_url
from refusal import Refusal
from rowsink import RowSink, cell_text

# Refusals about one sheet's size: the default choice moves on to the next sheet, an explicit choice stops.
SIZE_CODES = ("too_many_rows", "too_many_columns", "too_much_text")
CELL_LIMIT = re.compile(r"Cell limit exceeded \((\d+) cells")


if TYPE_CHECKING:  # the child imports as little as it can: typing's Protocol only for the type checker
    from typing import Protocol

    class Source(Protocol):
        """One sheet's rows, as raw values, with their position in the sheet."""

        def head(self, rows: int) -> list[list[Any]]: ...

        def feed(self, sink: RowSink) -> None: ...

    class Book(Protocol):
        """A workbook: its worksheet names, which are visible, and a Source per sheet."""

        names: list[str]
        visible: list[str]

        def open(self, name: str) -> Source | None: ...


def has_header(head: list[list[Any]]) -> bool:
    """Whether the first rows of a sheet look like a lead table."""
    for row in head:
        cells = [v if type(v) is str else cell_text(v) for v in row]
        if header_score(cells) > 0 or any(looks_like_profile_url(c) for c in cells):
            return True
    return False


def read_chosen(book: Book, request: dict[str, Any]) -> tuple[str, RowSink]:
    """The sheet asked for, else the first visible one with a lead header (else with rows), read into a sink.
    A sheet over the limits is passed over by the default choice; when every sheet is, the first one's refusal."""
    if not book.names:
        raise Refusal("no_worksheet")
    wanted = request.get("sheet")
    if wanted is not None:
        if wanted not in book.names:
            raise Refusal("no_such_sheet", sheet=wanted, sheets=book.names)
        sink = RowSink(request, wanted)
        source = book.open(wanted)
        if source is not None:
            source.feed(sink)
        return wanted, sink
    candidates = book.visible or book.names
    later: list[str] = []  # names only: a sheet is opened again rather than kept in memory meanwhile
    refused: Refusal | None = None
    blank: tuple[str, RowSink] | None = None
    for first_pass in (True, False):
        for name in candidates if first_pass else later:
            source = book.open(name)
            if source is None:
                continue
            if first_pass and not has_header(source.head(int(request["head_rows"]))):
                later.append(name)
                continue
            sink = RowSink(request, name)
            try:
                source.feed(sink)
                sink.check()
            except Refusal as refusal:
                if refusal.code not in SIZE_CODES:
                    raise
                refused = refused or refusal
                continue
            if sink.lines:
                return name, sink
            blank = blank or (name, sink)
            del source
    if refused is not None:
        raise refused
    return blank or (candidates[0], RowSink(request, candidates[0]))


def patched(
    rows: Iterable[list[Any]], first_row: int, offset: int, errors: dict[int, list[tuple[int, str]]]
) -> Iterator[list[Any]]:
    """The rows with the error texts calamine drops put back; `first_row` and `offset` place the rows (0-based)."""
    for index, row in enumerate(rows, start=first_row):
        fixes = errors.get(index)
        if fixes:
            row = list(row)
            for col, text in fixes:
                at = col - offset
                if 0 <= at < len(row):
                    row[at] = text
        yield row


class CalamineSheet:
    """A sheet calamine has read whole; its rows come from row 1, its cells from its first column."""

    __slots__ = ("errors", "sheet")

    def __init__(self, sheet: Any, errors: dict[int, list[tuple[int, str]]] | None = None) -> None:
        self.sheet = sheet
        self.errors = errors or {}

    def head(self, rows: int) -> list[list[Any]]:
        return self.sheet.to_python(skip_empty_area=True, nrows=rows)

    def feed(self, sink: RowSink) -> None:
        start = self.sheet.start
        if start is None:
            return
        rows = self.sheet.iter_rows()  # from the sheet's first row, but from the range's first column
        if self.errors:
            rows = patched(rows, 0, start[1], self.errors)
        sink.add_rows(rows, 1, start[1])


class ChunkedSheet:
    """A big sheet cut into a workbook of small sheets (see xlsxsheet): calamine reads one block of rows at a time."""

    __slots__ = ("book", "chunks", "errors")

    def __init__(self, book: CalamineBook, chunks: list[Any], errors: dict[int, list[tuple[int, str]]]) -> None:
        self.book = book
        self.chunks = chunks  # xlsxsheet.Chunk
        self.errors = errors

    def head(self, rows: int) -> list[list[Any]]:
        return self.book.load(self.chunks[0].sheet).to_python(skip_empty_area=True, nrows=rows)

    def feed(self, sink: RowSink) -> None:
        for chunk in self.chunks:
            sheet = self.book.load(chunk.sheet)
            start = sheet.start
            if start is None:
                continue
            first = start[0] + (0 if chunk.numbered else chunk.rows_before)
            rows: Iterable[list[Any]] = sheet.to_python(skip_empty_area=True)
            del sheet  # the Python rows are all this block needs now
            if self.errors:
                rows = patched(rows, first, start[1], self.errors)
            sink.add_rows(rows, first + 1, start[1])


def calamine_error(exc: BaseException) -> Refusal:
    """The refusal for an exception python-calamine raised."""
    text = str(exc)
    lowered = text.lower()
    if "password" in lowered or "encrypt" in lowered:
        return Refusal("password")
    limit = CELL_LIMIT.search(text)
    if limit:
        return Refusal("area", cells=int(limit.group(1)))
    return Refusal("damaged", detail=f"{type(exc).__name__}: {text[:300]}")


class CalamineBook:
    """A workbook opened with python-calamine (.xlsx, .xlsb, .ods, .xls)."""

    def __init__(self, path: str) -> None:
        import python_calamine
        from python_calamine import SheetTypeEnum, SheetVisibleEnum

        try:
            self.workbook = python_calamine.CalamineWorkbook.from_path(path)
            meta = [m for m in self.workbook.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
        except python_calamine.PasswordError:
            raise Refusal("password") from None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the reader raises many kinds on damaged files
            raise calamine_error(exc) from None
        self.names = [m.name for m in meta]
        self.visible = [m.name for m in meta if m.visible == SheetVisibleEnum.Visible]
        self.errors: dict[str, dict[int, list[tuple[int, str]]]] = {}  # sheet -> row -> [(col, text)]

    def load(self, name: str) -> Any:
        """The calamine sheet, or the refusal its failure means."""
        try:
            return self.workbook.get_sheet_by_name(name)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the reader raises many kinds on damaged files
            raise calamine_error(exc) from None

    def open(self, name: str) -> Source | None:
        sheet = self.load(name)
        if sheet.start is None:
            return None
        return CalamineSheet(sheet, self.errors.get(name, {}))


XLRD_ERRORS = {
    0x00: "#NULL!",
    0x07: "#DIV/0!",
    0x0F: "#VALUE!",
    0x17: "#REF!",
    0x1D: "#NAME?",
    0x24: "#NUM!",
    0x2A: "#N/A",
}


class XlrdSheet:
    """A sheet of an .xls as xlrd reads it: text decoded by the workbook's code page, error cells as their text."""

    __slots__ = ("datemode", "sheet")

    def __init__(self, sheet: Any, datemode: int) -> None:
        self.sheet = sheet
        self.datemode = datemode

    def head(self, rows: int) -> list[list[Any]]:
        return [self._row(r) for r in range(min(rows, self.sheet.nrows))]

    def feed(self, sink: RowSink) -> None:
        sink.add_rows((self._row(r) for r in range(self.sheet.nrows)), 1, 0)

    def _row(self, index: int) -> list[Any]:
        import xlrd

        values = self.sheet.row_values(index)
        types = self.sheet.row_types(index)
        out: list[Any] = []
        for value, kind in zip(values, types, strict=False):
            if kind == xlrd.XL_CELL_TEXT:
                out.append(value)
            elif kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                out.append("")
            elif kind == xlrd.XL_CELL_NUMBER:
                out.append(float(value))
            elif kind == xlrd.XL_CELL_DATE:
                out.append(_xl_date(value, self.datemode))
            elif kind == xlrd.XL_CELL_BOOLEAN:
                out.append(bool(value))
            elif kind == xlrd.XL_CELL_ERROR:
                out.append(XLRD_ERRORS.get(int(value), "#ERROR!"))
            else:
                out.append(str(value))
        return out


def _xl_date(value: float, datemode: int) -> Any:
    import xlrd

    try:
        moment = xlrd.xldate.xldate_as_datetime(value, datemode)
    except (ValueError, OverflowError, xlrd.xldate.XLDateError):
        return value
    if 0 <= value < 1:
        return moment.time()
    return moment if isinstance(moment, dt.datetime) else value


class XlrdBook:
    """A legacy .xls workbook opened with xlrd."""

    def __init__(self, path: str) -> None:
        import xlrd

        with open(path, "rb") as fh:
            data = fh.read()
        try:
            self.book = xlrd.open_workbook(
                file_contents=data,
                on_demand=True,
                formatting_info=False,
                logfile=open(os.devnull, "w"),  # noqa: SIM115
            )
        except xlrd.XLRDError as exc:
            if "encrypt" in str(exc).lower() or "password" in str(exc).lower():
                raise Refusal("password") from None
            raise Refusal("damaged", detail=f"xlrd: {exc}") from None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - xlrd raises many kinds on damaged files
            raise Refusal("damaged", detail=f"xlrd {type(exc).__name__}: {exc}") from None
        self.names = list(self.book.sheet_names())
        visibility = list(getattr(self.book, "_sheet_visibility", []) or [0] * len(self.names))
        self.visible = [n for n, v in zip(self.names, visibility, strict=False) if v == 0]

    def open(self, name: str) -> Source | None:
        try:
            sheet = self.book.sheet_by_name(name)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - xlrd raises many kinds on damaged files
            raise Refusal("damaged", detail=f"xlrd {type(exc).__name__}: {exc}") from None
        if sheet.nrows == 0:
            return None
        return XlrdSheet(sheet, self.book.datemode)
