"""Every table the reader libraries read comes in: .ods, .xlsb, .xls by whichever reader decodes it right, odd zip
layouts, sheets whose declared size lies, error cells, control characters; big sheets read in blocks alike."""

from __future__ import annotations

import io
import logging

import openpyxl
import pytest

from core.errors import InvalidInput, LimitReached
from core.leadfile import Limits, ParsedFile, parse_file, prepare_import, reader_process
from tests.leadfile import formats
from tests.leadfile.builders import NAMES, lead_rows, xlsx_openpyxl, xlsx_xlsxwriter
from tests.leadfile.xlsgen import xls_workbook


def _assert_leads(parsed: ParsedFile, rows: list[list[str]]) -> None:
    assert parsed.columns == rows[0]
    assert parsed.rows == rows[1:]
    assert parsed.row_numbers == list(range(2, len(rows) + 1))


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("odfpy.ods", lambda rows: formats.ods_odfpy({"Leads": rows})),
        ("records.xlsb", lambda rows: formats.xlsb_workbook({"Leads": rows})),
        ("xlwt.xls", lambda rows: formats.xls_xlwt({"Leads": rows})),
        ("root-parts.xlsx", lambda rows: formats.relaid(xlsx_openpyxl({"Leads": rows}), root=True)),
        ("backslashes.xlsx", lambda rows: formats.relaid(xlsx_openpyxl({"Leads": rows}), backslashes=True)),
        ("both.xlsx", lambda rows: formats.relaid(xlsx_xlsxwriter({"Leads": rows}), root=True, backslashes=True)),
    ],
)
def test_other_formats_and_layouts_read_like_xlsx(name: str, build: object) -> None:
    rows = lead_rows(3)
    parsed = parse_file(build(rows), name)  # type: ignore[operator]
    _assert_leads(parsed, rows)
    assert parsed.sheet_name == "Leads" and {r[0] + " " + r[1] for r in parsed.rows} == set(NAMES)


def test_ods_numbers_and_several_sheets() -> None:
    sheets = {"Read me": [["Fill in the next sheet"]], "Leads": [["LinkedIn", "Employees"], ["linkedin.com/in/a", 250]]}
    parsed = parse_file(formats.ods_odfpy(sheets), "book.ods")
    assert parsed.sheet_names == ["Read me", "Leads"] and parsed.sheet_name == "Leads"
    assert parsed.rows == [["linkedin.com/in/a", "250"]]


def test_biff5_in_the_utf16_code_page_is_read_by_xlrd() -> None:
    """calamine reads these strings as 8-bit text ('L\\x00i\\x00...'); xlrd decodes them; the NULs decide."""
    rows = lead_rows(3)
    parsed = parse_file(formats.xls_biff5(rows, codepage=1200), "old.xls")
    _assert_leads(parsed, rows)
    assert not any("\x00" in c for r in parsed.rows for c in r)
    western = [["LinkedIn", "Name"], ["linkedin.com/in/a", "Søren Ødegård"]]
    assert parse_file(formats.xls_biff5(western, codepage=1252), "old.xls").rows == western[1:]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        (
            "openpyxl.xlsx",
            xlsx_openpyxl({"S": [["LinkedIn", "Score", "Rank"], ["linkedin.com/in/a", "#N/A", "#DIV/0!"]]}),
        ),
        (
            "xlwt.xls",
            formats.xls_xlwt(
                {"S": [["LinkedIn", "Score", "Rank"], ["linkedin.com/in/a"]]},
                errors={(1, 1): "#N/A", (1, 2): "#DIV/0!"},
            ),
        ),
        (
            "records.xlsb",
            formats.xlsb_workbook({"S": [["LinkedIn", "Score", "Rank"], ["linkedin.com/in/a", "#N/A", "#DIV/0!"]]}),
        ),
    ],
)
def test_error_cells_keep_their_text(name: str, data: bytes) -> None:
    parsed = parse_file(data, name)
    assert parsed.columns == ["LinkedIn", "Score", "Rank"]
    assert parsed.rows == [["linkedin.com/in/a", "#N/A", "#DIV/0!"]]


def test_a_sheet_of_error_cells_is_not_empty() -> None:
    data = xlsx_openpyxl({"S": [["LinkedIn", "Score"], ["#N/A", "#REF!"], ["#N/A", "#VALUE!"]]})
    assert parse_file(data, "e.xlsx").rows == [["#N/A", "#REF!"], ["#N/A", "#VALUE!"]]


def test_libreoffice_error_cells_and_padding() -> None:
    """LibreOffice saves #DIV/0! as the float 0 and #N/A as an empty string, and pads rows to 16,384 cells."""
    parsed = parse_file(formats.ods_libreoffice_errors(), "lo.ods")
    assert parsed.columns == ["LinkedIn", "Company", "Score"]
    assert parsed.rows == [
        ["https://www.linkedin.com/in/ann", "Acme", "#DIV/0!"],
        ["https://www.linkedin.com/in/bo", "#N/A", "7"],
    ]


def test_formula_cells_without_a_saved_value_are_counted() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["LinkedIn", "Total", "Note"])
    ws.append(["linkedin.com/in/a", "=1+1", "x"])  # openpyxl saves formulas with no value
    ws.append(["linkedin.com/in/b", "=SUM(B2:B2)", "y"])
    ws.append(["linkedin.com/in/c", 5, "z"])
    out = io.BytesIO()
    wb.save(out)
    parsed = parse_file(out.getvalue(), "f.xlsx")
    assert parsed.formula_cells_without_value == 2
    assert [r[1] for r in parsed.rows] == ["", "", "5"]
    assert parse_file(xlsx_openpyxl({"S": lead_rows(2)}), "plain.xlsx").formula_cells_without_value == 0
    assert parse_file(b"LinkedIn\r\nlinkedin.com/in/a\r\n", "x.csv").formula_cells_without_value == 0


@pytest.mark.parametrize("dimension", ["A1:XFD1048576", "A1:C1048576", "B2:GT9", "A1"])
def test_declared_dimension_is_not_trusted(dimension: str) -> None:
    cells = {"A1": "LinkedIn", "B1": "Company", "A2": "linkedin.com/in/a", "B2": "Acme"}
    parsed = parse_file(formats.xlsx_cells(cells, dimension=dimension), "d.xlsx")
    assert parsed.columns == ["LinkedIn", "Company"] and parsed.rows == [["linkedin.com/in/a", "Acme"]]


def test_a_real_table_in_a_sheet_declared_huge_is_chosen() -> None:
    """The first sheet is empty; the second declares A1:Y1048576 and holds a 2x2 table."""
    data = xlsx_openpyxl({"Empty": [], "Leads": [["LinkedIn", "Company"], ["linkedin.com/in/a", "Acme"]]})
    data = formats.with_dimension(data, "xl/worksheets/sheet2.xml", "A1:Y1048576")
    parsed = parse_file(data, "two.xlsx")
    assert parsed.sheet_names == ["Empty", "Leads"]
    assert parsed.sheet_name == "Leads" and parsed.rows == [["linkedin.com/in/a", "Acme"]]


def test_one_column_far_to_the_right_is_one_column() -> None:
    cells = {"A1": "LinkedIn", "B1": "Company", "AKE1": "Note", "A2": "linkedin.com/in/a", "B2": "Acme", "AKE2": "n"}
    parsed = parse_file(formats.xlsx_cells(cells), "far.xlsx", Limits(max_columns=3))
    assert parsed.columns == ["LinkedIn", "Company", "Note"] and parsed.rows == [["linkedin.com/in/a", "Acme", "n"]]


def test_empty_columns_and_rows_do_not_count_against_the_limits() -> None:
    rows = [
        ["LinkedIn", "", "", "Company", "", ""],
        ["", "", "", "", "", ""],
        ["linkedin.com/in/a", "", "", "Acme", "", ""],
    ]
    for name, data in (
        ("e.xlsx", xlsx_openpyxl({"S": rows})),
        ("e.csv", "\r\n".join(",".join(r) for r in rows).encode()),
    ):
        parsed = parse_file(data, name, Limits(max_columns=2, max_rows=1))
        assert parsed.columns == ["LinkedIn", "Company"] and parsed.rows == [["linkedin.com/in/a", "Acme"]]
    with pytest.raises(LimitReached, match="3 columns; the limit is 2"):
        parse_file(b"LinkedIn,Company,Note\r\nlinkedin.com/in/a,Acme,x\r\n", "x.csv", Limits(max_columns=2))


def test_unnamed_column_keeps_its_letter_after_empty_columns_are_dropped() -> None:
    cells = {"A1": "LinkedIn", "A2": "linkedin.com/in/a", "D2": "note"}
    assert parse_file(formats.xlsx_cells(cells), "x.xlsx").columns == ["LinkedIn", "Column D"]


def test_control_characters_in_headers_and_cells() -> None:
    data = "First\vName;Last\vName;LinkedIn\vURL;Firma\f\r\nÅse;Ødegård;linkedin.com/in/ase;Acme\x1cAS\r\n".encode()
    preview = prepare_import(data, "vt.csv")
    assert preview.parsed.columns == ["First\vName", "Last\vName", "LinkedIn\vURL", "Firma"]
    assert preview.mapping["linkedin_url"] == "LinkedIn\vURL" and preview.mapping["first_name"] == "First\vName"
    lead = preview.leads[0]
    assert (lead.first_name, lead.company, lead.linkedin_url) == (
        "Åse",
        "Acme\x1cAS",
        "https://www.linkedin.com/in/ase",
    )


def test_separators_and_nul_in_cells() -> None:
    rows = [
        ["Full Name", "LinkedIn"],
        ["a\x1eb", "linkedin.com/in/a"],
        ["\x1bstart", "linkedin.com/in/b"],
        ["c\x1fd", "linkedin.com/in/c"],
    ]
    assert parse_file(xlsx_xlsxwriter({"S": rows}), "s.xlsx").rows == rows[1:]
    csv = "Full Name,Company,LinkedIn\r\nAnn\x00,Ac\x00me,linkedin.com/in/a\r\n".encode("utf-16")
    preview = prepare_import(csv, "nul.csv")
    assert preview.parsed.rows == [["Ann\x00", "Ac\x00me", "linkedin.com/in/a"]]  # the cells as they are
    lead = preview.leads[0]
    assert (lead.full_name, lead.company) == ("Ann", "Acme")  # the fields PostgreSQL stores: no NUL


def test_big_sheet_read_in_blocks_equals_whole(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [["First Name", "Company", "LinkedIn", "Score"]]
    rows += [
        [f"Name {i}", f"Co {i % 7}", f"https://www.linkedin.com/in/p-{i}", "#N/A" if i % 100 == 0 else i]
        for i in range(3000)
    ]
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    ws.append(["Last", "Co", "https://www.linkedin.com/in/last", "=1+1"])
    out = io.BytesIO()
    wb.save(out)
    data = out.getvalue()
    whole = parse_file(data, "big.xlsx")
    monkeypatch.setattr(reader_process, "SHEET_BLOCKS", (32 * 1024, 16 * 1024))  # cut above 32 KB, 16 KB blocks
    with caplog.at_level(logging.DEBUG, logger="core.leadfile.reader_process"):
        cut = parse_file(data, "big.xlsx")
    blocks = [int(r.args[3]) for r in caplog.records if "blocks" in r.msg]  # type: ignore[index]
    assert blocks and blocks[0] > 5
    assert cut.rows == whole.rows and cut.row_numbers == whole.row_numbers and cut.columns == whole.columns
    assert cut.rows[100][3] == "#N/A" and cut.rows[101][3] == "101"
    assert cut.formula_cells_without_value == whole.formula_cells_without_value == 1


def test_password_protected_files_of_every_format() -> None:
    rows = lead_rows(2)
    cases = {
        "enc.xlsx": formats.encrypted_ooxml(xlsx_openpyxl({"Leads": rows})),
        "enc.xlsb": formats.encrypted_ooxml(formats.xlsb_workbook({"Leads": rows})),
        "enc.xls": xls_workbook({"Leads": rows}, encrypted=True),
        "enc-late-directory.xls": xls_workbook({"Leads": rows}, encrypted=True, other_streams=5),
        "enc.ods": formats.ods_package("", encrypted=True),
    }
    for name, data in cases.items():
        with pytest.raises(InvalidInput, match="password-protected") as info:
            parse_file(data, name)
        assert info.value.message.endswith("."), name
    assert len(parse_file(xls_workbook({"Leads": rows}, other_streams=5), "late-directory.xls").rows) == 2


def test_opendocument_files_that_are_not_spreadsheets() -> None:
    with pytest.raises(InvalidInput, match="OpenDocument text document, not a spreadsheet"):
        parse_file(formats.ods_package("", mimetype="text"), "letter.ods")
