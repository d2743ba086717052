"""Every supported format and encoding reads back accented names exactly, with headers found under titles and blanks."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import tempfile

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.leadfile import Limits, ParsedFile, parse_file, prepare_import
from tests.leadfile.builders import HEADER, NAMES, lead_rows, xlsx_openpyxl, xlsx_xlsxwriter
from tests.leadfile.xlsgen import xls_workbook


def _csv(rows: list[list[str]], delimiter: str = ",") -> str:
    def quote(cell: str) -> str:
        if any(ch in cell for ch in (delimiter, '"', "\n", "\r")):
            return '"' + cell.replace('"', '""') + '"'
        return cell

    return "".join(delimiter.join(quote(c) for c in row) + "\r\n" for row in rows)


def _assert_leads(parsed: ParsedFile, rows: list[list[str]]) -> None:
    assert parsed.columns == rows[0]
    assert parsed.rows == rows[1:]
    assert parsed.row_numbers == list(range(2, len(rows) + 1))
    assert parsed.header_row_number == 1


WORKBOOKS = {
    "openpyxl.xlsx": lambda rows: xlsx_openpyxl({"Leads": rows}),
    "xlsxwriter.xlsx": lambda rows: xlsx_xlsxwriter({"Leads": rows}),
    "inline.xlsx": lambda rows: xlsx_xlsxwriter({"Leads": rows}, constant_memory=True),
    "legacy.xls": lambda rows: xls_workbook({"Leads": rows}),
}


@pytest.mark.parametrize("name", list(WORKBOOKS))
def test_workbooks_round_trip_accents(name: str) -> None:
    rows = lead_rows(3)
    parsed = parse_file(WORKBOOKS[name](rows), name)
    _assert_leads(parsed, rows)
    assert parsed.sheet_names == ["Leads"] and parsed.sheet_name == "Leads"
    assert {r[0] + " " + r[1] for r in parsed.rows} == set(NAMES)


@pytest.mark.parametrize(
    ("encoding", "delimiter", "names"),
    [
        ("utf-8", ",", NAMES),
        ("utf-8-sig", ";", NAMES),
        ("utf-16", "\t", NAMES),
        ("cp1252", ";", ["Ærøskøbing Søren Ødegård", "José Müller"]),
        ("cp1250", ",", ["Łódź Paweł Żółć", "Škoda Dvořák Čapek"]),
        ("cp1250", ";", ["Łódź Paweł Żółć"]),
        ("cp1252", ",", ["Ødegård Åse"]),
    ],
)
def test_csv_encodings_and_delimiters(encoding: str, delimiter: str, names: list[str]) -> None:
    rows = [["Full Name", "Company", "LinkedIn"]] + [
        [n, n + " AS", f"linkedin.com/in/p{i}"] for i, n in enumerate(names)
    ]
    parsed = parse_file(_csv(rows, delimiter).encode(encoding), "leads.csv")
    _assert_leads(parsed, rows)
    assert not parsed.columns[0].startswith("\ufeff")
    assert parsed.sheet_names == [] and parsed.sheet_name is None


def test_tsv_and_quoted_newlines() -> None:
    rows = [HEADER, ["Ann", "Lee", 'Acme "North"\nDivision', "linkedin.com/in/ann", "", "Norge"]]
    rows.append(["Bo", "Ek", "Beta, Inc.", "linkedin.com/in/bo", "bo@x.no", "Sverige"])
    parsed = parse_file(_csv(rows, "\t").encode(), "leads.tsv")
    _assert_leads(parsed, rows)
    assert parsed.rows[0][2] == 'Acme "North"\nDivision'


def test_excel_sep_line() -> None:
    parsed = parse_file(b"sep=|\r\nCompany|LinkedIn\r\nAcme|linkedin.com/in/a\r\n", "x.csv")
    assert parsed.columns == ["Company", "LinkedIn"] and parsed.row_numbers == [2]


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv"])
def test_title_and_blank_rows(fmt: str) -> None:
    rows: list[list[str]] = [
        ["Leads for the spring campaign", "", ""],
        ["", "", ""],
        ["Company", "Name", "LinkedIn"],
        ["Acme", "Ann", "linkedin.com/in/ann"],
        ["", "", ""],
        ["Beta", "Bo", "linkedin.com/in/bo"],
    ]
    data = {"xlsx": lambda: xlsx_openpyxl({"S": rows}), "xls": lambda: xls_workbook({"S": rows})}.get(
        fmt, lambda: _csv(rows).encode()
    )()
    parsed = parse_file(data, f"f.{fmt}")
    assert parsed.header_row_number == 3
    assert parsed.columns == ["Company", "Name", "LinkedIn"]
    assert parsed.row_numbers == [4, 6]
    assert parsed.rows == [["Acme", "Ann", "linkedin.com/in/ann"], ["Beta", "Bo", "linkedin.com/in/bo"]]


@pytest.mark.parametrize("fmt", ["xlsx", "xls"])
def test_several_sheets(fmt: str) -> None:
    sheets = {
        "Read me": [["How to use this file"], ["Fill in the Leads sheet"]],
        "Leads": lead_rows(2),
        "Archive": [["Company", "LinkedIn"], ["Old AS", "linkedin.com/in/old"]],
    }
    data = xlsx_openpyxl(sheets) if fmt == "xlsx" else xls_workbook(sheets)
    parsed = parse_file(data, f"book.{fmt}")
    assert parsed.sheet_names == ["Read me", "Leads", "Archive"]
    assert parsed.sheet_name == "Leads" and len(parsed.rows) == 2
    chosen = parse_file(data, f"book.{fmt}", sheet="Archive")
    assert chosen.sheet_name == "Archive" and chosen.rows == [["Old AS", "linkedin.com/in/old"]]
    with pytest.raises(InvalidInput, match="no sheet named “Nope”"):
        parse_file(data, f"book.{fmt}", sheet="Nope")


@pytest.mark.parametrize("fmt", ["xlsx", "xls"])
def test_numbers_and_dates(fmt: str) -> None:
    rows: list[list[object]] = [
        ["LinkedIn", "Employees", "Score", "Signed up", "Last call"],
        ["linkedin.com/in/a", 250, 4.25, dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 14, 30)],
        ["linkedin.com/in/b", 47123456789, -0.5, dt.date(1999, 12, 31), dt.datetime(2024, 1, 2, 8, 0, 5)],
    ]
    data = xlsx_openpyxl({"S": rows}) if fmt == "xlsx" else xls_workbook({"S": rows})
    parsed = parse_file(data, f"n.{fmt}")
    assert parsed.rows == [
        ["linkedin.com/in/a", "250", "4.25", "2024-03-01", "2024-03-01 14:30:00"],
        ["linkedin.com/in/b", "47123456789", "-0.5", "1999-12-31", "2024-01-02 08:00:05"],
    ]


def test_header_cells_named_and_deduplicated() -> None:
    parsed = parse_file(b"Email,,Email,LinkedIn\r\na@x.no,note,b@x.no,linkedin.com/in/a\r\n", "x.csv")
    assert parsed.columns == ["Email", "Column B", "Email (2)", "LinkedIn"]


def test_file_without_header_row() -> None:
    parsed = parse_file(b"linkedin.com/in/a,Acme\r\nlinkedin.com/in/b,Beta\r\n", "x.csv")
    assert parsed.header_row_number == 0 and parsed.columns == ["Column A", "Column B"]
    assert prepare_import(b"linkedin.com/in/a,Acme\r\nlinkedin.com/in/b,Beta\r\n", "x.csv").counts["good"] == 2


def test_real_type_wins_over_the_name() -> None:
    rows = lead_rows(2)
    as_csv = parse_file(_csv(rows).encode(), "leads.xlsx")
    _assert_leads(as_csv, rows)
    as_xlsx = parse_file(xlsx_openpyxl({"Leads": rows}), "leads.csv")
    _assert_leads(as_xlsx, rows)


def test_file_name_is_never_a_path(tmp_path, monkeypatch) -> None:
    # A temporary directory of its own (for this process and the reader child), so that what other programs put
    # in /tmp meanwhile cannot be mistaken for something the reader left behind.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    name = "../../../../tmp/evil name.xlsx"
    parsed = parse_file(xlsx_openpyxl({"Leads": lead_rows(1)}), name)
    assert parsed.file_name == name
    assert not os.path.exists("/tmp/evil name.xlsx")
    assert not (scratch.parent / "evil name.xlsx").exists()
    assert os.listdir(scratch) == []  # the reader left nothing behind


def test_content_hash_and_size() -> None:
    data = _csv(lead_rows(1)).encode()
    parsed = parse_file(data, "a.csv", Limits())
    assert parsed.content_hash == hashlib.sha256(data).hexdigest() and parsed.file_size == len(data)


def test_separator_characters_in_cells_survive() -> None:
    rows = [["Full Name", "LinkedIn"], ["a\x1fb", "linkedin.com/in/a"], ["c\x1ed", "linkedin.com/in/b"]]
    assert parse_file(xlsx_xlsxwriter({"S": rows}), "s.xlsx").rows == rows[1:]


name_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="\ufeff"), min_size=1, max_size=30
).filter(lambda t: t.strip() != "")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(name_text, min_size=1, max_size=5), encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_any_text_round_trips_through_csv(names: list[str], encoding: str) -> None:
    rows = [["Full Name", "LinkedIn"]] + [[n, f"linkedin.com/in/p{i}"] for i, n in enumerate(names)]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    assert parse_file(out.getvalue().encode(encoding), "any.csv").rows == rows[1:]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(name_text | st.text(min_size=1, max_size=10).map(lambda t: "x" + t), min_size=1, max_size=5))
def test_any_text_round_trips_through_xlsx(names: list[str]) -> None:
    rows = [["Full Name", "LinkedIn"]] + [[n, f"linkedin.com/in/p{i}"] for i, n in enumerate(names)]
    assert parse_file(xlsx_xlsxwriter({"S": rows}), "any.xlsx").rows == rows[1:]


def test_hidden_sheet_not_chosen_by_default() -> None:
    wb = openpyxl.Workbook()
    hidden = wb.active
    hidden.title = "Old leads"
    hidden.append(["Company", "LinkedIn"])
    hidden.sheet_state = "hidden"
    wb.create_sheet("New").append(["Company", "LinkedIn"])
    out = io.BytesIO()
    wb.save(out)
    parsed = parse_file(out.getvalue(), "h.xlsx")
    assert parsed.sheet_names == ["Old leads", "New"] and parsed.sheet_name == "New"


def test_stray_cell_right_of_the_header_gets_a_column() -> None:
    parsed = parse_file(b"Company,LinkedIn\r\nAcme,linkedin.com/in/a,,note\r\nBeta,linkedin.com/in/b\r\n", "x.csv")
    assert parsed.columns == ["Company", "LinkedIn", "Column D"]
    assert parsed.rows == [["Acme", "linkedin.com/in/a", "note"], ["Beta", "linkedin.com/in/b", ""]]


def test_empty_and_header_only_files() -> None:
    with pytest.raises(InvalidInput, match="no rows with data"):
        parse_file(b"\r\n ,  \r\n", "blank.csv")
    with pytest.raises(InvalidInput, match="is empty"):
        parse_file(xlsx_openpyxl({"Empty": []}), "empty.xlsx")
    assert prepare_import(b"Company,LinkedIn\r\n", "x.csv").counts == {
        "rows": 0,
        "good": 0,
        "duplicates": 0,
        "problems": 0,
    }
