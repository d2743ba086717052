"""One table row as one string: cells joined by a separator, or JSON when a cell holds a separator (standard library only)."""

# The reader child writes rows in this form and the parent keeps them in it: one string per row costs a tenth of
# the memory of a list of cell strings, and str.split rebuilds the cells in one C call when a row is needed.

from __future__ import annotations

import json

SEP = "\x1f"  # between the cells of a row (ASCII unit separator)
REC = "\x1e"  # between rows in the child's output (ASCII record separator)
ESC = "\x1b"  # starts a row written as a JSON list, for cells that hold SEP or REC themselves


def encode(cells: list[str]) -> str:
    """The row as one string that `decode` turns back into exactly these cells."""
    line = SEP.join(cells)
    if is_plain(line, len(cells)):
        return line
    # ensure_ascii escapes every control character, so the JSON form never holds SEP or REC
    return ESC + json.dumps(cells)


def is_plain(line: str, cells: int) -> bool:
    """Whether `line`, the SEP-join of `cells` cells, can stand as it is (no cell holds a separator)."""
    return line.count(SEP) == max(cells - 1, 0) and REC not in line and not line.startswith(ESC)


def decode(line: str) -> list[str]:
    """The cells of a row made by `encode`; ValueError when the JSON form is not a list of strings."""
    if not line.startswith(ESC):
        return line.split(SEP)
    cells = json.loads(line[1:])
    if not isinstance(cells, list) or not all(isinstance(c, str) for c in cells):
        raise ValueError("row shape")
    return cells
