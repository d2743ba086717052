"""Exports keep the original columns in order, add profile fields, status and error, and never let a cell run as a formula."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from typing import Literal

import openpyxl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openpyxl.utils.escape import unescape

from core.leadfile import ExportRow, export_leads
from core.leadfile.export import original_text

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
Format = Literal["xlsx", "csv"]


def read_xlsx(data: bytes) -> list[list[str]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    return [[unescape(c) if isinstance(c, str) else ("" if c is None else c) for c in row] for row in sheet.values]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


READERS: tuple[tuple[Format, Callable[[bytes], list[list[str]]]], ...] = (("xlsx", read_xlsx), ("csv", read_csv))


def test_column_order_and_collisions() -> None:
    columns = ["Company", "LinkedIn", "fullName", "Status"]
    rows = [
        ExportRow(
            {"Company": "Acme", "LinkedIn": "https://www.linkedin.com/in/a", "fullName": "A"}, None, "failed", "x"
        ),
        ExportRow(
            {"Company": "Beta", "LinkedIn": "https://www.linkedin.com/in/b", "fullName": "B", "Status": "hot"},
            {"zeta": 1, "companyName": "Beta AS", "fullName": "Bo B", "linkedinHeadline": "CEO", "error": None},
            "success",
            None,
        ),
        ExportRow({"Company": "Cee"}, {"alpha": ["x", "y"], "firstName": "Cy", "skills": {"a": 1}}, "success", None),
    ]
    expected_header = [
        "Company", "LinkedIn", "fullName", "Status",
        "pb_fullName", "firstName", "linkedinHeadline", "companyName", "zeta", "pb_error", "alpha", "skills",
        "leadrelay_status", "error",
    ]  # fmt: skip
    for fmt, reader in READERS:
        table = reader(export_leads(columns, rows, fmt))
        assert table[0] == expected_header, fmt
        assert table[1][:4] == ["Acme", "https://www.linkedin.com/in/a", "A", ""]
        assert table[1][-2:] == ["failed", "x"]
        assert table[2][4:10] == ["Bo B", "", "CEO", "Beta AS", "1", ""]
        assert table[3][10:12] == ['["x", "y"]', '{"a": 1}']
        assert len(table) == 4


def test_accents_and_urls_stay_plain_text() -> None:
    url = "https://www.linkedin.com/in/s%C3%B8ren"
    rows = [ExportRow({"Name": "Łódź Paweł Żółć", "URL": url}, {"fullName": "Ærøskøbing Søren Ødegård"}, "ok", None)]
    data = export_leads(["Name", "URL"], rows, "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet["A2"].value == "Łódź Paweł Żółć" and sheet["B2"].value == url and sheet["B2"].hyperlink is None
    assert sheet["C2"].value == "Ærøskøbing Søren Ødegård"
    assert read_csv(export_leads(["Name", "URL"], rows, "csv"))[1][:3] == [
        "Łódź Paweł Żółć",
        url,
        "Ærøskøbing Søren Ødegård",
    ]


def test_lone_surrogates_do_not_break_the_export() -> None:
    rows = [ExportRow({"A": "x\ud800y"}, {"b": "\udfff"}, "ok", None)]
    for fmt, _ in READERS:
        assert export_leads(["A"], rows, fmt)


def _formulas(xlsx: bytes) -> int:
    """How many formula elements the workbook's sheets hold."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as zf:
        return sum(zf.read(n).count(b"<f>") + zf.read(n).count(b"<f ") for n in zf.namelist() if "sheet" in n)


TEXTS = ["=1+1", "+47 22 00 00 00", "-1", "-5", "@SUM(A1)", "\t=cmd", "\r=cmd", "'quoted", "plain", '=HYPERLINK("x")']


def test_formula_cells_are_neutralised_examples() -> None:
    """CSV: a leading quote keeps a spreadsheet from running the text. Issue 12 reverses this for .xlsx, where a
    text cell is never evaluated: the text stays exactly as it was (no quote), and the file has no formula."""
    rows = [ExportRow({"v": t}, {"p": t}, t, t) for t in TEXTS]
    table = read_csv(export_leads(["v"], rows, "csv"))
    for text, row in zip(TEXTS, table[1:], strict=True):
        for cell in row:
            assert not cell.startswith(DANGEROUS)
            assert original_text(cell) == text
    data = export_leads(["v"], rows, "xlsx")
    assert _formulas(data) == 0
    for text, row in zip(TEXTS, read_xlsx(data)[1:], strict=True):
        assert row == [text, text, text, text]


def test_xlsx_export_text_cells_read_back_exactly() -> None:
    rows = [ExportRow({"Phone": "+47 22 00 00 00", "Delta": "-1", "Note": "@SUM(A1)"}, None, "ok", None)]
    data = export_leads(["Phone", "Delta", "Note"], rows, "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [sheet["A2"].value, sheet["B2"].value, sheet["C2"].value] == ["+47 22 00 00 00", "-1", "@SUM(A1)"]
    assert {c.data_type for row in sheet.iter_rows() for c in row if c.value is not None} == {"s"}
    assert _formulas(data) == 0
    assert read_csv(export_leads(["Phone", "Delta", "Note"], rows, "csv"))[1][:3] == [
        "'+47 22 00 00 00",
        "'-1",
        "'@SUM(A1)",
    ]


cell_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]),
    max_size=40,
) | st.sampled_from(DANGEROUS).flatmap(lambda c: st.text(max_size=10).map(lambda t: c + t))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(cell_text, min_size=1, max_size=4), header=cell_text)
def test_no_cell_starts_like_a_formula(values: list[str], header: str) -> None:
    assume(header not in {f"c{i}" for i in range(len(values))})
    columns = [header, *[f"c{i}" for i in range(len(values) - 1)]]
    row = ExportRow(dict(zip(columns, values, strict=True)), {"profileField": values[0]}, values[-1], values[0])
    expected = [*values, values[0], values[-1], values[0]]
    for fmt, reader in READERS:
        data = export_leads(columns, [row], fmt)
        table = reader(data)
        body = table[1] if len(table) > 1 else []  # xlsx writes no row when every cell is empty
        body = [*body, *[""] * (len(table[0]) - len(body))]
        if fmt == "csv":
            for cell in [*table[0], *body]:
                assert not cell.startswith(DANGEROUS), (fmt, cell)
            assert original_text(table[0][0]) == header
            assert [original_text(c) for c in body] == expected, fmt
        else:  # text cells, never evaluated: exactly the text, and not one formula in the file
            assert table[0][0] == header and body == expected
            assert _formulas(data) == 0
