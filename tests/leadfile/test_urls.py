"""LinkedIn profile URLs become one canonical form; other LinkedIn links get a reason."""

from __future__ import annotations

import pytest

from core.leadfile import normalize_linkedin_url
from core.leadfile.urls import (
    BAD_SLUG,
    COMPANY_PAGE,
    NOT_LINKEDIN,
    NOT_PROFILE,
    OLD_PUBLIC,
    SALES_NAVIGATOR,
    SHORT_LINK,
    classify_linkedin_url,
)

JANE = "https://www.linkedin.com/in/jane-doe"


@pytest.mark.parametrize(
    "text",
    [
        "http://LinkedIn.com/in/Jane-Doe/?utm=x",
        "https://www.linkedin.com/in/jane-doe",
        "https://www.linkedin.com/in/jane-doe/",
        "www.linkedin.com/in/jane-doe",
        "linkedin.com/in/JANE-DOE",
        "https://no.linkedin.com/in/jane-doe?originalSubdomain=no",
        "https://uk.linkedin.com/in/jane-doe/en",
        "https://www.linkedin.com/in/jane-doe/details/experience/",
        "https://www.linkedin.com/in/jane-doe#about",
        "  <https://www.linkedin.com/in/jane-doe>  ",
        "//www.linkedin.com/in/jane-doe",
        "https://www.linkedin.com:443/in/jane-doe",
        "HTTPS://WWW.LINKEDIN.COM/IN/JANE-DOE",
        "https://m.linkedin.com/in/jane-doe",
        "https://www.linkedin.com/mwlite/in/jane-doe",
        "https://www.linkedin.com/in/jane%2Ddoe",
    ],
)
def test_same_person_one_url(text: str) -> None:
    assert normalize_linkedin_url(text) == JANE


def test_unicode_slug_is_encoded_one_way() -> None:
    encoded = "https://www.linkedin.com/in/s%C3%B8ren-%C3%B8deg%C3%A5rd"
    assert normalize_linkedin_url("https://no.linkedin.com/in/Søren-Ødegård/") == encoded
    assert normalize_linkedin_url("https://no.linkedin.com/in/s%c3%b8ren-%C3%98deg%c3%a5rd") == encoded
    # NFD input (o + combining stroke is not decomposable, so use é) becomes NFC
    assert normalize_linkedin_url("linkedin.com/in/jose\u0301") == normalize_linkedin_url("linkedin.com/in/josé")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("https://www.linkedin.com/sales/lead/ACwAAA123,NAME_SEARCH,abc", SALES_NAVIGATOR),
        ("https://www.linkedin.com/sales/people/ACwAAA123", SALES_NAVIGATOR),
        ("https://www.linkedin.com/company/acme/", COMPANY_PAGE),
        ("https://www.linkedin.com/school/ntnu/", COMPANY_PAGE),
        ("https://www.linkedin.com/pub/jane-doe/1a/2b/3c", OLD_PUBLIC),
        ("https://lnkd.in/abc123", SHORT_LINK),
        ("https://www.linkedin.com/feed/", NOT_PROFILE),
        ("https://www.linkedin.com/in/", NOT_PROFILE),
        ("https://www.linkedin.com/in/%FF%FE", BAD_SLUG),
        ("https://linkedin.com.evil.example/in/jane", NOT_LINKEDIN),
        ("https://evil-linkedin.com/in/jane", NOT_LINKEDIN),
        ("ftp://www.linkedin.com/in/jane", NOT_LINKEDIN),
        ("jane doe", NOT_LINKEDIN),
        ("jane@example.com", NOT_LINKEDIN),
        ("http://[broken", NOT_LINKEDIN),
    ],
)
def test_not_a_profile(text: str, reason: str) -> None:
    assert classify_linkedin_url(text) == (None, reason)
    assert normalize_linkedin_url(text) is None


def test_missing() -> None:
    assert classify_linkedin_url("   ") == (None, "The LinkedIn profile URL is missing.")
