"""Which column holds which lead field: known names in many languages, loose names, and a LinkedIn column found by its values."""

from __future__ import annotations

from core.errors import InvalidInput
from core.leadfile.headers import KEY_TO_FIELD, header_key, looks_like_profile_url
from core.leadfile.model import FIELDS, ParsedFile

# Loose rules for names no synonym covers, tried in this order: (field, words one of which the name must contain,
# words it must not contain).
LOOSE_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("linkedin_url", ("linkedin",), ("company", "firma", "organi", "account", "employer", "entreprise", "empresa")),
    ("email", ("email", "epost", "courriel"), ("status", "valid", "verif", "score", "confidence")),
    ("first_name", ("firstname", "givenname", "vorname", "prenom", "fornavn"), ()),
    ("last_name", ("lastname", "surname", "familyname", "nachname", "etternavn"), ()),
    (
        "company",
        ("company", "organisation", "organization", "employer", "firma"),
        ("url", "linkedin", "domain", "size", "web", "site", "phone", "address", "adresse"),
    ),
    ("country", ("country",), ("code",)),
    ("full_name", ("fullname", "contactname", "personname"), ()),
)
SAMPLE_VALUES = 200


def suggest_mapping(columns: list[str]) -> dict[str, str | None]:
    """Field -> column for the columns whose names say what they hold; None for fields not found."""
    mapping: dict[str, str | None] = dict.fromkeys(FIELDS)
    used: set[str] = set()
    keys = [(column, header_key(column)) for column in columns]
    for column, key in keys:
        field = KEY_TO_FIELD.get(key)
        if field and mapping[field] is None and column not in used:
            mapping[field] = column
            used.add(column)
    for field, wanted, unwanted in LOOSE_RULES:
        if mapping[field] is not None:
            continue
        for column, key in keys:
            if column in used or not any(w in key for w in wanted) or any(u in key for u in unwanted):
                continue
            mapping[field] = column
            used.add(column)
            break
    return mapping


def profile_url_column(parsed: ParsedFile, exclude: set[str]) -> str | None:
    """The column whose values are mostly LinkedIn profile links, for files whose header does not say it."""
    best, best_share = None, 0.5
    for index, column in enumerate(parsed.columns):
        if column in exclude:
            continue
        values = [row[index] for row in parsed.rows[: SAMPLE_VALUES * 5] if row[index].strip()][:SAMPLE_VALUES]
        if not values:
            continue
        share = sum(looks_like_profile_url(v) for v in values) / len(values)
        if share > best_share:
            best, best_share = column, share
    return best


def suggest_for(parsed: ParsedFile) -> dict[str, str | None]:
    """The suggested mapping of a parsed file: by column names, then the LinkedIn column by its values."""
    mapping = suggest_mapping(parsed.columns)
    if mapping["linkedin_url"] is None:
        used = {c for c in mapping.values() if c}
        mapping["linkedin_url"] = profile_url_column(parsed, used)
        if mapping["linkedin_url"] is None and used:
            mapping["linkedin_url"] = profile_url_column(parsed, set())
            if mapping["linkedin_url"] is not None:
                for field, column in mapping.items():
                    if field != "linkedin_url" and column == mapping["linkedin_url"]:
                        mapping[field] = None
    return mapping


def checked_mapping(parsed: ParsedFile, mapping: dict[str, str | None]) -> dict[str, str | None]:
    """A mapping chosen by a person, checked against the file's columns; missing fields become None."""
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown lead field(s) in the column mapping: {', '.join(unknown)}.")
    columns = set(parsed.columns)
    result: dict[str, str | None] = {}
    for field in FIELDS:
        column = mapping.get(field) or None
        if column is not None and column not in columns:
            raise InvalidInput(f"The column “{column}” chosen for {field.replace('_', ' ')} is not in this file.")
        result[field] = column
    return result
