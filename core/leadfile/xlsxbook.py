"""An .xlsx workbook in the reader child: calamine reads small sheets whole and big ones cut into blocks of rows;
the sheet's XML gives back the error cells calamine leaves empty and counts formulas saved without a value."""

# Imported by the reader child by its bare name: standard library, the reader libraries and sibling child modules.

from __future__ import annotations

import os
import zipfile
from typing import TYPE_CHECKING, Any

from bookread import CalamineBook, CalamineSheet, ChunkedSheet
from xlsxsheet import CellScan, Chunk, cut_workbook, scan
from zipparts import Package, date1904, sheet_parts

if TYPE_CHECKING:
    from bookread import Source


class XlsxBook(CalamineBook):
    """CalamineBook with the package's parts at hand. A sheet part larger than `direct_bytes` is cut into sheets
    of about `block_bytes` of rows each (the parent sends both; see reader_process.SHEET_BLOCKS)."""

    def __init__(self, path: str, package: Package, workdir: str, direct_bytes: int, block_bytes: int) -> None:
        super().__init__(path)
        self.package = package
        self.workdir = workdir
        self.direct_bytes = direct_bytes
        self.block_bytes = block_bytes
        self.blocks: dict[str, int] = {}
        self.zip = zipfile.ZipFile(path)
        try:
            self.book_part, self.parts, self.related = sheet_parts(self.zip, package)
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - calamine read the workbook; without its parts map, no cutting or scan
            self.book_part, self.parts, self.related = None, {}, {}
        self.formulas: dict[str, int] = {}
        self._cut: dict[str, tuple[CalamineBook, list[Chunk], CellScan | None]] = {}

    def _wanted(self, part: str | None) -> tuple[bool, bool]:
        markers = self.package.markers(part)  # waits for the verifier, which ran alongside calamine's reading
        return "error" in markers, "formula" in markers

    def open(self, name: str) -> Source | None:
        part = self.parts.get(name)
        if part is not None and self.package.sizes.get(part, 0) > self.direct_bytes:
            return self._open_cut(name, part, self._wanted(part))
        sheet = self.load(name)
        wanted = self._wanted(part)
        if sheet.start is None:
            return None
        errors: dict[int, list[tuple[int, str]]] = {}
        if part is not None and any(wanted):
            cells = scan(self.zip, self.package, part, *wanted)
            errors = cells.errors
            self.formulas[name] = cells.formulas_without_value
        return CalamineSheet(sheet, errors)

    def _open_cut(self, name: str, part: str, wanted: tuple[bool, bool]) -> Source | None:
        if name not in self._cut:
            path = os.path.join(self.workdir, f"cut{len(self._cut)}.xlsx")
            cells = CellScan() if any(wanted) else None
            is_1904 = date1904(self.zip, self.package, self.book_part) if self.book_part else False
            chunks = cut_workbook(
                self.zip, self.package, part, self.related, is_1904, path, self.block_bytes, cells, wanted
            )
            self._cut[name] = (CalamineBook(path), chunks, cells)
            self.blocks[name] = len(chunks)
            if cells is not None:
                self.formulas[name] = cells.formulas_without_value
        book, chunks, cells = self._cut[name]
        if not chunks:
            return None
        return ChunkedSheet(book, chunks, cells.errors if cells else {})

    def close(self) -> Any:
        self.zip.close()
