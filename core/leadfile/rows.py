"""A table's rows kept as one string each (see rowtext), and a lead's original cells as a mapping over its row."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from itertools import repeat
from typing import Any, overload

from core.leadfile.rowtext import ESC, SEP, decode, encode

BLOCK_CELLS = 1 << 16  # cells split out of their rows at a time: their strings cost about 50 bytes each


class Rows(Sequence[list[str]]):
    """Rows of cell text, each cut or padded to `width` cells, or reduced to the columns `keep` (by index).

    A list of lists of cells would cost about 60 bytes a cell; one string a row costs one byte a character, and
    str.split rebuilds a row's cells in one C call when it is needed."""

    __slots__ = ("keep", "lines", "names", "width")

    def __init__(
        self, lines: list[str], width: int, keep: list[int] | None = None, names: list[str] | None = None
    ) -> None:
        self.lines = lines
        self.width = width
        self.keep = keep
        self.names = names  # the column names, once the table's header is known (RowValues needs them)

    @classmethod
    def of(cls, rows: Sequence[Sequence[str]]) -> Rows:
        """Rows made from lists of cells (tests and small tables)."""
        return cls([encode(list(r)) for r in rows], max((len(r) for r in rows), default=0))

    def _shape(self, cells: list[str]) -> list[str]:
        if self.keep is not None:
            count = len(cells)
            return [cells[i] if i < count else "" for i in self.keep]
        count, width = len(cells), self.width
        if count == width:
            return cells
        return cells[:width] if count > width else cells + [""] * (width - count)

    def cells(self, index: int) -> list[str]:
        """The cells of row `index`."""
        return self._shape(decode(self.lines[index]))

    def line(self, index: int) -> str:
        """Row `index` as one rowtext string of exactly its shaped cells."""
        line = self.lines[index]
        if self.keep is None and line.count(SEP) == self.width - 1 and not line.startswith(ESC):
            return line
        return encode(self.cells(index))

    def lines_of(self, indexes: list[int]) -> list[str]:
        """`line` of each row in `indexes`, with C calls for the rows that are already in shape (nearly all)."""
        if self.keep is not None:
            return [encode(self.cells(i)) for i in indexes]
        lines, last = self.lines, self.width - 1
        out = list(map(lines.__getitem__, indexes))
        counts = list(map(str.count, out, repeat(SEP)))
        if counts.count(last) == len(out) and not any(map(str.startswith, out, repeat(ESC))):
            return out
        for at in [j for j, line in enumerate(out) if counts[j] != last or line.startswith(ESC)]:
            out[at] = encode(self.cells(indexes[at]))
        return out

    def block_rows(self) -> int:
        """How many rows to split at a time: a few thousand, fewer for wide rows (about 65,000 cells)."""
        return max(16, min(4096, BLOCK_CELLS // max(len(self.keep) if self.keep is not None else self.width, 1)))

    def block(self, start: int, stop: int) -> list[list[str]]:
        """The cells of rows `start` to `stop` (a few thousand at a time keeps the memory of a big file bounded)."""
        lines = self.lines[start:stop]
        if self.keep is None and not any(map(str.startswith, lines, repeat(ESC))):
            out = list(map(str.split, lines, repeat(SEP)))
            if not out or set(map(len, out)) == {self.width}:
                return out
            return [r if len(r) == self.width else self._shape(r) for r in out]
        return [self._shape(decode(line)) for line in lines]

    def tail(self, start: int) -> Rows:
        """The rows from `start` on."""
        return Rows(self.lines[start:], self.width, self.keep, self.names)

    def reshaped(self, width: int, keep: list[int] | None, names: list[str] | None = None) -> Rows:
        """The same lines cut or padded to `width`, or reduced to `keep` (indexes into this shape's cells)."""
        if keep is not None and self.keep is not None:
            keep = [self.keep[i] for i in keep]
        return Rows(self.lines, width, keep if keep is not None else self.keep, names or self.names)

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, index: int) -> list[str]: ...

    @overload
    def __getitem__(self, index: slice) -> list[list[str]]: ...

    def __getitem__(self, index: int | slice) -> list[str] | list[list[str]]:
        if isinstance(index, slice):
            return [self._shape(decode(line)) for line in self.lines[index]]
        return self.cells(index)

    def __iter__(self) -> Iterator[list[str]]:
        for line in self.lines:
            yield self._shape(decode(line))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == list(b) for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Rows({len(self)} rows of {len(self.keep) if self.keep is not None else self.width} cells)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Rows, (self.lines, self.width, self.keep, self.names))


class RowValues(Mapping[str, str]):
    """A lead's original cells by column name, read from its row when asked (no dict per lead is built)."""

    __slots__ = ("row", "rows")

    def __init__(self, rows: Rows, row: int) -> None:
        if rows.names is None:
            raise ValueError("RowValues needs rows whose column names are known")
        self.rows = rows
        self.row = row

    @classmethod
    def many(cls, rows: Rows, indexes: list[int]) -> list[RowValues]:
        """One RowValues per row index, filled slot by slot (an __init__ call per lead costs more than the rest)."""
        if rows.names is None:
            raise ValueError("RowValues needs rows whose column names are known")
        made = list(map(object.__new__, repeat(cls, len(indexes))))
        deque(map(_SET_ROWS, made, repeat(rows)), maxlen=0)
        deque(map(_SET_ROW, made, indexes), maxlen=0)
        return made

    @property
    def columns(self) -> list[str]:
        return self.rows.names or []

    def cells(self) -> list[str]:
        """The cells in column order."""
        return self.rows.cells(self.row)

    def line(self) -> str:
        """The cells in column order as one rowtext string."""
        return self.rows.line(self.row)

    def __getitem__(self, key: str) -> str:
        try:
            at = self.columns.index(key)
        except ValueError:
            raise KeyError(key) from None
        return self.cells()[at]

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __contains__(self, key: object) -> bool:
        return key in self.columns

    def to_dict(self) -> dict[str, str]:
        """The cells as a plain dict."""
        return dict(zip(self.columns, self.cells(), strict=True))

    def items(self) -> Any:
        return self.to_dict().items()

    def values(self) -> Any:
        return self.to_dict().values()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return self.to_dict() == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RowValues({self.to_dict()!r})"


_SET_ROWS = RowValues.rows.__set__  # type: ignore[attr-defined]
_SET_ROW = RowValues.row.__set__  # type: ignore[attr-defined]
