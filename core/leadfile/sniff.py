"""Tells what an uploaded file really is from its first bytes, whatever its name says, and refuses what is not a lead file."""

from __future__ import annotations

from typing import Literal

from core.errors import InvalidInput
from core.leadfile.reader_process import DAMAGED, PASSWORD

Kind = Literal["zip", "xls", "text"]

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
SAMPLE = 64 * 1024

# Signatures of common files that are not spreadsheets, for a message that says what the file is.
OTHER_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"{\\rtf", "a rich-text (RTF) document"),
    (b"\x00\x00\x01\x00", "an icon"),
    (b"RIFF", "a media file"),
    (b"\x7fELF", "a program"),
)


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-le")


def _describe(file_name: str) -> str:
    ext = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if ext in ("xlsx", "xlsm", "xlsb", "xls"):
        return f"This file is named .{ext} but it is not an Excel workbook"
    if ext == "ods":
        return "This file is named .ods but it is not an OpenDocument spreadsheet"
    if ext in ("csv", "tsv", "txt"):
        return f"This file is named .{ext} but it is not a text (CSV) file"
    return "This file is not an Excel workbook or a CSV file"


def detect(data: bytes, file_name: str) -> Kind:
    """'zip' (an .xlsx, .xlsb or .ods package: zipcheck tells which), 'xls' or 'text' from the bytes;
    InvalidInput for anything else, with what it seems to be."""
    if not data:
        raise InvalidInput("The file is empty.")
    if data.startswith(ZIP_MAGIC):
        return "zip"
    if data.startswith(OLE2_MAGIC):
        return _ole2(data)
    for magic, what in OTHER_KINDS:
        if data.startswith(magic):
            raise InvalidInput(f"{_describe(file_name)}: it is {what}. Upload the Excel or CSV file with the leads.")
    if data.startswith(b"PK"):
        raise InvalidInput(DAMAGED)
    if data[:4] == OLE2_MAGIC[:4]:
        raise InvalidInput(DAMAGED)
    head = data[:SAMPLE].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<meta")):
        raise InvalidInput(
            f"{_describe(file_name)}: it is a web page (HTML) saved under a spreadsheet name. "
            "Open it in Excel and save it as .xlsx or .csv, then upload that file."
        )
    if head.startswith(b"<?xml") and b"urn:schemas-microsoft-com:office:spreadsheet" in head:
        raise InvalidInput(
            "This is an Excel 2003 XML spreadsheet, which is not supported: save it as .xlsx and upload it again."
        )
    if _looks_binary(data[:SAMPLE]):
        raise InvalidInput(f"{_describe(file_name)}: its content is not readable text. Upload the Excel or CSV file.")
    return "text"


def _ole2(data: bytes) -> Kind:
    """An OLE2 compound file: a password-protected Office file, an old .xls workbook, or another Office file."""
    sector_size = 1 << min(int.from_bytes(data[30:32], "little"), 16)
    first_dir = int.from_bytes(data[48:52], "little")
    if len(data) < 1536 or (first_dir + 2) * sector_size > len(data):
        raise InvalidInput(DAMAGED)
    if _utf16("EncryptedPackage") in data or b"EncryptedPackage" in data or _utf16("EncryptionInfo") in data:
        raise InvalidInput(PASSWORD)
    if _utf16("Workbook") in data or _utf16("Book") in data:
        if _xls_encrypted(data):
            raise InvalidInput(PASSWORD)
        return "xls"
    if _utf16("WordDocument") in data:
        raise InvalidInput("This is a Word document, not a spreadsheet. Upload the Excel or CSV file with the leads.")
    if _utf16("PowerPoint Document") in data:
        raise InvalidInput("This is a PowerPoint file, not a spreadsheet. Upload the Excel or CSV file with the leads.")
    raise InvalidInput("This is an Office file but not an Excel workbook. Upload the Excel or CSV file with the leads.")


def _xls_encrypted(data: bytes) -> bool:
    """Whether the workbook stream of an .xls starts with a FILEPASS record (the file is password-protected)."""
    sector_size = 1 << int.from_bytes(data[30:32], "little")
    if sector_size not in (512, 4096):
        return False
    first_dir = int.from_bytes(data[48:52], "little")
    directory = data[(first_dir + 1) * sector_size : (first_dir + 2) * sector_size]
    for at in range(0, len(directory) - 127, 128):
        entry = directory[at : at + 128]
        name_len = int.from_bytes(entry[64:66], "little")
        name = entry[: max(name_len - 2, 0)].decode("utf-16-le", "ignore")
        if entry[66] == 2 and name in ("Workbook", "Book"):
            start = int.from_bytes(entry[116:120], "little")
            return _has_filepass(data[(start + 1) * sector_size : (start + 2) * sector_size])
    return False


def _has_filepass(stream: bytes) -> bool:
    """Walk the first BIFF records: FILEPASS (0x002F) comes right after the workbook's BOF when it is encrypted."""
    pos = 0
    for _ in range(12):
        if pos + 4 > len(stream):
            return False
        kind = int.from_bytes(stream[pos : pos + 2], "little")
        size = int.from_bytes(stream[pos + 2 : pos + 4], "little")
        if kind == 0x002F:
            return True
        if kind == 0x0085:  # the sheet list comes after FILEPASS would have
            return False
        pos += 4 + size
    return False


# Control bytes that text files hold in cells (tab, line ends, vertical tab and form feed for line breaks kept
# from spreadsheets, the separators some exports use, DOS end-of-file) do not count against a file being text.
TEXT_CONTROLS = {9, 10, 11, 12, 13, 26, 28, 29, 30, 31}
OTHER_CONTROLS = bytes(b for b in (*range(1, 32), 127) if b not in TEXT_CONTROLS)


def _looks_binary(sample: bytes) -> bool:
    """Binary when it holds NUL bytes (outside UTF-16 text) or control characters in more than 1 byte of 100."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return len(sample) % 2 == 1 and len(sample) < SAMPLE
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, OTHER_CONTROLS))
    return controls > 8 + len(sample) // 100
