"""Size, row and column limits are refused with the numbers, as early as the file allows."""

from __future__ import annotations

import pytest

from core.errors import LimitReached
from core.leadfile import Limits, parse_file, sniff
from tests.leadfile import formats
from tests.leadfile.builders import lead_rows, xlsx_openpyxl, xlsx_xlsxwriter
from tests.leadfile.xlsgen import xls_workbook


def _explode(*_args: object, **_kwargs: object) -> object:
    raise AssertionError("parsing must not start")


def test_max_bytes_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sniff, "detect", _explode)
    with pytest.raises(LimitReached, match=r"This file is 2\.5 MB; the limit is 2 MB"):
        parse_file(b"x" * (5 * 2**19), "big.csv", Limits(max_bytes=2 * 2**20))


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "xls"])
def test_max_rows(fmt: str) -> None:
    rows = lead_rows(60)
    data = {
        "csv": lambda: "\r\n".join(",".join(r) for r in rows).encode(),
        "xlsx": lambda: xlsx_openpyxl({"Leads": rows}),
        "xls": lambda: xls_workbook({"Leads": rows}),
    }[fmt]()
    with pytest.raises(LimitReached, match="60 rows of leads; LeadRelay reads at most 50"):
        parse_file(data, f"f.{fmt}", Limits(max_rows=50))
    assert len(parse_file(data, f"f.{fmt}", Limits(max_rows=60)).rows) == 60


def test_max_rows_found_from_the_content() -> None:
    """Counted over the sheet's non-blank rows (issue 12: no longer from the declared dimension, which may lie)."""
    with pytest.raises(LimitReached, match="The sheet “Leads” has 201 rows; LeadRelay reads at most 100"):
        parse_file(xlsx_openpyxl({"Leads": lead_rows(200)}), "f.xlsx", Limits(max_rows=100))
    lying = formats.with_dimension(xlsx_openpyxl({"Leads": lead_rows(3)}), "xl/worksheets/sheet1.xml", "A1:F1048576")
    assert len(parse_file(lying, "f.xlsx", Limits(max_rows=100)).rows) == 3


def test_max_rows_in_the_child_for_xls() -> None:
    with pytest.raises(LimitReached, match="The sheet “Leads” has 201 rows"):
        parse_file(xls_workbook({"Leads": lead_rows(200)}), "f.xls", Limits(max_rows=100))


def test_max_rows_stops_csv_reading_early() -> None:
    data = b"LinkedIn\r\n" + b"linkedin.com/in/x\r\n" * 10_000
    with pytest.raises(LimitReached, match="more than 100 rows"):
        parse_file(data, "f.csv", Limits(max_rows=100))


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "xls"])
def test_max_columns(fmt: str) -> None:
    rows = [["LinkedIn", *[f"c{i}" for i in range(11)]], ["linkedin.com/in/a", *["v"] * 11]]
    data = {
        "csv": lambda: "\r\n".join(",".join(r) for r in rows).encode(),
        "xlsx": lambda: xlsx_openpyxl({"Leads": rows}),
        "xls": lambda: xls_workbook({"Leads": rows}),
    }[fmt]()
    with pytest.raises(LimitReached, match="12 columns; the limit is 10"):
        parse_file(data, f"f.{fmt}", Limits(max_columns=10))
    assert len(parse_file(data, f"f.{fmt}", Limits(max_columns=12)).columns) == 12


def test_oversized_sheet_skipped_when_choosing_the_default() -> None:
    data = xlsx_openpyxl({"Huge": lead_rows(300), "Leads": lead_rows(5)})
    parsed = parse_file(data, "f.xlsx", Limits(max_rows=100))
    assert parsed.sheet_name == "Leads" and parsed.sheet_names == ["Huge", "Leads"]
    with pytest.raises(LimitReached, match="“Huge” has 301 rows"):
        parse_file(data, "f.xlsx", Limits(max_rows=100), sheet="Huge")


def test_limits_sentence_states_every_limit() -> None:
    from core.config import Settings
    from core.intake import limits_sentence

    sentence = limits_sentence(Settings(max_upload_mb=20, max_rows=5000, max_columns=60, parse_memory_mb=512))
    for part in (
        ".xlsx",
        ".xlsb",
        ".xls",
        ".ods",
        "CSV",
        "20 MB",
        "5,000 rows",
        "60 columns",
        "64 MB of cell text",
        "60 seconds",
    ):
        assert part in sentence, part
    assert sentence.endswith(".") and Limits().sentence().count("200,000 rows") == 1


class OneMegabyteOfText(Limits):
    @property
    def max_text_bytes(self) -> int:
        return 2**20


def test_cell_text_limit() -> None:
    """Cell text beyond the limit (an eighth of the memory budget) is refused: it bounds what the caller builds
    from the rows. One shared string of 2,000 characters in 600 cells is a small file but 1.2 MB of text."""
    assert Limits(parse_memory_mb=1024).max_text_bytes == 128 * 2**20
    rows = [["LinkedIn", "Note"]] + [[f"linkedin.com/in/p{i}", "x" * 2000] for i in range(600)]
    for name, data in (("t.xlsx", xlsx_xlsxwriter({"Leads": rows})), ("t.csv", _csv(rows))):
        with pytest.raises(LimitReached, match="more than 1 MB of cell text"):
            parse_file(data, name, OneMegabyteOfText())
        assert len(parse_file(data, name).rows) == 600


def _csv(rows: list[list[str]]) -> bytes:
    return "\r\n".join(",".join(r) for r in rows).encode()
