"""Column names in many languages and spellings map to lead fields by themselves; a LinkedIn column is found by its values."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.leadfile import build_preview, parse_file, suggest_mapping

SYNONYMS = [
    ("company", ["Company", "Company Name", "company_name", "ORGANISATION", "Organization", "Firma", "Empresa"]),
    ("company", ["Entreprise", "Unternehmen", "Account Name", "Employer", "Current Company", "Société"]),
    ("linkedin_url", ["LinkedIn", "LinkedIn URL", "Linkedin-Url", "LinkedIn Profile", "Profile URL", "LI URL"]),
    ("linkedin_url", ["linkedinProfileUrl", "Person Linkedin Url", "linkedin profile link", "LinkedIn (personal)"]),
    ("first_name", ["First Name", "Firstname", "first_name", "Given name", "Vorname", "Prénom", "Fornavn"]),
    ("last_name", ["Last Name", "Surname", "Family name", "Nachname", "Nom", "Etternavn", "LAST-NAME"]),
    ("full_name", ["Full Name", "Name", "Contact Name", "  name  "]),
    ("email", ["Email", "E-mail", "Email Address", "Work Email", "e_mail", "Primary Email Address"]),
    ("country", ["Country", "Land", "Pays", "País", "Country/Region"]),
]


@pytest.mark.parametrize(
    ("field", "column"), [(field, column) for field, columns in SYNONYMS for column in columns], ids=str
)
def test_synonym_maps(field: str, column: str) -> None:
    mapping = suggest_mapping(["Notes", column, "Something else"])
    assert mapping[field] == column
    assert [f for f, c in mapping.items() if c is not None] == [field]


def test_apollo_style_export() -> None:
    columns = ["First Name", "Last Name", "Title", "Company", "Company Linkedin Url", "Person Linkedin Url"]
    columns += ["Email", "Email Status", "Country", "Website"]
    mapping = suggest_mapping(columns)
    assert mapping == {
        "linkedin_url": "Person Linkedin Url",
        "company": "Company",
        "first_name": "First Name",
        "last_name": "Last Name",
        "full_name": None,
        "email": "Email",
        "country": "Country",
    }


def test_company_linkedin_column_is_not_the_profile() -> None:
    assert suggest_mapping(["Company LinkedIn URL", "Company"])["linkedin_url"] is None


def test_linkedin_column_found_by_values() -> None:
    data = b"Who,Where,Link\r\nAnn,Acme,https://www.linkedin.com/in/ann\r\nBo,Beta,linkedin.com/in/bo\r\nCy,Cee,\r\n"
    preview = build_preview(parse_file(data, "x.csv"))
    assert preview.mapping["linkedin_url"] == "Link"
    assert preview.counts == {"rows": 3, "good": 2, "duplicates": 0, "problems": 1}


def test_person_chooses_mapping() -> None:
    parsed = parse_file(b"A,B\r\nAcme,linkedin.com/in/ann\r\n", "x.csv")
    preview = build_preview(parsed, {"linkedin_url": "B", "company": "A"})
    assert preview.leads[0].company == "Acme" and preview.mapping["email"] is None
    with pytest.raises(InvalidInput, match="“C” chosen for company is not in this file"):
        build_preview(parsed, {"linkedin_url": "B", "company": "C"})
    with pytest.raises(InvalidInput, match="Unknown lead field"):
        build_preview(parsed, {"linkedin": "B"})
