"""Derive tests/contract/phantombuster_contract.json from PhantomBuster's published OpenAPI file.

The fixture holds, for every endpoint LeadRelay's client (and the sandbox tests) call, the query parameters, the
request body schema and the response schemas exactly as the OpenAPI file states them, so the contract tests check
the sandbox and the client against PhantomBuster's own words, not against a copy someone retyped.

    python scripts/openapi_contract.py            # write the fixture
    python scripts/openapi_contract.py --check    # exit 1 when the committed fixture is not what the file gives
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "contract" / "phantombuster_contract.json"
OPENAPI_NAME = "phantombuster-openapi-v2.json"
# The endpoints LeadRelay calls (core/phantombuster.py) plus agents/save and the two fetch-output endpoints,
# which the sandbox serves and the tests use to set agents up and read a run's console.
ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("post", "agents/launch"),
    ("get", "agents/fetch"),
    ("get", "agents/fetch-all"),
    ("post", "agents/stop"),
    ("post", "agents/save"),
    ("get", "agents/fetch-output"),
    ("get", "containers/fetch"),
    ("get", "containers/fetch-result-object"),
    ("get", "containers/fetch-output"),
    ("get", "containers/fetch-all"),
    ("get", "orgs/fetch"),
    ("get", "orgs/fetch-resources"),
    ("get", "orgs/fetch-running-containers"),
)


def default_openapi_path() -> Path:
    """`$PHANTOMBUSTER_OPENAPI`, else shared/reference/ beside the repository (where the team keeps it)."""
    env = os.environ.get("PHANTOMBUSTER_OPENAPI")
    return Path(env) if env else ROOT.parent / "shared" / "reference" / OPENAPI_NAME


def _operation(oas: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    try:
        return oas["paths"]["/" + path][method]
    except KeyError:
        raise SystemExit(f"{method.upper()} /{path} is not in the OpenAPI file") from None


def extract_endpoint(oas: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """One endpoint: its query parameters, JSON request body schema and response schemas, unchanged."""
    op = _operation(oas, method, path)
    query = [
        {"name": p["name"], "required": bool(p.get("required", False)), "schema": p.get("schema", {})}
        for p in op.get("parameters", [])
        if p.get("in") == "query"
    ]
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    responses: dict[str, Any] = {}
    for status, answer in op.get("responses", {}).items():
        content = answer.get("content") or {}
        responses[status] = {
            "description": answer.get("description", ""),
            "contentTypes": sorted(content),
            "schema": content.get("application/json", {}).get("schema"),
        }
    return {"method": method.upper(), "query": query, "requestBody": body, "responses": responses}


def extract(oas: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """The whole fixture: where it came from, then one entry per endpoint."""
    return {
        "source": {
            "file": OPENAPI_NAME,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "openapi": oas.get("openapi"),
            "title": oas.get("info", {}).get("title"),
            "version": oas.get("info", {}).get("version"),
            "servers": [s.get("url") for s in oas.get("servers", [])],
        },
        "endpoints": {path: extract_endpoint(oas, method, path) for method, path in ENDPOINTS},
    }


def render(fixture: dict[str, Any]) -> str:
    """The fixture as committed: stable key order as in the file, one-space indent, trailing newline."""
    return json.dumps(fixture, indent=1, ensure_ascii=False) + "\n"


def build(openapi: Path) -> str:
    """Read the OpenAPI file and return the fixture text."""
    raw = openapi.read_bytes()
    return render(extract(json.loads(raw), raw))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openapi", type=Path, default=default_openapi_path(), help="the published OpenAPI file")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = build(args.openapi)
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'differs from what ' + str(args.openapi) + ' gives'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(ENDPOINTS)} endpoints)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
