"""Fake profiles: deterministic per URL, names from the slug, the §5.2 fields, `profileUrl` exactly the input."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from sandbox.profiles import canonical_url, is_profile_url, make_profile

FIELDS = {
    "linkedinProfileUrl",
    "firstName",
    "lastName",
    "fullName",
    "linkedinHeadline",
    "linkedinDescription",
    "location",
    "linkedinJobTitle",
    "companyName",
    "linkedinCompanyUrl",
    "companyIndustry",
    "linkedinSchoolName",
    "linkedinSkillsLabel",
    "linkedinFollowersCount",
    "linkedinConnectionsCount",
    "linkedinProfileImageUrl",
    "professionalEmail",
    "profileUrl",
}
STAMP = "2026-01-02T03:04:05.000Z"


def test_names_come_from_the_slug_and_fields_are_complete() -> None:
    p = make_profile("https://www.linkedin.com/in/jane-doe-42", STAMP)
    assert set(p) >= FIELDS
    assert (p["firstName"], p["lastName"], p["fullName"]) == ("Jane", "Doe", "Jane Doe")
    assert p["linkedinProfileUrl"] == "https://linkedin.com/in/jane-doe-42"  # canonical: no www, no slash
    assert p["profileUrl"] == "https://www.linkedin.com/in/jane-doe-42" and "query" not in p
    assert p["linkedinHeadline"].startswith(p["linkedinJobTitle"])
    assert p["linkedinFollowersCount"].isdigit() and p["linkedinConnectionsCount"].isdigit()  # strings
    assert p["linkedinSkillsLabel"].count(",") >= 2
    legacy = make_profile("https://www.linkedin.com/in/jane-doe-42", STAMP, legacy=True, counts_as_strings=False)
    assert legacy["query"] == legacy["baseUrl"] == "https://www.linkedin.com/in/jane-doe-42"
    assert isinstance(legacy["linkedinFollowersCount"], int)
    datetime.fromisoformat(legacy["timestamp"])


def test_member_id_urls_get_a_different_canonical_vanity_url() -> None:
    p = make_profile("https://www.linkedin.com/in/ACwAAAB1234xyz", STAMP)
    assert p["profileUrl"] == "https://www.linkedin.com/in/ACwAAAB1234xyz"
    assert p["linkedinProfileUrl"].startswith("https://linkedin.com/in/") and "acwaaab" not in p["linkedinProfileUrl"]
    assert p["linkedinProfileUrl"] == canonical_url("https://www.linkedin.com/in/ACwAAAB1234xyz")


def test_odd_slugs() -> None:
    assert make_profile("linkedin.com/in/%C3%A9lodie-de-la-tour-a1b2c3/", STAMP)["lastName"] == "De La Tour"
    single = make_profile("https://fr.linkedin.com/in/madonna", STAMP)
    assert single["firstName"] == "Madonna" and single["lastName"]
    opaque = make_profile("https://www.linkedin.com/in/ACwAAAB1234xyz", STAMP)
    assert opaque["firstName"] and opaque["lastName"]


def test_not_a_profile_url_gives_an_error_row() -> None:
    row = make_profile("https://example.com/in/jane", STAMP)
    assert row == {"profileUrl": "https://example.com/in/jane", "error": "Not a LinkedIn profile URL."}
    assert not is_profile_url("https://www.linkedin.com/company/acme") and not is_profile_url(None)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_deterministic_and_query_is_the_exact_input(slug: str) -> None:
    url = "https://www.linkedin.com/in/" + slug
    a, b = make_profile(url, STAMP), make_profile(url, STAMP)
    assert a == b and a["profileUrl"] == url
