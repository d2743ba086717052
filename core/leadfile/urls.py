"""LinkedIn profile URLs made canonical, so the same person is one lead, and a clear reason for any other link."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote, urlsplit

CANONICAL = "https://www.linkedin.com/in/"
# An already canonical profile URL, the usual case: a single C-level match keeps it as it is.
CANONICAL_URL = re.compile(r"https://www\.linkedin\.com/in/[a-z0-9_-]{1,100}")
# The common case, already nearly canonical: checked first because it is 10x cheaper than a full parse.
_FAST = re.compile(
    r"(?:https?://)?(?:[a-z]{2,3}\.|www\.)?linkedin\.com/in/([a-z0-9_-]{1,100})/?",
    re.IGNORECASE,
)
# The usual shape of any other profile link: a linkedin.com host, /in/<slug>, then anything after the slug.
_COMMON = re.compile(
    r"(?:https?://)?(?:[a-z0-9-]{1,20}\.)?linkedin\.com/in/([^/?#\s]+)(?:/[^?#]*)?(?:[?#].*)?",
    re.IGNORECASE | re.DOTALL,
)
_ASCII_SLUG = re.compile(r"[A-Za-z0-9_-]{1,100}")
_BAD_SLUG_CHARS = re.compile(r"[\s/?#]")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_SLUG_SAFE = "-_.~"

NOT_LINKEDIN = "This is not a LinkedIn profile URL (expected https://www.linkedin.com/in/…)."
SALES_NAVIGATOR = (
    "This is a Sales Navigator link; open the lead in LinkedIn and copy the public profile URL (linkedin.com/in/…)."
)
COMPANY_PAGE = "This is a LinkedIn company page, not a person's profile."
OLD_PUBLIC = "This is an old /pub/ profile link; open it and copy the current profile URL (linkedin.com/in/…)."
SHORT_LINK = "This is a shortened lnkd.in link; open it and copy the full profile URL (linkedin.com/in/…)."
NOT_PROFILE = "This LinkedIn link is not a person's profile (expected linkedin.com/in/…)."
BAD_SLUG = "This LinkedIn profile URL has no valid profile name after /in/."


def classify_linkedin_url(text: str) -> tuple[str | None, str | None]:
    """(canonical profile URL, None) for a profile link, else (None, the reason an analyst reads)."""
    if CANONICAL_URL.fullmatch(text):
        return text, None
    text = text.strip().strip("<>\"'").strip()
    if not text:
        return None, "The LinkedIn profile URL is missing."
    fast = _FAST.fullmatch(text)
    if fast:
        return CANONICAL + fast.group(1).lower(), None
    common = _COMMON.fullmatch(text)
    if common:
        slug = _slug(common.group(1))
        return (CANONICAL + slug, None) if slug else (None, BAD_SLUG)
    candidate = text if _SCHEME.match(text) else "https://" + text.lstrip("/")
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return None, NOT_LINKEDIN
    if parts.scheme.lower() not in ("http", "https") or " " in host:
        return None, NOT_LINKEDIN
    if host == "lnkd.in":
        return None, SHORT_LINK
    if host != "linkedin.com" and not host.endswith(".linkedin.com"):
        return None, NOT_LINKEDIN
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[0].lower() in ("mwlite", "m"):
        segments = segments[1:]
    head = segments[0].lower() if segments else ""
    if head == "in" and len(segments) >= 2:
        slug = _slug(segments[1])
        return (CANONICAL + slug, None) if slug else (None, BAD_SLUG)
    if head == "sales" or host.startswith("sales."):
        return None, SALES_NAVIGATOR
    if head in ("company", "showcase", "school"):
        return None, COMPANY_PAGE
    if head == "pub":
        return None, OLD_PUBLIC
    return None, NOT_PROFILE


def _slug(raw: str) -> str | None:
    """The profile name percent-decoded, lower-cased, NFC-normalised and re-encoded one way."""
    if _ASCII_SLUG.fullmatch(raw):
        return raw.lower()
    try:
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None
    decoded = unicodedata.normalize("NFC", decoded).strip().lower()
    if not decoded or decoded in (".", "..") or _BAD_SLUG_CHARS.search(decoded):
        return None
    return quote(decoded, safe=_SLUG_SAFE)


def normalize_linkedin_url(text: str) -> str | None:
    """The canonical https://www.linkedin.com/in/<slug> form of a profile URL; None when it is not one."""
    return classify_linkedin_url(text)[0]
