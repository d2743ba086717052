"""Each agent's result files (named by `csvName`), as the Profile Scraper keeps them in PhantomBuster's storage."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sandbox.profiles import profile_slug

# The store script drops these characters and accents from csvName (lib-StoreUtilities `_filterName`).
_NAME_DROPS = re.compile(r"[%#+\\,|]+")
# Keys under which a row holds the URL it was made for: the input (profileUrl; older query, baseUrl) and the
# canonical one.
URL_KEYS = ("profileUrl", "linkedinProfileUrl", "query", "baseUrl")


def file_name(csv_name: Any) -> str:
    """The result file's base name: `csvName` filtered the way the store script does, "result" by default."""
    name = csv_name if isinstance(csv_name, str) and csv_name.strip() else "result"
    name = _NAME_DROPS.sub("", name)
    name = "".join(ch for ch in unicodedata.normalize("NFD", name) if not unicodedata.combining(ch))
    return name or "result"


def _key(url: str) -> str:
    slug = profile_slug(url)
    return f"in/{slug.lower()}" if slug else url.strip()


@dataclass(slots=True)
class ResultFile:
    """One result file pair (`<name>.csv` and `<name>.json`): every row written by every launch, in order."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    _done: set[str] = field(default_factory=set)

    def add(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.rows.append(row)
            for key in URL_KEYS:
                if isinstance(row.get(key), str):
                    self._done.add(_key(row[key]))

    def processed(self, url: str) -> bool:
        """True when a row for `url` (by input URL or by profile slug) is already in the file, failed or not."""
        return _key(url) in self._done

    def json_text(self) -> str:
        return json.dumps(self.rows, ensure_ascii=False)

    def csv_text(self) -> str:
        fields: list[str] = []
        for row in self.rows:
            fields.extend(k for k in row if k not in fields)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fields, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


class ResultStore:
    """Result files per agent and name; lives as long as the agents (a reset of the sandbox empties it)."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, str], ResultFile] = {}

    def get(self, agent_id: str, name: str) -> ResultFile:
        return self._files.setdefault((agent_id, name), ResultFile())

    def find(self, agent_id: str, name: str) -> ResultFile | None:
        return self._files.get((agent_id, name))

    def clear(self) -> None:
        self._files.clear()
