"""LinkedIn Profile Scraper result rows, typed: every URL a row carries, its error classified, counts as numbers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.leadfile.urls import normalize_linkedin_url

# Where a row says which profile it is about: the input (profileUrl; older outputs query, the legacy CSV baseUrl
# and linkedinProfile) and the canonical URL (linkedinProfileUrl, no www). A row is matched under every one.
URL_KEYS = ("profileUrl", "linkedinProfileUrl", "query", "baseUrl", "linkedinProfile")
# The legacy nested JSON (2019-2022) keeps them one level down.
NESTED_URL_KEYS = (("general", "profileUrl"), ("details", "linkedinProfile"))
# Counts the phantom sends as strings ("512", "1,234", "500+").
COUNT_FIELDS = frozenset(
    {
        "linkedinFollowersCount",
        "linkedinConnectionsCount",
        "linkedinCompanyFollowerCount",
        "linkedinCompanyEmployeesCount",
        "connectionsCount",
        "followersCount",
        "subscribers",
    }
)
_COUNT = re.compile(r"(\d{1,3}(?:[ ,.\u00a0\u202f]\d{3})+|\d+)\+?")


class RowError(StrEnum):
    """Why a row failed, as far as its `error` text tells."""

    NOT_FOUND = "not_found"  # no such profile: final
    PRIVATE = "private"  # private, out of network or unavailable: final
    TRANSIENT = "transient"  # a page that did not load, a LinkedIn limit: worth another try
    OTHER = "other"


# Checked in order; texts are lower-cased. The wording is PhantomBuster's own where known
# ("No Linkedin profile found for <slug>"), the rest is matched loosely on purpose.
_ERROR_WORDS: tuple[tuple[RowError, tuple[str, ...]], ...] = (
    (RowError.TRANSIENT, ("timed out", "timeout", "try again", "rate limit", "too many", "temporar", "net::err")),
    (RowError.NOT_FOUND, ("no linkedin profile found", "not found", "doesn't exist", "does not exist", "404")),
    (
        RowError.PRIVATE,
        ("private", "unavailable", "out of your network", "out of network", "restricted", "can't access"),
    ),
)
PLAIN_WORDS = {
    RowError.NOT_FOUND: "LinkedIn has no profile at this URL",
    RowError.PRIVATE: "the profile is private or not visible to the connected LinkedIn account",
    RowError.TRANSIENT: "the profile page did not load this time",
    RowError.OTHER: "the scraper could not read this profile",
}


def classify_error(text: str) -> RowError:
    """The kind of a row's `error` text."""
    lowered = text.lower()
    for kind, words in _ERROR_WORDS:
        if any(w in lowered for w in words):
            return kind
    return RowError.OTHER


def url_key(url: Any) -> str | None:
    """The comparison key of a profile URL (www or not, case, trailing slash, encoding); None for anything else."""
    return normalize_linkedin_url(url) if isinstance(url, str) and url.strip() else None


def count_value(value: Any) -> Any:
    """A count as a number ("1,234" -> 1234, "500+" -> 500); anything else is returned unchanged."""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    match = _COUNT.fullmatch(value.strip())
    if not match:
        return value
    return int(re.sub(r"\D", "", match.group(1)))


@dataclass(frozen=True, slots=True)
class ScraperRow:
    """One result row: its data (counts as numbers), the profile URLs it names, and its error if it failed."""

    data: dict[str, Any]
    urls: tuple[str, ...]  # the URLs as given, in URL_KEYS order, duplicates dropped
    keys: frozenset[str]  # their comparison keys (url_key)
    error: str | None = None
    error_kind: RowError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def retryable(self) -> bool:
        """Only a transient error is worth sending again."""
        return self.error_kind is RowError.TRANSIENT

    @property
    def reason(self) -> str | None:
        """The failure in plain words, with the phantom's own text."""
        if self.error is None or self.error_kind is None:
            return None
        return f"{PLAIN_WORDS[self.error_kind]} ({self.error})"

    def matches(self, url: str) -> bool:
        key = url_key(url)
        return key is not None and key in self.keys


def _urls(item: Mapping[str, Any]) -> list[str]:
    found = [item[k] for k in URL_KEYS if isinstance(item.get(k), str) and item[k].strip()]
    for outer, inner in NESTED_URL_KEYS:
        nested = item.get(outer)
        if isinstance(nested, Mapping) and isinstance(nested.get(inner), str) and nested[inner].strip():
            found.append(nested[inner])
    return list(dict.fromkeys(u.strip() for u in found))


def parse_row(item: Mapping[str, Any]) -> ScraperRow:
    """One untrusted row as a ScraperRow; nothing is dropped from its data."""
    data = {k: (count_value(v) if k in COUNT_FIELDS else v) for k, v in item.items()}
    urls = _urls(item)
    keys = frozenset(k for k in (url_key(u) for u in urls) if k is not None)
    raw_error = item.get("error")
    error = str(raw_error).strip()[:500] if raw_error not in (None, "", False) else None
    return ScraperRow(data, tuple(urls), keys, error, classify_error(error) if error else None)


def parse_rows(items: Iterable[Any]) -> list[ScraperRow]:
    """Every dict of `items` as a ScraperRow (anything that is not an object is skipped)."""
    return [parse_row(item) for item in items if isinstance(item, Mapping)]


def rows_from_csv(text: str) -> list[dict[str, Any]]:
    """A result CSV (header row, then one row per profile) as dicts; empty cells stay empty strings."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    return [{k: v for k, v in row.items() if k is not None} for row in reader]


def index_rows(rows: Iterable[ScraperRow]) -> dict[str, list[ScraperRow]]:
    """Rows by comparison key, a row under every key it carries (later rows last)."""
    index: dict[str, list[ScraperRow]] = {}
    for row in rows:
        for key in row.keys:
            index.setdefault(key, []).append(row)
    return index


def row_for(index: Mapping[str, list[ScraperRow]], url: str) -> ScraperRow | None:
    """The row for a lead's URL: a successful one first, else the latest failed one; None when it was not tried."""
    key = url_key(url)
    found = index.get(key, []) if key is not None else []
    good = [r for r in found if r.ok]
    if good:
        return good[-1]
    return found[-1] if found else None
