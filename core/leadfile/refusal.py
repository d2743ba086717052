"""The reason the reader child stops reading a file, sent to the parent as a code and details (standard library only)."""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    """A reason to stop reading, sent to the parent as a code and details."""

    def __init__(self, code: str, **details: Any) -> None:
        super().__init__(code)
        self.code = code
        self.details = details
