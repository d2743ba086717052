"""Logging setup for the entry points, with a filter that masks secrets in every record."""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(r"(secret|key|token)=([^&\s\"']+)", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    """Replaces `secret=`, `key=` and `token=` values in log messages with `***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRET_QUERY.search(message):
            record.msg = _SECRET_QUERY.sub(r"\1=***", message)
            record.args = None
        return True


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr with timestamps; secrets in query strings are masked."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
