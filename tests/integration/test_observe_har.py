"""`probity observe --har` on the real clinic: a HAR recorded here from real requests, judged as recorded and
replayed (to the running clinic with its statement log, to a read-only target, and to an embedded one)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from probity.core.principals import load_principals
from probity.core.target import load_target
from probity.engine.auth import TokenBroker
from probity.engine.traffic import RECORDED
from probity.runtime.stack import EmbeddedStack

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
CLINIC = ROOT / "contracts" / "clinic"
RECORDED_OPERATIONS = ["GET /health", "POST /auth/login", "GET /users/me", "GET /patients", "GET /users/me"]


@pytest.fixture(scope="module")
def clinic() -> Iterator[EmbeddedStack]:
    state = Path(tempfile.mkdtemp(prefix="probity-test-"))
    state.chmod(0o755)
    previous = os.environ.get("PROBITY_STATE_DIR")
    os.environ["PROBITY_STATE_DIR"] = str(state / "state")
    try:
        with EmbeddedStack(load_target(CLINIC / "target.yaml"), state, sqlcommenter=True) as stack:
            yield stack
    finally:
        shutil.rmtree(state, ignore_errors=True)
        if previous is None:
            os.environ.pop("PROBITY_STATE_DIR", None)
        else:
            os.environ["PROBITY_STATE_DIR"] = previous


def _entry(response: requests.Response) -> dict[str, Any]:
    request = response.request
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    entry: dict[str, Any] = {
        "startedDateTime": "2026-01-01T00:00:00Z",
        "time": response.elapsed.total_seconds() * 1000,
        "request": {
            "method": request.method,
            "url": request.url,
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": k, "value": v} for k, v in request.headers.items()],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": len(body or ""),
        },
        "response": {
            "status": response.status_code,
            "statusText": response.reason,
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": k, "value": v} for k, v in response.headers.items()],
            "cookies": [],
            "content": {
                "size": len(response.content),
                "mimeType": response.headers.get("Content-Type", ""),
                "text": base64.b64encode(response.content).decode(),
                "encoding": "base64",
            },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": len(response.content),
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
    }
    if body:
        entry["request"]["postData"] = {"mimeType": request.headers.get("Content-Type", ""), "text": body}
    return entry


@pytest.fixture(scope="module")
def har(clinic: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real exchanges with the clinic; the last one's answer tampered with so that it breaks the contract."""
    assert clinic.backend is not None
    root = clinic.backend.base_url
    principals = load_principals(CLINIC / "principals.yaml")
    login = principals.named("northwind_admin").token.login
    assert login is not None
    auth = TokenBroker(root, principals).credential("northwind_admin").as_headers()
    with requests.Session() as session:
        exchanges = [
            session.get(root + "/health"),
            session.post(root + "/auth/login", json={"email": login.body["email"], "password": "Clinic-Demo-2026!"}),
            session.get(root + "/users/me", headers=auth),
            session.get(root + "/patients", headers=auth, params={"limit": "5"}),
            session.get(root + "/users/me", headers=auth),
        ]
    assert [r.status_code for r in exchanges] == [200, 200, 200, 200, 200]
    entries = [_entry(r) for r in exchanges]
    tampered = {k: v for k, v in exchanges[-1].json().items() if k != "email"}
    entries[-1]["response"]["content"]["text"] = base64.b64encode(json.dumps(tampered).encode()).decode()
    path = tmp_path_factory.mktemp("har") / "clinic.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t"}, "entries": entries}}))
    return path


def _observe(*args: str, reports: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    script = Path(sys.executable).parent / "probity"
    env = {**os.environ, "PROBITY_REPORTS_DIR": str(reports), "COLUMNS": "200"}
    done = subprocess.run(
        [str(script), "observe", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    latest = reports / "latest" / "findings.json"
    findings = json.loads(latest.read_text(encoding="utf-8")) if latest.exists() else {}
    return done, findings


def _all(findings: dict[str, Any]) -> list[dict[str, Any]]:
    return [*findings["findings"], *findings["passed"], *findings["not_applicable"]]


def test_recorded_traffic_is_validated_and_its_sql_is_inconclusive(
    clinic: EmbeddedStack, har: Path, tmp_path: Path
) -> None:
    assert clinic.backend is not None
    done, findings = _observe("--har", str(har), "--target", str(CLINIC / "target.yaml"), reports=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    contract = {(f["operation"], f["rule"], f["status"]) for f in _all(findings) if f["check"] == "contract_validation"}
    assert contract == {
        ("GET /health", "contract_validation", "pass"),
        ("POST /auth/login", "contract_validation", "pass"),
        ("GET /patients", "contract_validation", "pass"),
        ("GET /users/me", "contract_validation.response", "fail"),
    }
    (broken,) = [f for f in findings["findings"] if f["status"] == "fail"]
    assert "/: required ('email' is a required property)" in broken["evidence"]["details"]
    sql = [f for f in findings["findings"] if f["check"] == "tenancy_filter"]
    assert {(f["operation"], f["status"], f["message"]) for f in sql} == {
        (op, "inconclusive", RECORDED) for op in RECORDED_OPERATIONS
    }
    assert findings["run"]["read_only"] is True
    assert "5 recorded exchanges from clinic.har" in findings["run"]["notes"]
    assert findings["run"]["gate"]["exit_code"] == 1  # the same gate as a run's, and the same reports
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith("observe-")]
    assert {"junit.xml", "matrix.md", "allure-results"} <= {p.name for p in folder.iterdir()}


def test_replayed_traffic_is_tied_to_its_sql(clinic: EmbeddedStack, har: Path, tmp_path: Path) -> None:
    assert clinic.backend is not None and clinic.database is not None
    done, findings = _observe(
        "--har",
        str(har),
        "--target",
        str(CLINIC / "target.yaml"),
        "--replay",
        "--base-url",
        clinic.backend.base_url,
        "--dsn",
        clinic.database.admin_url,
        reports=tmp_path,
    )
    notes = findings["run"]["notes"]
    assert f"5 requests replayed against {clinic.backend.base_url}, 0 skipped" in notes, done.stdout + done.stderr
    assert "5 requests probed against their SQL" in notes
    assert "replayed answers: 200 ×5" in notes
    assert "SQL attribution by traceparent" in notes
    assert done.returncode == 1  # the tampered recording still breaks the contract


def test_a_replay_to_a_host_off_the_allow_list_sends_no_write(clinic: EmbeddedStack, har: Path, tmp_path: Path) -> None:
    assert clinic.backend is not None
    document = yaml.safe_load((CLINIC / "target.yaml").read_text(encoding="utf-8"))
    document.update(
        {key: str(CLINIC / document[key]) for key in ("contract", "policy", "principals")}, allow_writes_to=[]
    )
    document.pop("database"), document.pop("backend")
    target = tmp_path / "read-only.yaml"
    target.write_text(yaml.safe_dump(document), encoding="utf-8")
    args = ["--har", str(har), "--target", str(target), "--replay", "--base-url", clinic.backend.base_url]
    done, findings = _observe(*args, reports=tmp_path / "reports")
    notes = findings["run"]["notes"]
    assert f"4 requests replayed against {clinic.backend.base_url}, 1 skipped" in notes, done.stdout + done.stderr
    login = [f for f in findings["findings"] if f["operation"] == "POST /auth/login" and f["check"] == "tenancy_filter"]
    assert [f["message"] for f in login] == [
        "read-only: not replayed, 127.0.0.1 is not in the target's allow_writes_to"
    ]
    assert findings["run"]["read_only"] is True


def test_a_replay_against_the_embedded_target_as_a_principal(har: Path, tmp_path: Path) -> None:
    """A fresh embedded clinic, started by the command, has none of the recorded sessions: a fresh login is needed."""
    args = ["--har", str(har), "--target", str(CLINIC / "target.yaml"), "--replay", "--principal", "southbay_admin"]
    done, findings = _observe(*args, reports=tmp_path)
    notes = findings["run"]["notes"]
    assert "replayed answers: 200 ×5" in notes, done.stdout + done.stderr
    assert "5 requests probed against their SQL" in notes
    patients = [
        f for f in findings["passed"] if f["rule"] == "contract_validation" and f["operation"] == "GET /patients"
    ]
    assert [(f["evidence"]["requests"], f["evidence"]["of"]) for f in patients] == [(2, 2)]  # recorded and replayed
