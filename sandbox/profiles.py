"""Deterministic, plausible fake LinkedIn Profile Scraper results derived from the input profile URL."""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from typing import Any
from urllib.parse import quote, unquote, urlsplit

FIRST_NAMES = ["Alex", "Camille", "Sam", "Priya", "Lucas", "Maria", "Noah", "Chloé", "Omar", "Hannah", "Kenji", "Zoe"]
LAST_NAMES = ["Martin", "Nguyen", "Schmidt", "Garcia", "Okafor", "Rossi", "Dubois", "Kowalski", "Silva", "Jensen"]
JOB_TITLES = [
    "Head of Growth",
    "Senior Software Engineer",
    "VP of Sales",
    "Product Manager",
    "Data Scientist",
    "Marketing Director",
    "Chief Technology Officer",
    "Account Executive",
    "Operations Manager",
    "HR Business Partner",
    "Founder & CEO",
    "UX Designer",
    "Customer Success Lead",
    "Financial Analyst",
    "Talent Acquisition Specialist",
    "Business Development Manager",
]
# (name, industry, email domain, LinkedIn company slug); all fictional.
COMPANIES = [
    ("Northwind Analytics", "IT Services and IT Consulting", "northwind-analytics.example", "northwind-analytics"),
    ("Bluepeak Software", "Software Development", "bluepeak.example", "bluepeak-software"),
    ("Verdant Health", "Hospitals and Health Care", "verdanthealth.example", "verdant-health"),
    ("Lumen Labs", "Research Services", "lumenlabs.example", "lumen-labs"),
    ("Harbor & Finch", "Financial Services", "harborfinch.example", "harbor-and-finch"),
    ("Quantix Systems", "Computer Hardware Manufacturing", "quantix.example", "quantix-systems"),
    ("Cobalt Ridge Capital", "Venture Capital and Private Equity", "cobaltridge.example", "cobalt-ridge-capital"),
    ("Brightline Retail", "Retail", "brightline.example", "brightline-retail"),
    ("Orchard Bio", "Biotechnology Research", "orchardbio.example", "orchard-bio"),
    ("Meridian Consulting", "Business Consulting and Services", "meridian-consulting.example", "meridian-consulting"),
    ("Atlas Robotics", "Automation Machinery Manufacturing", "atlasrobotics.example", "atlas-robotics"),
    ("Sundial Media", "Online Audio and Video Media", "sundialmedia.example", "sundial-media"),
    ("Tidewater Energy", "Renewable Energy Power Generation", "tidewater.example", "tidewater-energy"),
    ("Fernwood Learning", "E-Learning Providers", "fernwood.example", "fernwood-learning"),
]
LOCATIONS = [
    "Paris, Île-de-France, France",
    "London, England, United Kingdom",
    "San Francisco Bay Area",
    "New York, New York, United States",
    "Berlin, Berlin, Germany",
    "Toronto, Ontario, Canada",
    "Austin, Texas, United States",
    "Amsterdam, North Holland, Netherlands",
    "Lyon, Auvergne-Rhône-Alpes, France",
    "Madrid, Community of Madrid, Spain",
    "Sydney, New South Wales, Australia",
    "Dublin, County Dublin, Ireland",
]
SCHOOLS = [
    ("HEC Paris", "Master of Business Administration - MBA"),
    ("University of Cambridge", "Bachelor of Arts - BA"),
    ("Stanford University", "Master of Science - MS"),
    ("ETH Zürich", "Master of Science - MS"),
    ("McGill University", "Bachelor of Commerce - BCom"),
    ("Sciences Po", "Master's degree"),
    ("University of Texas at Austin", "Bachelor of Science - BS"),
    ("Trinity College Dublin", "Bachelor of Arts - BA"),
    ("Technical University of Munich", "Master of Engineering - MEng"),
]
SKILLS = [
    "Python",
    "SQL",
    "Leadership",
    "Negotiation",
    "Product Strategy",
    "Public Speaking",
    "Machine Learning",
    "Salesforce",
    "B2B Sales",
    "Recruiting",
    "Financial Modeling",
    "Project Management",
    "UX Research",
    "Go-to-Market Strategy",
    "Data Analysis",
    "Team Building",
    "Cloud Computing",
    "Content Marketing",
]
TAGLINES = [
    "Helping teams ship faster",
    "Building great products",
    "Passionate about people",
    "Data-driven",
    "Always learning",
    "Scaling B2B SaaS",
]

_PROFILE_PATH = re.compile(r"^/(?:in|pub)/([^/?#]+)")


def profile_slug(url: str) -> str | None:
    """The `/in/<slug>` part of a LinkedIn profile URL, decoded, or None when the URL is not one."""
    try:
        parts = urlsplit(url.strip() if "://" in url else "https://" + url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not (host == "linkedin.com" or host.endswith(".linkedin.com")):
        return None
    match = _PROFILE_PATH.match(parts.path)
    return unquote(match.group(1)) if match else None


def is_profile_url(value: Any) -> bool:
    """True for a string that is a LinkedIn profile URL."""
    return isinstance(value, str) and profile_slug(value) is not None


def _rng(url: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(url.encode("utf-8")).digest()[:8], "big"))


def _names(slug: str, rng: random.Random) -> tuple[str, str]:
    tokens = [t for t in re.split(r"[-_.\s]+", slug) if t.isalpha() and len(t) <= 20]
    first = tokens[0].capitalize() if tokens else rng.choice(FIRST_NAMES)
    last = " ".join(t.capitalize() for t in tokens[1:]) if len(tokens) > 1 else rng.choice(LAST_NAMES)
    return first, last


def canonical_url(url: str) -> str | None:
    """The profile's canonical URL as the phantom reports it: https://linkedin.com/in/<vanity>, no www.

    A member-id URL (/in/ACwAA...) is what LinkedIn redirects to the member's vanity name, so its canonical URL
    differs from the input; a vanity URL keeps its name, lower-cased.
    """
    slug = profile_slug(url)
    if slug is None:
        return None
    if slug.startswith("ACwAA"):
        first, last = _names("", _rng(url))
        vanity = f"{first}-{last}-{hashlib.sha256(url.encode()).hexdigest()[:7]}".lower().replace(" ", "-")
    else:
        vanity = slug.lower()
    return "https://linkedin.com/in/" + quote(unicodedata.normalize("NFC", vanity), safe="-_.~")


def _with_input(row: dict[str, Any], url: str, timestamp: str, legacy: bool) -> dict[str, Any]:
    # Current outputs carry the input as profileUrl and no query/timestamp (rows seen from live accounts, 2025);
    # older outputs carry query (and baseUrl in the CSV) plus a timestamp.
    row["profileUrl"] = url
    if legacy:
        row["query"] = url
        row["baseUrl"] = url
        row["timestamp"] = timestamp
    return row


def error_row(url: str, error: str, timestamp: str, *, legacy: bool = False) -> dict[str, Any]:
    """A failed URL's row: the input URL and an `error` instead of profile data."""
    return _with_input({"error": error}, url, timestamp, legacy)


def make_profile(url: str, timestamp: str, *, counts_as_strings: bool = True, legacy: bool = False) -> dict[str, Any]:
    """One result row for `url`; the same URL always gives the same person (an error row when not a profile)."""
    slug = profile_slug(url)
    canonical = canonical_url(url)
    if slug is None or canonical is None:
        return error_row(url, "Not a LinkedIn profile URL.", timestamp, legacy=legacy)
    rng = _rng(url)
    first, last = _names(slug, rng)
    title = rng.choice(JOB_TITLES)
    company, industry, domain, company_slug = rng.choice(COMPANIES)
    previous = rng.choice([c for c in COMPANIES if c[0] != company])
    location = rng.choice(LOCATIONS)
    school, degree = rng.choice(SCHOOLS)
    skills = rng.sample(SKILLS, rng.randint(3, 6))
    start_year = rng.randint(2012, 2024)
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
    ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode().lower()
    email_local = re.sub(r"[^a-z.]", "", ascii_name)
    followers, connections = rng.randint(50, 25_000), rng.randint(30, 500)
    row: dict[str, Any] = {
        "linkedinProfileUrl": canonical,
        "firstName": first,
        "lastName": last,
        "fullName": f"{first} {last}",
        "linkedinHeadline": f"{title} at {company} | {rng.choice(TAGLINES)}",
        "linkedinDescription": f"{title} with {rng.randint(3, 20)} years of experience in {industry.lower()}.",
        "location": location,
        "linkedinJobTitle": title,
        "linkedinJobDescription": f"Leading {rng.choice(skills).lower()} initiatives at {company}.",
        "linkedinJobDateRange": f"{start_year} - Present",
        "linkedinJobLocation": location,
        "companyName": company,
        "linkedinCompanyUrl": f"https://www.linkedin.com/company/{company_slug}/",
        "companyIndustry": industry,
        "linkedinPreviousJobTitle": rng.choice(JOB_TITLES),
        "previousCompanyName": previous[0],
        "linkedinSchoolName": school,
        "linkedinSchoolDegree": degree,
        "linkedinSkillsLabel": ", ".join(skills),
        # Counts arrive as strings ("512") from the live phantom.
        "linkedinFollowersCount": str(followers) if counts_as_strings else followers,
        "linkedinConnectionsCount": str(connections) if counts_as_strings else connections,
        "linkedinProfileImageUrl": f"https://media.licdn.com/dms/image/sandbox/{digest[:24]}/profile.jpg",
        "professionalEmail": f"{email_local}@{domain}" if rng.random() < 0.7 and email_local else "",
    }
    return _with_input(row, url, timestamp, legacy)
