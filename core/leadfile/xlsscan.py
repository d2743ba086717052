"""Tells from an .xls workbook stream whether it holds error cells, which calamine reads as empty and xlrd keeps."""

# Imported by the reader child by its bare name: standard library and the reader libraries only.

from __future__ import annotations

import io
import re

# BOOLERR (0x0205, 8 bytes) with fError = 1 and a known error code, and FORMULA (0x0006) whose cached result is
# an error (result byte 0 = 2, bytes 6-7 = 0xFFFF). A chance match in other data only costs a second reading.
BOOLERR = re.compile(rb"\x05\x02\x08\x00[\x00-\xff]{6}[\x00\x07\x0f\x17\x1d\x24\x2a]\x01")
FORMULA_ERROR = re.compile(
    rb"\x06\x00[\x00-\xff]{2}[\x00-\xff]{6}\x02[\x00-\xff][\x00\x07\x0f\x17\x1d\x24\x2a][\x00-\xff]{3}\xff\xff"
)


def workbook_stream(path: str) -> bytes:
    """The BIFF workbook stream of the compound file, or b"" when it cannot be found."""
    from xlrd import compdoc

    with open(path, "rb") as fh:
        data = fh.read()
    try:
        doc = compdoc.CompDoc(data, logfile=io.StringIO())
        for name in ("Workbook", "Book"):
            stream = doc.get_named_stream(name)
            if stream:
                return bytes(stream)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a damaged compound file has no stream to look at
        return b""
    return b""


def has_error_cells(path: str) -> bool:
    """Whether the workbook seems to hold error cells (#N/A, #DIV/0! ...)."""
    stream = workbook_stream(path)
    return BOOLERR.search(stream) is not None or FORMULA_ERROR.search(stream) is not None
