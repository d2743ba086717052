"""Profile Scraper rows: matched under every URL key they carry, errors classified, counts made numbers."""

from __future__ import annotations

import pytest

from core.scraper_rows import (
    RowError,
    classify_error,
    count_value,
    index_rows,
    parse_row,
    parse_rows,
    row_for,
    rows_from_csv,
    url_key,
)


def test_url_keys_ignore_www_case_slash_and_encoding() -> None:
    same = [
        "https://www.linkedin.com/in/Jane-Doe/",
        "https://linkedin.com/in/jane-doe",
        "linkedin.com/in/jane-doe?trk=x",
        "http://fr.linkedin.com/in/jane-doe",
    ]
    assert {url_key(u) for u in same} == {"https://www.linkedin.com/in/jane-doe"}
    assert url_key("https://linkedin.com/in/%C3%A9lodie") == url_key("https://www.linkedin.com/in/%c3%a9lodie/")
    assert url_key("https://example.com/in/x") is None and url_key(None) is None and url_key("  ") is None


def test_a_row_is_matched_under_every_url_it_carries() -> None:
    row = parse_row(
        {
            "profileUrl": "https://www.linkedin.com/in/ACwAAAB1234",
            "linkedinProfileUrl": "https://linkedin.com/in/jane-doe-1a2b3c",
            "firstName": "Jane",
        }
    )
    assert row.ok and row.matches("https://www.linkedin.com/in/acwaaab1234/")
    assert row.matches("https://www.linkedin.com/in/jane-doe-1a2b3c") and not row.matches("https://x.com/in/a")
    legacy = parse_rows(
        [
            {"query": "https://www.linkedin.com/in/a", "timestamp": "t"},
            {"baseUrl": "https://www.linkedin.com/in/b", "linkedinProfile": "https://www.linkedin.com/in/b-2"},
            {"general": {"profileUrl": "https://www.linkedin.com/in/c"}, "details": {"linkedinProfile": "x"}},
            "not a row",
            None,
        ]
    )
    assert [r.urls for r in legacy] == [
        ("https://www.linkedin.com/in/a",),
        ("https://www.linkedin.com/in/b", "https://www.linkedin.com/in/b-2"),
        ("https://www.linkedin.com/in/c", "x"),
    ]
    index = index_rows(legacy)
    assert row_for(index, "https://linkedin.com/in/B-2/") is legacy[1]
    assert row_for(index, "https://www.linkedin.com/in/zed") is None  # not tried


def test_a_success_wins_over_an_earlier_failure_for_the_same_lead() -> None:
    rows = parse_rows(
        [
            {"profileUrl": "https://www.linkedin.com/in/a", "error": "Page load timed out"},
            {"profileUrl": "https://www.linkedin.com/in/a", "linkedinProfileUrl": "https://linkedin.com/in/a"},
            {"profileUrl": "https://www.linkedin.com/in/b", "error": "boom"},
            {"profileUrl": "https://www.linkedin.com/in/b", "error": "No Linkedin profile found for b"},
        ]
    )
    index = index_rows(rows)
    assert row_for(index, "https://www.linkedin.com/in/a") is rows[1]
    assert row_for(index, "https://www.linkedin.com/in/b") is rows[3]


@pytest.mark.parametrize(
    ("text", "kind", "retryable"),
    [
        ("No Linkedin profile found for jane-doe", RowError.NOT_FOUND, False),
        ("This profile is private or unavailable (out of your network)", RowError.PRIVATE, False),
        ("Profile unavailable", RowError.PRIVATE, False),
        ("Page load timed out (net::ERR_TIMED_OUT), try again later", RowError.TRANSIENT, True),
        ("LinkedIn rate limit reached", RowError.TRANSIENT, True),
        ("Not a LinkedIn profile URL.", RowError.OTHER, False),
    ],
)
def test_error_rows_are_classified(text: str, kind: RowError, retryable: bool) -> None:
    assert classify_error(text) is kind
    row = parse_row({"profileUrl": "https://www.linkedin.com/in/a", "error": text})
    assert not row.ok and row.error == text and row.error_kind is kind and row.retryable is retryable
    assert row.reason is not None and text in row.reason


def test_empty_error_fields_are_not_errors() -> None:
    for value in (None, "", False):
        assert parse_row({"profileUrl": "https://www.linkedin.com/in/a", "error": value}).ok


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("512", 512),
        ("1,234", 1234),
        ("500+", 500),
        ("12 345", 12345),
        (" 7 ", 7),
        (42, 42),
        ("n/a", "n/a"),
        (None, None),
    ],
)
def test_counts_arrive_as_strings_and_become_numbers(value: object, expected: object) -> None:
    assert count_value(value) == expected
    row = parse_row({"profileUrl": "u", "linkedinFollowersCount": value, "linkedinHeadline": "512"})
    assert row.data["linkedinFollowersCount"] == expected and row.data["linkedinHeadline"] == "512"


def test_rows_from_the_result_csv() -> None:
    text = "\ufeffprofileUrl,linkedinConnectionsCount,error\r\nhttps://www.linkedin.com/in/a,500,\r\nhttps://www.linkedin.com/in/b,,No Linkedin profile found for b\r\n"
    rows = parse_rows(rows_from_csv(text))
    assert [r.urls for r in rows] == [("https://www.linkedin.com/in/a",), ("https://www.linkedin.com/in/b",)]
    assert rows[0].ok and rows[0].data["linkedinConnectionsCount"] == 500
    assert rows[1].error_kind is RowError.NOT_FOUND
