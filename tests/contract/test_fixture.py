"""The contract fixture is what scripts/openapi_contract.py derives from the published OpenAPI file, and it checks."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.contract import oas
from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "openapi_contract.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openapi_contract", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def openapi() -> Path:
    path = load_script().default_openapi_path()
    if not path.exists():
        unavailable(f"the published OpenAPI file is not at {path} (set PHANTOMBUSTER_OPENAPI)")
    return path


def test_fixture_is_what_the_script_derives_from_the_openapi_file(openapi: Path) -> None:
    script = load_script()
    assert oas.FIXTURE.read_text(encoding="utf-8") == script.build(openapi)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--openapi", str(openapi), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_script_notices_a_changed_file(openapi: Path, tmp_path: Path) -> None:
    changed = json.loads(openapi.read_text(encoding="utf-8"))
    changed["paths"]["/containers/fetch"]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "required"
    ].append("agentId")
    other = tmp_path / "changed.json"
    other.write_text(json.dumps(changed), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--openapi", str(other), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "differs" in done.stdout


def test_fixture_covers_the_endpoints_with_their_schemas() -> None:
    endpoints = oas.endpoints()
    assert set(endpoints) == {path for _, path in load_script().ENDPOINTS}
    launch = endpoints["agents/launch"]
    assert launch["method"] == "POST" and launch["requestBody"]["additionalProperties"] is False
    assert launch["responses"]["200"]["schema"] is None  # the OAS gives no body for a launch
    container = endpoints["containers/fetch"]["responses"]["200"]["schema"]
    assert container["additionalProperties"] is False and "agentId" not in container["properties"]
    assert "unknown" in container["properties"]["status"]["enum"]


@pytest.mark.parametrize(
    ("endpoint", "body", "expected"),
    [
        ("containers/fetch", {"id": "1", "status": "finished", "createdAt": 1, "launchType": "manual"}, "retryNumber"),
        (
            "containers/fetch",
            {"id": "1", "status": "error", "createdAt": 1, "launchType": "manual", "retryNumber": 0},
            "'error' is not one of",
        ),
        (
            "containers/fetch",
            {"id": "1", "status": "finished", "createdAt": 1, "launchType": "manual", "retryNumber": 0, "agentId": "2"},
            "Additional properties are not allowed ('agentId'",
        ),
        ("containers/fetch-result-object", {"resultObject": None}, None),
        ("containers/fetch-result-object", {"resultObject": []}, "is not of type 'string'"),
    ],
)
def test_the_checker_finds_what_the_schemas_forbid(endpoint: str, body: object, expected: str | None) -> None:
    found = oas.check_response(endpoint, 200, "application/json", json.dumps(body).encode())
    if expected is None:
        assert found == []
    else:
        assert any(expected in f for f in found), found


def test_the_checker_reads_requests_strictly() -> None:
    ok = json.dumps({"id": "1", "bonusArgument": {"spreadsheetUrl": "https://x/y.csv"}}).encode()
    assert oas.check_request("POST", "agents/launch", [], ok) == []
    bad = json.dumps({"id": "1", "profileUrls": []}).encode()
    assert any("Additional properties" in f for f in oas.check_request("POST", "agents/launch", [], bad))
    assert oas.check_request("GET", "containers/fetch", [("id", "1"), ("withOutput", "true")], b"") == []
    assert any(
        "not in the contract" in f for f in oas.check_request("GET", "containers/fetch", [("id", "1"), ("x", "1")], b"")
    )
    assert any("required" in f for f in oas.check_request("GET", "containers/fetch", [], b""))
    assert any("not in the contract fixture" in f for f in oas.check_request("GET", "agents/delete", [], b""))
    assert oas.check_request("GET", "agents/fetch-output", [("id", "1"), ("fromOutputPos", "12")], b"") == []
    assert oas.check_request("GET", "containers/fetch-output", [("id", "1"), ("mode", "text")], b"") != []
