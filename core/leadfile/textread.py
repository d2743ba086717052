"""CSV and TSV text: its encoding (UTF-8, UTF-16, cp1252, cp1250), its delimiter, and its records (standard library only)."""

# The reader child imports this module by its bare name, so it uses nothing outside the standard library.

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from typing import Any

DELIMITERS = (",", ";", "\t", "|")
SNIFF_CHARS = 64 * 1024
SEP_LINE = re.compile(r"\A\ufeff?sep=(.)\r?\n", re.IGNORECASE)
# One physical line with its ending (\r\n, \r or \n); csv.reader joins the lines of a quoted field again.
# str.splitlines would also split at \v, \f and \x1c-\x1e, which are cell text in a CSV file.
LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")

# How plausible a character is in a name or a company when the file is read as cp1252 or cp1250: only the
# bytes where the two code pages differ are compared. Letters common in the languages of each page weigh 1.
_COMMON_1252 = set("àãåæçèéêëìíîïñòóôõöøùúûüýÀÃÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝ")
_COMMON_1250 = set("ąćęłńóśźżčďěňřšťůžőűĄĆĘŁŃÓŚŹŻČĎĚŇŘŠŤŮŽŐŰ")


class DamagedText(ValueError):
    """The bytes cannot be text in the encoding their BOM names."""


def _differing_bytes() -> dict[int, tuple[str, str]]:
    table: dict[int, tuple[str, str]] = {}
    for byte in range(0x80, 0x100):
        west = bytes([byte]).decode("cp1252", "replace")
        central = bytes([byte]).decode("cp1250", "replace")
        if west != central:
            table[byte] = (west, central)
    return table


_DIFFERING = _differing_bytes()
_ASCII = bytes(range(0x80))


def _weight(ch: str, common: set[str]) -> float:
    if ch in common:
        return 1.0
    if ch.isalpha():
        return 0.25
    return -1.0


def decode(data: bytes) -> str:
    """The file's text: a BOM decides, else UTF-8 when it is valid, else the likelier of cp1252 and cp1250."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace").lstrip("\ufeff")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").lstrip("\ufeff")
        except UnicodeDecodeError:
            raise DamagedText("utf-16") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return data.decode(guess_codepage(data), "replace")


def guess_codepage(data: bytes) -> str:
    """cp1250 (Central European) when its letters read better than cp1252's (Western), else cp1252."""
    high = data.translate(None, _ASCII)
    west = central = 0.0
    for byte, (w, c) in _DIFFERING.items():
        count = high.count(byte)
        if count:
            west += count * _weight(w, _COMMON_1252)
            central += count * _weight(c, _COMMON_1250)
    return "cp1250" if central > west else "cp1252"


def sniff_delimiter(text: str, file_name: str) -> str:
    """The delimiter that splits the first lines into the most rows of one consistent width (',' on a tie)."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rfind("\n")]
    order = ("\t", *[d for d in DELIMITERS if d != "\t"]) if file_name.lower().endswith(".tsv") else DELIMITERS
    best, best_score = order[0], (0, 0)
    for delimiter in order:
        try:
            rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if any(r)][:100]
        except csv.Error:
            continue
        widths = [len(r) for r in rows]
        if not widths:
            continue
        mode = max(set(widths), key=widths.count)
        score = (widths.count(mode), mode) if mode > 1 else (0, 0)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _lines(text: str) -> Iterator[str]:
    for match in LINE.finditer(text):
        yield match.group()


def reader(text: str, file_name: str) -> Any:
    """A csv reader over the text's records (an Excel `sep=` first line wins over sniffing the delimiter)."""
    forced = SEP_LINE.match(text)
    if forced:
        delimiter = forced.group(1)
        text = text[forced.end() :]
    else:
        delimiter = sniff_delimiter(text, file_name)
    return csv.reader(_lines(text), delimiter=delimiter, strict=False)
