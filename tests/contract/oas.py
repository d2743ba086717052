"""PhantomBuster's published contract as a checker: requests and responses against the derived fixture's schemas.

Schemas are OpenAPI 3.0 Schema Objects (with `nullable`), so they are validated with openapi-schema-validator's
OAS 3.0 validators (built on jsonschema): the write validator for request bodies, the read one for responses.
`additionalProperties: false` is enforced wherever the file states it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from openapi_schema_validator import OAS30ReadValidator, OAS30Validator, OAS30WriteValidator

FIXTURE = Path(__file__).with_name("phantombuster_contract.json")
API_PREFIX = "/api/v2/"


@cache
def contract() -> dict[str, Any]:
    """The committed fixture (see scripts/openapi_contract.py)."""
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def endpoints() -> dict[str, Any]:
    return contract()["endpoints"]


def _errors(validator_class: Any, schema: dict[str, Any], instance: Any, where: str) -> list[str]:
    validator = validator_class(schema)
    out = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        out.append(f"{where}: {path}: {error.message[:300]}")
    return out


def _coerce(schema: dict[str, Any], values: list[str]) -> Any:
    """A query value as its schema reads it: numbers parsed, a repeated parameter as an array."""
    if len(values) > 1:
        return values
    value = values[0]
    kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", []) if isinstance(s, dict)}
    if kinds & {"number", "integer"} and "string" not in kinds:
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    return value


def check_request(method: str, endpoint: str, query: Iterable[tuple[str, str]], body: bytes) -> list[str]:
    """Violations of one request: unknown endpoint or method, undeclared or bad query parameters, bad body."""
    spec = endpoints().get(endpoint)
    where = f"{method} {endpoint} request"
    if spec is None:
        return [f"{where}: the endpoint is not in the contract fixture"]
    if spec["method"] != method:
        return [f"{where}: the contract says {spec['method']}"]
    problems: list[str] = []
    given: dict[str, list[str]] = {}
    for name, value in query:
        given.setdefault(name, []).append(value)
    declared = {p["name"]: p for p in spec["query"]}
    for name, values in given.items():
        if name not in declared:
            problems.append(f"{where}: query parameter {name!r} is not in the contract")
            continue
        schema = declared[name]["schema"]
        problems += _errors(OAS30Validator, schema, _coerce(schema, values), f"{where} ?{name}")
    problems += [
        f"{where}: required query parameter {name!r} missing"
        for name, p in declared.items()
        if p["required"] and name not in given
    ]
    schema = spec["requestBody"]
    if schema is None:
        if body.strip():
            problems.append(f"{where}: the contract has no request body")
        return problems
    try:
        instance = json.loads(body) if body.strip() else None
    except ValueError:
        return [*problems, f"{where}: the body is not JSON"]
    return problems + _errors(OAS30WriteValidator, schema, instance, f"{where} body")


def check_response(endpoint: str, status: int, content_type: str, body: bytes) -> list[str]:
    """Violations of one answer: a documented 2xx must match its schema; undocumented codes carry no schema."""
    spec = endpoints().get(endpoint)
    where = f"{endpoint} response {status}"
    if spec is None:
        return [f"{where}: the endpoint is not in the contract fixture"]
    answer = spec["responses"].get(str(status))
    if answer is None or not 200 <= status < 300:
        return []  # errors: the OAS gives descriptions only (and no 429 anywhere); nothing to check
    if status == 204:
        return [f"{where}: a 204 must have no body"] if body else []
    schema = answer["schema"]
    if schema is None:
        return []  # e.g. agents/launch 200 "Agent launched successfully." with no schema
    if not content_type.startswith("application/json"):
        if endpoint == "containers/fetch-output" and content_type.startswith("text/plain"):
            return []  # mode=raw: the console as plain text (reference §2.8)
        return [f"{where}: content type {content_type!r}, the contract says application/json"]
    try:
        instance = json.loads(body)
    except ValueError:
        return [f"{where}: the body is not JSON"]
    return _errors(OAS30ReadValidator, schema, instance, where)


@dataclass
class ContractLog:
    """What a ContractTransport saw: every violation, and which endpoints and statuses were exercised."""

    violations: list[str] = field(default_factory=list)
    seen: set[tuple[str, int]] = field(default_factory=set)

    def endpoints(self) -> set[str]:
        return {endpoint for endpoint, _ in self.seen}


class ContractTransport(httpx.BaseTransport):
    """An httpx transport that sends for real and checks each /api/v2/ exchange against the contract.

    `check_requests=False` for test harnesses that send invalid requests on purpose; responses are always checked.
    `raise_on_violation` makes a bad response fail the test at the call that got it.
    """

    def __init__(
        self,
        log: ContractLog | None = None,
        *,
        check_requests: bool = True,
        raise_on_violation: bool = False,
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self.log = log or ContractLog()
        self.check_requests = check_requests
        self.raise_on_violation = raise_on_violation
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if not path.startswith(API_PREFIX):
            return self.inner.handle_request(request)
        endpoint = path[len(API_PREFIX) :].strip("/")
        found: list[str] = []
        if self.check_requests:
            body = request.read()
            found += check_request(request.method, endpoint, request.url.params.multi_items(), body)
        response = self.inner.handle_request(request)
        content = response.read()
        self.log.seen.add((endpoint, response.status_code))
        found += check_response(endpoint, response.status_code, response.headers.get("content-type", ""), content)
        self.log.violations.extend(found)
        if found and self.raise_on_violation:
            raise AssertionError("PhantomBuster contract violated:\n" + "\n".join(found))
        return response

    def close(self) -> None:
        self.inner.close()
