"""Hostile and broken files end in a clear InvalidInput or LimitReached within seconds, and this process stays up."""

from __future__ import annotations

import os
import random
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.errors import InvalidInput, LeadRelayError, LimitReached
from core.leadfile import Limits, parse_file, prepare_import, reader_process
from tests.leadfile import formats
from tests.leadfile.builders import (
    EXTERNAL_ENTITY,
    billion_laughs,
    lead_rows,
    minimal_parts,
    raw_zip,
    sheet_xml,
    xlsx_openpyxl,
    zeros_deflated,
    zip_parts,
)
from tests.leadfile.xlsgen import encrypted_package, xls_workbook

SECONDS = 10.0


@pytest.fixture(autouse=True)
def quick_and_unharmed() -> Iterator[None]:
    """Each case ends within seconds, and a good file still parses afterwards in this same process."""
    started = time.monotonic()
    yield
    assert time.monotonic() - started < SECONDS
    assert prepare_import(xlsx_openpyxl({"Leads": lead_rows(2)}), "ok.xlsx").counts["good"] == 2


def _refused(data: bytes, name: str = "leads.xlsx", limits: Limits = Limits()) -> LeadRelayError:
    with pytest.raises((InvalidInput, LimitReached)) as info:
        parse_file(data, name, limits)
    error = info.value
    assert error.message and error.message.endswith(".") and "Traceback" not in error.message
    return error


def _bomb_entries(declared: int, stream: bytes) -> bytes:
    parts = minimal_parts()
    entries = [(n, zlib.compress(d)[2:-4], zlib.crc32(d), len(d)) for n, d in parts.items() if "sharedStrings" not in n]
    return raw_zip([*entries, ("xl/sharedStrings.xml", stream, 0, declared)])


def test_zip_bomb_declared_size() -> None:
    error = _refused(_bomb_entries(2048 * 2**20, zeros_deflated(2048)))
    assert isinstance(error, LimitReached) and "zip bomb" in error.message


def test_zip_bomb_lying_about_its_size() -> None:
    """Declares a tiny part whose stream really inflates to 2 GiB after a valid XML start."""
    head = b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH) + zeros_deflated(2048)
    view = head + b"\0" * 100
    parts = minimal_parts()
    entries = [(n, zlib.compress(d)[2:-4], zlib.crc32(d), len(d)) for n, d in parts.items() if "sharedStrings" not in n]
    data = raw_zip([*entries, ("xl/sharedStrings.xml", stream, zlib.crc32(view), len(view))])
    error = _refused(data)
    assert isinstance(error, InvalidInput) and "damaged" in error.message


def test_total_unpacked_size_over_limit() -> None:
    items = "".join(f"<si><t>{i * 7919}</t></si>" for i in range(200_000)).encode()
    big = b'<?xml version="1.0"?><sst xmlns="x">' + items + b"</sst>"
    data = zip_parts(minimal_parts(**{"xl/sharedStrings.xml": big}))
    error = _refused(data, limits=Limits(parse_memory_mb=2))
    assert isinstance(error, LimitReached) and "unpacks to" in error.message


def test_too_many_parts() -> None:
    parts = minimal_parts(**{f"xl/media/p{i}.xml": b"<a/>" for i in range(2_100)})
    assert "parts" in _refused(zip_parts(parts)).message


@pytest.mark.parametrize(
    "parts",
    [
        {"xl/sharedStrings.xml": billion_laughs()},
        {"xl/worksheets/sheet1.xml": sheet_xml(doctype=EXTERNAL_ENTITY)},
        {
            "xl/workbook.xml": b'<?xml version="1.0"?><!DOCTYPE workbook SYSTEM "http://example.invalid/x.dtd"><workbook/>'
        },
    ],
    ids=["billion-laughs", "external-entity", "external-dtd"],
)
def test_xml_entity_attacks(parts: dict[str, bytes]) -> None:
    error = _refused(zip_parts(minimal_parts(**parts)))
    assert isinstance(error, InvalidInput) and "DOCTYPE" in error.message


def test_prolog_padded_past_the_scan_window() -> None:
    padded = b'<?xml version="1.0"?>' + b"<!--" + b"x" * 70_000 + b"-->" + b"<!DOCTYPE sst []><sst/>"
    assert isinstance(_refused(zip_parts(minimal_parts(**{"xl/sharedStrings.xml": padded}))), InvalidInput)


@pytest.mark.parametrize(
    ("dimension", "needle"),
    [("A1:XFD1048576", "16,384 columns"), ("A1:C1048576", "1,048,576 rows"), ("B2:GT9", "201 columns")],
)
def test_absurd_dimension(dimension: str, needle: str) -> None:
    """A declared size is not the content (issue 12 reverses the earlier refusal by declaration): the one lead of
    the sheet is read, and no message repeats the declared size."""
    data = zip_parts(minimal_parts(**{"xl/worksheets/sheet1.xml": sheet_xml(dimension)}))
    parsed = parse_file(data, "leads.xlsx")
    assert parsed.columns == ["LinkedIn"] and parsed.rows == [["https://www.linkedin.com/in/jane"]]
    assert needle not in repr(parsed)


@pytest.mark.parametrize("far", ["XFD1048576", "XFD2", "A1048576"])
def test_far_cell_bomb(far: str) -> None:
    """Real cells at A1 and far away: calamine's grid of the area between would take up to 512 GB; the refusal
    comes within seconds (the fixture's deadline) and says what to do, or the two cells are read."""
    data = formats.xlsx_cells({"A1": "LinkedIn", "A2": "https://www.linkedin.com/in/jane", far: "x"})
    if far == "XFD1048576":
        error = _refused(data)
        assert isinstance(error, LimitReached) and "memory" in error.message and "Ctrl+End" in error.message
    elif far == "XFD2":  # 2 rows x 16,384 columns: small enough to read; the empty columns between are dropped
        parsed = parse_file(data, "leads.xlsx")
        assert parsed.columns == ["LinkedIn", "Column XFD"] and parsed.rows == [
            ["https://www.linkedin.com/in/jane", "x"]
        ]
    else:  # 1,048,576 rows x 1 column: the empty rows between are dropped
        parsed = parse_file(data, "leads.xlsx")
        assert parsed.columns == ["LinkedIn"] and parsed.rows == [["https://www.linkedin.com/in/jane"], ["x"]]
        assert parsed.row_numbers == [2, 1048576]


def _must_not_run(*_args: object) -> dict[str, object]:
    raise AssertionError("the child process must not start for this file")


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9, 0.999])
def test_truncated_xlsx(fraction: float) -> None:
    data = xlsx_openpyxl({"Leads": lead_rows(200)})
    assert isinstance(_refused(data[: int(len(data) * fraction)]), InvalidInput)


@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.95])
def test_truncated_xls(fraction: float) -> None:
    data = xls_workbook({"Leads": lead_rows(300)})
    _refused(data[: int(len(data) * fraction)], "leads.xls")


def test_corrupted_xlsx_bytes() -> None:
    data = bytearray(xlsx_openpyxl({"Leads": lead_rows(300)}))
    rng = random.Random(7)
    for _ in range(40):
        at = rng.randrange(200, len(data) - 200)
        data[at] ^= 0xFF
    assert isinstance(_refused(bytes(data)), InvalidInput)


def test_random_bytes_named_xlsx() -> None:
    error = _refused(random.Random(1).randbytes(50_000))
    assert "named .xlsx but it is not an Excel workbook" in error.message


def test_png_named_xlsx() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + os.urandom(200)
    assert "PNG image" in _refused(png).message


def test_encrypted_package() -> None:
    assert "password-protected" in _refused(encrypted_package()).message


def test_minimal_ole2_with_encrypted_package_marker() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(40) + bytes(4) + bytes(1000) + b"EncryptedPackage" + bytes(2000)
    data = data[:30] + b"\x09\x00" + data[32:]
    assert "password-protected" in _refused(data).message


def test_encrypted_xls() -> None:
    assert "password-protected" in _refused(xls_workbook({"Leads": lead_rows(2)}, encrypted=True), "x.xls").message


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"<!DOCTYPE html><html><table><tr><td>x</td></tr></table></html>", "web page"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (b"", "empty"),
    ],
)
def test_other_kinds(data: bytes, needle: str) -> None:
    assert needle in _refused(data, "leads.xls").message


def test_word_document_in_a_zip() -> None:
    data = zip_parts({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<document/>"})
    assert "Word document" in _refused(data).message


def _fake_child(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "child.py"
    script.write_text(body)
    return script


@pytest.mark.parametrize(
    ("body", "kind", "needle"),
    [
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", LimitReached, "reader stopped"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", LimitReached, "reader stopped"),
        ("import sys\nsys.exit(3)\n", InvalidInput, "damaged"),
        ("print('this is not json')\n", InvalidInput, "damaged"),
        ("import time\ntime.sleep(60)\n", LimitReached, "longer than 1 seconds"),
    ],
    ids=["segfault", "killed", "exit-3", "garbage", "hang"],
)
def test_child_failures(
    body: str, kind: type[Exception], needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader_process, "CHILD", _fake_child(tmp_path, body))
    error = _refused(xlsx_openpyxl({"Leads": lead_rows(2)}), limits=Limits(parse_timeout_s=1))
    assert isinstance(error, kind) and needle in error.message


def test_memory_limit_in_the_child() -> None:
    data = xlsx_openpyxl({"Leads": lead_rows(20_000)})
    error = _refused(data, limits=Limits(parse_memory_mb=36))
    assert isinstance(error, LimitReached) and "memory" in error.message


def test_damaged_answers_are_refused() -> None:
    check: Callable[..., object] = reader_process._checked
    answer = {"sheet_names": ["S"], "sheet_name": "S", "width": 2, "columns_at": [0, 1]}
    with pytest.raises(InvalidInput):
        check({**answer, "runs": [[1, 3]]}, ["a\x1fb", "c"])  # one row too few
    with pytest.raises(InvalidInput):
        check({**answer, "runs": [[1, 1]], "width": 3}, ["a\x1fb"])  # width and column positions disagree
    with pytest.raises(InvalidInput):
        check({**answer, "runs": [[1, 1]]}, ["\x1b[1, 2]"])  # a JSON row that is not text
    with pytest.raises(InvalidInput):
        check({**answer, "runs": [[1, 1]], "sheet_name": "T"}, ["a"])
    assert len(check({**answer, "runs": [[1, 1]]}, ["a\x1fb"]).rows) == 1  # type: ignore[attr-defined]
