"""Rewrites the error cells of an .ods (which calamine reads as empty or as 0) as text cells showing the error."""

# Imported by the reader child by its bare name: standard library and sibling child modules only.
#
# LibreOffice saves a formula whose result is an error as, for example,
#   <table:table-cell table:formula="of:=1/0" office:value-type="float" office:value="0"
#                     calcext:value-type="error"><text:p>#DIV/0!</text:p></table:table-cell>
# The shown text is the error; the cell becomes a string cell so that calamine reads that text.

from __future__ import annotations

import re
import zipfile

from zipparts import Package, open_part, stream_blocks

CELL_TAG = re.compile(rb"<table:table-cell\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")
VALUE_ATTRS = re.compile(rb"\s(?:office:value-type|office:value|office:string-value|calcext:value-type)=\"[^\"]*\"")
ERROR = b'calcext:value-type="error"'
ROW_END = b"</table:table-row>"


def _as_text(match: re.Match[bytes]) -> bytes:
    tag = match.group()
    if ERROR not in tag:
        return tag
    close = b"/>" if tag.endswith(b"/>") else b">"
    return VALUE_ATTRS.sub(b"", tag[: -len(close)]) + b' office:value-type="string"' + close


def rewrite(zf: zipfile.ZipFile, package: Package, out_path: str) -> None:
    """Copy the package to `out_path` (stored, mimetype first) with content.xml's error cells made text cells."""
    with zipfile.ZipFile(out_path, "w", zipfile.ZIP_STORED, allowZip64=True) as out:
        names = sorted(package.names, key=lambda n: n != "mimetype")
        for name in names:
            with open_part(zf, package, name) as src, out.open(name, "w", force_zip64=True) as dst:
                if name != "content.xml":
                    for block in stream_blocks(src):
                        dst.write(block)
                    continue
                rest = b""
                for block in stream_blocks(src):
                    data = rest + block
                    cut = data.rfind(ROW_END)
                    if cut < 0:
                        rest = data
                        continue
                    cut += len(ROW_END)
                    dst.write(CELL_TAG.sub(_as_text, data[:cut]))
                    rest = data[cut:]
                dst.write(CELL_TAG.sub(_as_text, rest))
