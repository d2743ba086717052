"""Downloads: a job's enriched leads as .xlsx or .csv (all, or the failed ones), and a file's recent results."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import job_store, read_models
from core.config import Settings
from core.leadfile import ExportRow, ImportPreview, export_leads
from core.models import Lead, LeadStatus, User, utcnow

MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}


def download_name(file_name: str, job_id: int, suffix: str, fmt: str) -> str:
    """A safe download file name derived from the uploaded one (never used as a path)."""
    stem = re.sub(r"[^\w\- ]+", "_", file_name.rsplit(".", 1)[0]).strip() or "leads"
    return f"{stem[:80]}-job{job_id}-{suffix}.{fmt}"


def job_export(
    session: Session, user: User, job_id: int, fmt: Literal["xlsx", "csv"], *, failed_only: bool = False
) -> tuple[str, bytes]:
    """The file name and bytes of a job's export; NotFound for a job the user may not see."""
    job, leads = read_models.job_leads_for_export(session, user, job_id, failed_only=failed_only)
    columns = list(job.columns or [])
    stored = job_store.input_values(
        session, job.id
    )  # None for jobs stored before migration 0006: values in leads.input

    def values(lead: Any) -> Mapping[str, str]:
        if stored is None:
            return lead.input or {}
        cells = stored.get(lead.row_number)
        return dict(zip(columns, cells, strict=False)) if cells is not None else {}

    rows = (
        ExportRow(values=values(lead), profile=lead.profile, status=lead.status, error=_note(lead)) for lead in leads
    )
    data = export_leads(columns, rows, fmt)
    return download_name(job.file_name, job.id, "failed" if failed_only else "enriched", fmt), data


def _note(lead: Any) -> str | None:
    """The status column's words: the reason of a failure, or where a reused profile came from (a date only)."""
    if lead.status == LeadStatus.REUSED and lead.enriched_at is not None:
        return f"Reused from an enrichment on {lead.enriched_at:%Y-%m-%d}"
    return lead.error


def recent_results(
    session: Session, settings: Settings, preview: ImportPreview, fmt: Literal["xlsx", "csv"]
) -> tuple[str, bytes]:
    """A file's leads with the profiles anyone enriched recently (for a file that needed nothing sent)."""
    since = utcnow() - timedelta(days=settings.recently_enriched_days)
    urls = list(dict.fromkeys(lead.linkedin_url for lead in preview.leads))
    found: dict[str, tuple[dict, Any]] = {}
    for start in range(0, len(urls), job_store.URL_CHUNK):
        chunk = urls[start : start + job_store.URL_CHUNK]
        stmt = (
            select(Lead.linkedin_url, Lead.profile, Lead.enriched_at)
            .where(Lead.linkedin_url.in_(chunk), Lead.status == LeadStatus.SUCCESS, Lead.enriched_at >= since)
            .order_by(Lead.enriched_at)
        )
        found.update((url, (profile, at)) for url, profile, at in session.execute(stmt))  # the newest wins
    rows = []
    for lead in preview.leads:
        profile, at = found.get(lead.linkedin_url, (None, None))
        status, note = (LeadStatus.REUSED, f"Reused from an enrichment on {at:%Y-%m-%d}") if at else ("not sent", None)
        rows.append(ExportRow(values=lead.values, profile=profile, status=status, error=note))
    name = preview.parsed.file_name
    return download_name(name, 0, "results", fmt).replace("-job0", ""), export_leads(
        list(preview.parsed.columns), rows, fmt
    )


# The download's help: why a .csv cell may start with an apostrophe, and an .xlsx cell never does.
CSV_HELP = (
    "A .csv cell that starts with = + - @ gets a leading ' so that no spreadsheet runs it as a formula; "
    "the .xlsx download keeps every cell exactly as text."
)
