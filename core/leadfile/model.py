"""The data shapes of a lead file import and export: limits, parsed table, leads, problems, preview, export rows."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from itertools import repeat
from typing import Any

FIELDS: tuple[str, ...] = ("linkedin_url", "company", "first_name", "last_name", "full_name", "email", "country")


FILE_TYPES: tuple[str, ...] = ("xlsx", "xlsm", "xlsb", "xls", "ods", "csv", "tsv", "txt")


@dataclass(frozen=True, slots=True)
class Limits:
    """How much of an uploaded file LeadRelay agrees to read.

    `parse_memory_mb` is the memory one import may take, the reader child and the caller together: the child
    gets five eighths as its address-space cap, and the cell text it may hand back is capped at one eighth, which
    bounds what the caller builds from it (the text, a string per row, the leads) to the rest."""

    max_bytes: int = 50 * 1024 * 1024
    max_rows: int = 200_000
    max_columns: int = 200
    parse_timeout_s: float = 60.0
    parse_memory_mb: int = 1024

    @property
    def reader_memory_mb(self) -> int:
        """The reader child's address-space cap in MiB."""
        return self.parse_memory_mb * 5 // 8

    @property
    def max_text_bytes(self) -> int:
        """The most cell text (UTF-8 bytes, separators included) the reader hands back from one file."""
        return self.parse_memory_mb * 2**20 // 8

    def sentence(self) -> str:
        """The limits as one sentence for the Upload page, before anything is uploaded."""
        size = f"{self.max_bytes / 2**20:,.1f}".rstrip("0").rstrip(".")
        return (
            f"Excel (.xlsx, .xlsm, .xlsb, .xls), OpenDocument (.ods) or CSV/TSV files up to {size} MB, with at most "
            f"{self.max_rows:,} rows and {self.max_columns:,} columns holding data (empty rows and columns do not "
            f"count) and at most {self.max_text_bytes / 2**20:,.0f} MB of cell text; reading a file may take at "
            f"most {self.parse_timeout_s:g} seconds."
        )


@dataclass(frozen=True, slots=True)
class LeadRow:
    """One good lead: its normalised profile URL, the mapped fields and every original cell (a mapping by column)."""

    row_number: int
    linkedin_url: str
    company: str
    first_name: str | None
    last_name: str | None
    full_name: str | None
    email: str | None
    country: str | None
    values: Mapping[str, str]


_LEAD_SLOTS = tuple(getattr(LeadRow, f.name).__set__ for f in fields(LeadRow))


def build_lead_rows(count: int, *columns: Iterable[Any]) -> list[LeadRow]:
    """`count` leads from one iterable of at least `count` values per field, in field order, filled slot by slot
    (the frozen __init__ costs ten Python-level calls per lead, too many for 100,000 leads)."""
    if len(columns) != len(_LEAD_SLOTS):
        raise TypeError(f"LeadRow has {len(_LEAD_SLOTS)} fields, not {len(columns)}")
    leads = list(map(object.__new__, repeat(LeadRow, count)))
    for set_slot, column in zip(_LEAD_SLOTS, columns, strict=True):
        deque(map(set_slot, leads, column), maxlen=0)
    return leads


@dataclass(frozen=True, slots=True)
class Problem:
    """A row refused or flagged, with the column at fault and a reason an analyst understands."""

    row_number: int
    column: str
    reason: str


@dataclass(slots=True)
class ParsedFile:
    """The raw table of an uploaded file after its header row was found; every cell is text.

    `rows` is a sequence of cell lists (core.leadfile.rows.Rows: one string per row in memory);
    `formula_cells_without_value` counts .xlsx formula cells saved without a value, which read as empty."""

    file_name: str
    file_size: int
    content_hash: str
    sheet_names: list[str]
    sheet_name: str | None
    header_row_number: int
    columns: list[str]
    rows: Sequence[list[str]]
    row_numbers: list[int]
    formula_cells_without_value: int = 0


@dataclass(slots=True)
class ImportPreview:
    """A validated import: the good leads, the duplicates and the refused rows, before anything is stored."""

    parsed: ParsedFile
    mapping: dict[str, str | None]
    leads: list[LeadRow] = field(default_factory=list)
    duplicates: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Rows read, good leads, duplicates within the file and refused rows."""
        return {
            "rows": len(self.parsed.rows),
            "good": len(self.leads),
            "duplicates": len(self.duplicates),
            "problems": len(self.problems),
        }


@dataclass(slots=True)
class ExportRow:
    """One lead as exported: its original cells, the PhantomBuster profile (if any), its status and error."""

    values: Mapping[str, str]
    profile: dict[str, Any] | None
    status: str
    error: str | None
