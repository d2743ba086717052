"""The validation report: good leads, duplicates within the file and refused rows, each with its row number and reason."""

from __future__ import annotations

import csv
import io

from core.leadfile import LeadRow, Problem, build_preview, parse_file, prepare_import, report_csv
from tests.leadfile.builders import xlsx_openpyxl

ROWS = [
    ["Report for sales", "", "", "", ""],
    ["First Name", "Last Name", "Company", "LinkedIn Profile", "E-mail"],
    ["Ann", "Lee", " Acme AS ", "http://LinkedIn.com/in/Ann-Lee/?utm=x", "ann@acme.no"],
    ["Bo", "", "Beta", "https://no.linkedin.com/in/ann-lee", ""],
    ["Cy", "Ng", "", "", "cy@x.no"],
    ["Di", "Oh", "Dee", "https://www.linkedin.com/sales/lead/ACwAA,NAME", ""],
    ["", "", "", "", ""],
    ["Ed", "Po", "Eee", "https://www.linkedin.com/company/eee", ""],
    ["Fay", "Qu", "Eff", "linkedin.com/in/fay", ""],
    ["Gus", "Re", "Gee", "www.linkedin.com/in/FAY/", ""],
]


def test_rows_sorted_with_row_numbers() -> None:
    preview = prepare_import(xlsx_openpyxl({"Leads": ROWS}), "leads.xlsx")
    assert preview.parsed.header_row_number == 2
    assert preview.counts == {"rows": 7, "good": 2, "duplicates": 2, "problems": 3}
    assert preview.leads[0] == LeadRow(
        row_number=3,
        linkedin_url="https://www.linkedin.com/in/ann-lee",
        company="Acme AS",
        first_name="Ann",
        last_name="Lee",
        full_name=None,
        email="ann@acme.no",
        country=None,
        values={
            "First Name": "Ann",
            "Last Name": "Lee",
            "Company": " Acme AS ",
            "LinkedIn Profile": "http://LinkedIn.com/in/Ann-Lee/?utm=x",
            "E-mail": "ann@acme.no",
        },
    )
    assert [lead.row_number for lead in preview.leads] == [3, 9]
    assert preview.duplicates == [
        Problem(4, "LinkedIn Profile", "Same LinkedIn profile as row 3."),
        Problem(10, "LinkedIn Profile", "Same LinkedIn profile as row 9."),
    ]
    assert [(p.row_number, p.column) for p in preview.problems] == [
        (5, "LinkedIn Profile"),
        (6, "LinkedIn Profile"),
        (8, "LinkedIn Profile"),
    ]
    reasons = [p.reason for p in preview.problems]
    assert "missing" in reasons[0] and "Sales Navigator" in reasons[1] and "company page" in reasons[2]


def test_report_csv() -> None:
    preview = prepare_import(xlsx_openpyxl({"Leads": ROWS}), "leads.xlsx")
    data = report_csv(preview)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["row", "column", "reason", "kind"]
    assert [(r[0], r[3]) for r in rows[1:]] == [
        ("4", "duplicate"),
        ("5", "problem"),
        ("6", "problem"),
        ("8", "problem"),
        ("10", "duplicate"),
    ]


def test_report_neutralises_formula_column_names() -> None:
    parsed = parse_file(b"=HYPERLINK(1),Company\r\nnot a url,Acme\r\n", "x.csv")
    preview = build_preview(parsed, {"linkedin_url": "=HYPERLINK(1)"})
    assert "'=HYPERLINK(1)" in report_csv(preview).decode("utf-8-sig")


def test_no_linkedin_column_refuses_every_row() -> None:
    preview = prepare_import(b"Company,Name\r\nAcme,Ann\r\nBeta,Bo\r\n", "x.csv")
    assert preview.mapping["linkedin_url"] is None
    assert preview.counts == {"rows": 2, "good": 0, "duplicates": 0, "problems": 2}
    assert "No column is mapped" in preview.problems[0].reason


def test_full_name_and_country_fields() -> None:
    data = "Navn;Land;LinkedIn;Firma\r\nÅse Ødegård;Norge;linkedin.com/in/ase;\r\n".encode("cp1252")
    lead = prepare_import(data, "x.csv").leads[0]
    assert (lead.full_name, lead.country, lead.company, lead.first_name) == ("Åse Ødegård", "Norge", "", None)
