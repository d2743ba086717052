"""From a parsed table to an import preview: good leads, duplicates within the file, refused rows, and their report."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import itemgetter

from core.leadfile.export import safe_cell
from core.leadfile.gcpause import paused_gc
from core.leadfile.mapping import checked_mapping, suggest_for
from core.leadfile.model import ImportPreview, LeadRow, Limits, ParsedFile, Problem, build_lead_rows
from core.leadfile.parse import parse_file
from core.leadfile.rows import Rows, RowValues
from core.leadfile.urls import CANONICAL_URL, classify_linkedin_url

NO_URL_COLUMN = "No column is mapped to the LinkedIn profile URL, so this row cannot be sent."


def build_preview(parsed: ParsedFile, mapping: dict[str, str | None] | None = None) -> ImportPreview:
    """Validate every row with `mapping` (the suggested one when None): one lead per profile, reasons for the rest."""
    mapping = suggest_for(parsed) if mapping is None else checked_mapping(parsed, mapping)
    columns = parsed.columns
    index = {column: i for i, column in enumerate(columns)}

    def at(field: str) -> int | None:
        column = mapping.get(field)
        return None if column is None else index[column]

    url_i, company_i, first_i, last_i, full_i, email_i, country_i = (
        at(f) for f in ("linkedin_url", "company", "first_name", "last_name", "full_name", "email", "country")
    )
    url_column = mapping.get("linkedin_url") or ""
    preview = ImportPreview(parsed=parsed, mapping=mapping)
    with paused_gc():
        _validate(parsed, preview, url_column, (url_i, company_i, first_i, last_i, full_i, email_i, country_i))
    return preview


def _validate(parsed: ParsedFile, preview: ImportPreview, url_column: str, at: tuple[int | None, ...]) -> None:
    """Sort every row into leads, duplicates and problems (the hot loop of an import), a block of rows at a time:
    only the mapped fields are taken out of a row, the rest stays in the row's one string (RowValues)."""
    url_i = at[0]
    problems, duplicates = preview.problems, preview.duplicates
    if url_i is None:
        problems.extend([Problem(number, url_column, NO_URL_COLUMN) for number in parsed.row_numbers])
        return
    rows = parsed.rows if isinstance(parsed.rows, Rows) else Rows.of(parsed.rows)
    if rows.names != parsed.columns:
        rows = rows.reshaped(rows.width, None, list(parsed.columns))
    seen: dict[str, int] = {}
    canonical, classify = CANONICAL_URL.fullmatch, classify_linkedin_url
    numbers: list[int] = []
    urls: list[str] = []
    indexes: list[int] = []
    fields: list[list[str | None]] = [[] for _ in at[1:]]
    all_numbers = parsed.row_numbers
    company_i, *optional = at[1:]
    step = rows.block_rows()
    for start in range(0, len(rows), step):
        block = rows.block(start, start + step)
        block_numbers = all_numbers[start : start + len(block)]
        found_urls = list(map(itemgetter(url_i), block))
        matches = list(map(canonical, found_urls))  # C calls; only the other spellings get a look of their own
        kept: Sequence[int] = range(len(block))
        if not all(matches):
            for j in [j for j, m in enumerate(matches) if m is None]:
                found, reason = classify(found_urls[j])
                if found is None:
                    problems.append(
                        Problem(block_numbers[j], url_column, reason or "The LinkedIn profile URL is not valid.")
                    )
                found_urls[j] = found  # type: ignore[call-overload]
            kept = [j for j in kept if found_urls[j] is not None]
        candidates = [found_urls[j] for j in kept] if len(kept) != len(block) else found_urls
        fresh = set(candidates)
        if len(fresh) == len(candidates) and seen.keys().isdisjoint(fresh):
            # no URL twice (nearly every block of a clean file): all of them are leads, in C calls
            kept_numbers = [block_numbers[j] for j in kept] if len(kept) != len(block) else block_numbers
            seen.update(zip(candidates, kept_numbers, strict=True))
            numbers.extend(kept_numbers)
            urls.extend(candidates)
            indexes.extend([start + j for j in kept])
            good = [block[j] for j in kept] if len(kept) != len(block) else block
        else:
            good = []
            for j in kept:
                number, url = block_numbers[j], found_urls[j]
                first_row = seen.get(url)
                if first_row is not None:
                    duplicates.append(Problem(number, url_column, f"Same LinkedIn profile as row {first_row}."))
                    continue
                seen[url] = number
                numbers.append(number)
                urls.append(url)
                indexes.append(start + j)
                good.append(block[j])
        if company_i is not None:
            fields[0].extend(map(str.strip, map(itemgetter(company_i), good)))
        for values, i in zip(fields[1:], optional, strict=True):
            if i is not None:
                stripped = list(map(str.strip, map(itemgetter(i), good)))
                values.extend([v or None for v in stripped] if "" in stripped else stripped)
    for values in fields:  # a NUL stays in the original cells, not in the fields stored in their own columns:
        if "\x00" in "".join(filter(None, values)):  # PostgreSQL cannot store it, and no name holds it
            values[:] = [v.replace("\x00", "") if v else v for v in values]
    preview.leads.extend(_leads(rows, numbers, urls, indexes, fields, at[1:]))


def _leads(
    rows: Rows,
    numbers: list[int],
    urls: list[str],
    indexes: list[int],
    fields: list[list[str | None]],
    at: tuple[int | None, ...],
) -> list[LeadRow]:
    """The good rows as leads, built field by field: one comprehension per field instead of a call per lead."""

    companies: Iterable[str | None] = repeat("") if at[0] is None else fields[0]
    optional_fields = [repeat(None) if i is None else values for values, i in zip(fields[1:], at[1:], strict=True)]
    values = RowValues.many(rows, indexes)
    return build_lead_rows(len(numbers), numbers, urls, companies, *optional_fields, values)


def prepare_import(
    data: bytes,
    file_name: str,
    limits: Limits = Limits(),
    sheet: str | None = None,
    mapping: dict[str, str | None] | None = None,
) -> ImportPreview:
    """Parse an uploaded file and validate its rows in one call."""
    with paused_gc():  # one pause over both steps: the collector would rescan every row in between
        return build_preview(parse_file(data, file_name, limits, sheet=sheet), mapping)


def report_csv(preview: ImportPreview) -> bytes:
    """The validation report as CSV (UTF-8 with BOM for Excel): row, column, reason, kind, in row order."""
    issues = [(p, "problem") for p in preview.problems] + [(d, "duplicate") for d in preview.duplicates]
    issues.sort(key=lambda item: item[0].row_number)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["row", "column", "reason", "kind"])
    for issue, kind in issues:
        writer.writerow([issue.row_number, safe_cell(issue.column), safe_cell(issue.reason), kind])
    return out.getvalue().encode("utf-8-sig")
