"""Lead files in and out: parse uploads safely, map columns, validate LinkedIn URLs, and export enriched leads."""

from __future__ import annotations

from core.leadfile.export import export_leads
from core.leadfile.mapping import suggest_mapping
from core.leadfile.model import FILE_TYPES, ExportRow, ImportPreview, LeadRow, Limits, ParsedFile, Problem
from core.leadfile.parse import parse_file
from core.leadfile.preview import build_preview, prepare_import, report_csv
from core.leadfile.urls import normalize_linkedin_url

__all__ = [
    "FILE_TYPES",
    "ExportRow",
    "ImportPreview",
    "LeadRow",
    "Limits",
    "ParsedFile",
    "Problem",
    "build_preview",
    "export_leads",
    "normalize_linkedin_url",
    "parse_file",
    "prepare_import",
    "report_csv",
    "suggest_mapping",
]
