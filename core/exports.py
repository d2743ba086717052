"""Downloads: a job's enriched leads as .xlsx or .csv, all of them or the failed ones only."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy.orm import Session

from core import job_store, read_models
from core.leadfile import ExportRow, export_leads
from core.models import User

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
        ExportRow(values=values(lead), profile=lead.profile, status=lead.status, error=lead.error) for lead in leads
    )
    data = export_leads(columns, rows, fmt)
    return download_name(job.file_name, job.id, "failed" if failed_only else "enriched", fmt), data
