"""Following a `{csvUrl, jsonUrl}` result object to PhantomBuster's storage: allowed hosts, timeouts, a size cap."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.errors import PhantomBusterError
from core.scraper_rows import rows_from_csv

# Where PhantomBuster keeps agents' files: the console links phantombuster.s3.amazonaws.com, the store scripts
# read storage.phantombuster.com.
STORAGE_HOSTS = ("phantombuster.s3.amazonaws.com", "storage.phantombuster.com")
MAX_RESULT_FILE_BYTES = 20 * 1024 * 1024
# The store script writes `csvUrl` (saveResults); its flat variant `csvURL` (saveFlatResults, seen live in 2026).
CSV_KEYS = ("csvUrl", "csvURL")
_SECRET_HEADERS = ("X-Phantombuster-Key", "X-Phantombuster-Key-1", "X-Phantombuster-Org")


def file_links(value: Any) -> tuple[str | None, str | None] | None:
    """(jsonUrl, csvUrl) when a parsed result object is links to the result files instead of rows, else None."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, Mapping):
        return None
    json_url = value.get("jsonUrl")
    csv_url = next((value[k] for k in CSV_KEYS if isinstance(value.get(k), str)), None)
    json_url = json_url if isinstance(json_url, str) and json_url else None
    if json_url is None and not csv_url:
        return None
    # A profile row never carries these keys, so links are not mistaken for one row.
    return json_url, csv_url or None


def allowed(url: str, api_base: httpx.URL, hosts: Collection[str]) -> bool:
    """https on a storage host, or the API's own origin (the sandbox serves its result files itself)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host in {h.lower() for h in hosts}:
        return True
    try:
        port = parts.port
    except ValueError:
        return False
    origin = (api_base.scheme, (api_base.host or "").lower(), api_base.port)
    return (parts.scheme, host, port) == origin


def download(http: httpx.Client, url: str, *, max_bytes: int) -> bytes:
    """GET `url` with `http`'s timeouts, no API key and no redirects, reading at most `max_bytes`."""
    request = http.build_request("GET", url, headers={"Accept": "application/json, text/csv, */*"})
    for name in _SECRET_HEADERS:
        request.headers.pop(name, None)
    try:
        response = http.send(request, stream=True, follow_redirects=False)
    except httpx.TransportError as exc:
        raise PhantomBusterError(
            f"PhantomBuster's result file could not be downloaded ({type(exc).__name__}).",
            code="result_file_unreachable",
            retryable=True,
        ) from None
    try:
        if response.status_code != 200:
            raise PhantomBusterError(
                f"PhantomBuster's result file answered HTTP {response.status_code}.",
                code="result_file_http",
                status_code=response.status_code,
                retryable=response.status_code >= 500,
            )
        body = bytearray()
        for chunk in response.iter_bytes():
            body.extend(chunk)
            if len(body) > max_bytes:
                raise PhantomBusterError(
                    f"PhantomBuster's result file is bigger than {max_bytes // (1024 * 1024)} MB; nothing was read.",
                    code="result_file_too_big",
                )
        return bytes(body)
    finally:
        response.close()


def fetch_rows(
    http: httpx.Client,
    links: tuple[str | None, str | None],
    *,
    hosts: Collection[str] = STORAGE_HOSTS,
    max_bytes: int = MAX_RESULT_FILE_BYTES,
) -> list[dict[str, Any]]:
    """The rows of the result file the links point at: the JSON file, else the CSV file."""
    json_url, csv_url = links
    url = json_url or csv_url
    assert url is not None
    if not allowed(url, http.base_url, hosts):
        host = urlsplit(url).hostname or url[:60]
        raise PhantomBusterError(
            f"The result points at {host}, which is not PhantomBuster's storage; it was not downloaded.",
            code="result_file_host",
        )
    raw = download(http, url, max_bytes=max_bytes)
    text = raw.decode("utf-8-sig", errors="replace")
    if url == json_url:
        try:
            data = json.loads(text)
        except ValueError:
            raise PhantomBusterError(
                "PhantomBuster's JSON result file is not valid JSON.", code="result_file_bad"
            ) from None
        items = [data] if isinstance(data, dict) else data if isinstance(data, list) else []
        return [item for item in items if isinstance(item, dict)]
    return rows_from_csv(text)
