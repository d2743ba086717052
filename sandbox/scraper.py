"""The LinkedIn Profile Scraper's own rules, as its store script runs them: input, skipping, rows, console lines."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox.profiles import error_row, is_profile_url, make_profile, profile_slug

# lib-StoreUtilities ERROR_CODES.
BAD_INPUT, NO_INPUT = 76, 78
SESSION_CODES = (83, 84, 85, 87)
# Console lines of the session failures (lib-LinkedIn `login`; 87's wording as seen on live accounts, 2026).
SESSION_LINES = {
    83: ["❌ Can't connect to LinkedIn with this session cookie."],
    84: ["❌ Session cookie not valid anymore. Please log in to LinkedIn to get a new one."],
    85: ["⚠️ Cookie is correct but LinkedIn is asking for a mail verification."],
    87: ["❌ No valid credentials found"],
}
NO_CREDENTIALS_LINE = "❌ Invalid LinkedIn session cookie. Did you specify one?"
NOTHING_TO_DO = "⚠️ Input spreadsheet is empty OR we already scraped all the profiles from this spreadsheet."
STOP_LINES = {
    "time": "⚠️ Scraping stopped: Less than 30 seconds left. You can check your execution time at "
    "https://phantombuster.com/usage",
    "disconnected": "⚠️ Disconnected from LinkedIn, exiting...",
}
NOT_FOUND = "No Linkedin profile found for {slug}"
PRIVATE = "This profile is private or unavailable (out of your network)"
TRANSIENT = "Page load timed out (net::ERR_TIMED_OUT), try again later"
# The sandbox's stand-in for LinkedIn limiting the account (the real text is not documented).
RATE_LIMITED = "Too many requests: LinkedIn is limiting this account, try again in a few hours"
_TAG = re.compile(r"<([^>]+)>")


class InputError(Exception):
    """The launch's input cannot be read; `exit_code` and the console line are what the phantom ends with."""

    def __init__(self, line: str, exit_code: int = 1) -> None:
        super().__init__(line)
        self.line, self.exit_code = line, exit_code


@dataclass(frozen=True, slots=True)
class Input:
    """Where a launch's URLs come from: one profile URL, or a spreadsheet to download."""

    single_profile: str | None = None
    sheet_url: str | None = None


def read_input(argument: dict[str, Any]) -> Input:
    """`spreadsheetUrl` only: a profile URL, else a CSV/sheet URL. `profileUrls` is not an input of this phantom."""
    value = argument.get("spreadsheetUrl")
    if not isinstance(value, str) or not value.strip():
        raise InputError("❌ You didn't enter any input spreadsheet!", NO_INPUT)
    value = value.strip()
    if is_profile_url(value):
        return Input(single_profile=value)
    if "linkedin.com/sales/search/" in value or "linkedin.com/search/results/" in value:
        raise InputError(
            "❌ Input is a Search URL and not a Spreadsheet or Profile URL. Please use our Search Export API to "
            "extract results from that URL.",
            BAD_INPUT,
        )
    try:
        scheme = urlsplit(value).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        raise InputError(f"❌ Unsupported protocol {scheme}:" if scheme else f"❌ {value} is not a valid URL.")
    return Input(sheet_url=value)


def sheet_urls(url: str, text: str, column_name: Any) -> tuple[list[str], list[str]]:
    """The URLs of a downloaded CSV and the console lines the phantom prints (getDataFromCsv2's rules).

    With a `columnName` found in the header row, that column below the header; without one (or not found), the
    first column, header included, as the store script does.
    """
    head = text.lstrip()[:200].lower()
    if head.startswith("<!doctype html>") or _TAG.search(head):
        raise InputError(f"❌ {url} doesn't represent a CSV file")
    if not text.strip():
        raise InputError("❌ Input spreadsheet is empty!")
    try:
        data = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        raise InputError(f"❌ {url} doesn't represent a CSV file") from None
    lines: list[str] = []
    column = 0
    if isinstance(column_name, str) and column_name:
        header = data[0] if data else []
        if column_name in header:
            column = header.index(column_name)
            data = data[1:]
        else:
            lines.append(
                f"⚠️ The Column Name is set to '{column_name}' but there's no column named '{column_name}' in your "
                "input spreadsheet. Using first column instead."
            )
    urls = [row[column].strip() for row in data if len(row) > column and row[column].strip()]
    lines.append(f"✅ Got {len(urls)} lines from csv.")
    return urls, lines


def per_launch_cap(argument: dict[str, Any], default: int) -> int:
    """`numberOfAddsPerLaunch` when it is a positive number, else the phantom's default (100)."""
    cap = argument.get("numberOfAddsPerLaunch")
    if isinstance(cap, str) and cap.strip().isdigit():
        cap = int(cap)
    if isinstance(cap, int | float) and not isinstance(cap, bool) and cap >= 1:
        return int(cap)
    return default


def unique(urls: list[str]) -> list[str]:
    """Duplicates dropped, first occurrence kept (the script's `getUrlsToScrape`)."""
    seen: set[str] = set()
    return [u for u in urls if not (u in seen or seen.add(u))]


def has_credentials(argument: dict[str, Any]) -> bool:
    """A session cookie, or an identity (the current agents' `identities: [{identityId}]`)."""
    cookie = argument.get("sessionCookie")
    if isinstance(cookie, str) and cookie.strip():
        return True
    identities = argument.get("identities")
    return isinstance(identities, list) and any(
        isinstance(i, dict) and (i.get("identityId") or i.get("sessionCookie")) for i in identities
    )


def scrape(url: str, stamp: str, f: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], list[str]]:
    """One URL's row and console lines; missing/private/flaky slugs are deterministic when the markers are on."""
    legacy = f["row_keys"] == "legacy"
    lines = [f"🔄 Opening page {url}"]
    slug = profile_slug(url)
    draws = (rng.random(), rng.random(), rng.random(), rng.random())
    if slug is None:
        lines.append(f"⚠️ Can't scrape the profile {url}: Not a LinkedIn profile URL.")
        return error_row(url, "Not a LinkedIn profile URL.", stamp, legacy=legacy), lines
    marked = slug.lower() if f["profile_markers"] else ""
    error = None
    if "missing" in marked or draws[0] < f["missing_profile_rate"]:
        error = NOT_FOUND.format(slug=slug)
        lines.append(f"⚠️ {error}")
    elif "private" in marked or draws[1] < f["private_profile_rate"]:
        error = PRIVATE
    elif "flaky" in marked or draws[2] < f["transient_error_rate"]:
        error = TRANSIENT
    elif draws[3] < f["rate_limited_rate"]:
        error = RATE_LIMITED
    if error is None:
        return make_profile(url, stamp, counts_as_strings=f["counts_as_strings"], legacy=legacy), lines
    if error != NOT_FOUND.format(slug=slug):
        lines.append(f"⚠️ Can't scrape the profile {url}: {error}")
    return error_row(url, error, stamp, legacy=legacy), lines


def urls_line(urls: list[str]) -> str:
    """The script's `URLs to scrape: [...]` line."""
    return f"URLs to scrape: {json.dumps(urls, indent=4)}"


def files_pointer(csv_url: str, json_url: str, csv_key: str) -> str:
    """The result object the script falls back to when the rows cannot be set: links to the result files."""
    return json.dumps({csv_key: csv_url, "jsonUrl": json_url})
