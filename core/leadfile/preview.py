"""From a parsed table to an import preview: good leads, duplicates within the file, refused rows, and their report."""

from __future__ import annotations

import csv
import io

from core.leadfile.export import safe_cell
from core.leadfile.gcpause import paused_gc
from core.leadfile.mapping import checked_mapping, suggest_for
from core.leadfile.model import ImportPreview, LeadRow, Limits, ParsedFile, Problem
from core.leadfile.parse import parse_file
from core.leadfile.urls import classify_linkedin_url

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
    """Sort every row into leads, duplicates and problems (the hot loop of an import)."""
    url_i, company_i, first_i, last_i, full_i, email_i, country_i = at
    columns = parsed.columns
    leads, duplicates, problems = preview.leads, preview.duplicates, preview.problems
    seen: dict[str, int] = {}
    classify = classify_linkedin_url
    for number, row in zip(parsed.row_numbers, parsed.rows, strict=True):
        if url_i is None:
            problems.append(Problem(number, url_column, NO_URL_COLUMN))
            continue
        url, reason = classify(row[url_i])
        if url is None:
            problems.append(Problem(number, url_column, reason or "The LinkedIn profile URL is not valid."))
            continue
        first_row = seen.get(url)
        if first_row is not None:
            duplicates.append(Problem(number, url_column, f"Same LinkedIn profile as row {first_row}."))
            continue
        seen[url] = number
        leads.append(
            LeadRow(
                number,
                url,
                row[company_i].strip() if company_i is not None else "",
                (row[first_i].strip() or None) if first_i is not None else None,
                (row[last_i].strip() or None) if last_i is not None else None,
                (row[full_i].strip() or None) if full_i is not None else None,
                (row[email_i].strip() or None) if email_i is not None else None,
                (row[country_i].strip() or None) if country_i is not None else None,
                dict(zip(columns, row, strict=True)),
            )
        )


def prepare_import(
    data: bytes,
    file_name: str,
    limits: Limits = Limits(),
    sheet: str | None = None,
    mapping: dict[str, str | None] | None = None,
) -> ImportPreview:
    """Parse an uploaded file and validate its rows in one call."""
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
