"""allure-results read back: one case per (check, operation), statuses, labels, history ids, attachments, extras."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from probity.core.compliance import frameworks
from probity.core.findings import Category, Outcome, Result, Severity
from probity.reporting.allure import CATEGORY_TITLES, write_allure_results
from probity.reporting.findings_json import RunRecord

ROOT = Path(__file__).resolve().parents[3]
POLICY = ROOT / "contracts" / "clinic" / "policy.yaml"
CANARIES = [
    line.strip()
    for line in (ROOT / "fixtures" / "clinic" / "canaries.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJlLXZhbHVl"  # a JWT-shaped live token
PATIENT_NOTE = "diabetic, allergic to penicillin"  # a PHI value under the policy's PHI field "notes"
WAIVER = {"owner": "ana@example.org", "justification": "fix in 2.4", "expires": "2026-12-31", "status": "active"}
TENANCY = ("HIPAA 164.312(a)(1)", "OWASP API1:2023")


def _result(check: str, operation: str, outcome: Outcome, **kw: Any) -> Result:
    kw.setdefault("controls", TENANCY)
    return Result(check, f"{check}.rule", Category.TENANCY, outcome, operation, **kw)


def _leaky_evidence() -> dict[str, Any]:
    """Evidence as a careless producer might hand it over: a canary, a token and PHI in several places."""
    return {
        "principal": "alice",
        "sql": f"SELECT * FROM users WHERE password_hash = '{CANARIES[0]}'",
        "params": [CANARIES[1], "5"],
        "log_line": 42,
        "nested": {"first": {"sql": "SELECT id FROM notes WHERE id = $1", "params": ["7"]}},
        "request": {"method": "GET", "url": "http://127.0.0.1:9/api/patients/7"},
        "status": 200,
        "body": json.dumps({"id": 7, "notes": PATIENT_NOTE, "card": CANARIES[2]})[:60],
        "reproduce": [f"curl -H 'Authorization: Bearer {TOKEN}' -H 'Cookie: sid={CANARIES[3]}' http://x/api"],
    }


def _record(*results: Result, run_id: str = "run-1", target: str = "clinic") -> RunRecord:
    metadata = {
        "id": run_id,
        "target": target,
        "api_root": "http://127.0.0.1:9/api",
        "seed": 7,
        "started": "2026-11-24T09:00:00+00:00",
        "finished": "2026-11-24T09:01:30+00:00",
        "operations": ["GET /patients/{patient_id}", "GET /patients"],
        "exit_code": 1,
        "provenance": {
            "python": "3.11.7",
            "dependencies": {"probity": "0.1.0", "schemathesis": "4.32.5", "sqlglot": "30.30.0"},
            "documents": {
                "contract": {"path": "/srv/contracts/openapi.yaml", "sha256": "c" * 64},
                "policy": {"path": str(POLICY), "sha256": "p" * 64},
            },
            "git": {"commit": "abc123", "dirty": True},
        },
    }
    return RunRecord(metadata, results)


def _cases(folder: Path) -> dict[str, dict[str, Any]]:
    """Every test case of a results folder, by name."""
    cases = [json.loads(path.read_text(encoding="utf-8")) for path in folder.glob("*-result.json")]
    return {case["name"]: case for case in cases}


def _labels(case: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in case["labels"] if label["name"] == name]


@pytest.fixture
def mixed() -> RunRecord:
    return _record(
        _result("tenancy_filter", "GET /patients/{patient_id}", Outcome.FAIL, severity=Severity.CRITICAL),
        _result("tenancy_filter", "GET /patients/{patient_id}", Outcome.PASS, severity=Severity.LOW),
        _result("tenancy_filter", "GET /patients", Outcome.PASS),
        _result("audit_insert", "GET /patients", Outcome.INCONCLUSIVE, message="no statement log"),
        _result("audit_insert", "GET /patients/{patient_id}", Outcome.NOT_APPLICABLE),
        _result("pagination", "GET /patients", Outcome.FAIL, severity=Severity.HIGH, waiver=WAIVER),
    )


def test_one_case_per_check_and_operation_with_the_worst_status(mixed: RunRecord, tmp_path: Path) -> None:
    folder = write_allure_results(mixed, tmp_path)
    assert folder == tmp_path / "allure-results"
    cases = _cases(folder)
    statuses = {name: case["status"] for name, case in cases.items() if "no result" not in name}
    assert statuses == {
        "tenancy_filter · GET /patients/{patient_id}": "failed",
        "tenancy_filter · GET /patients": "passed",
        "audit_insert · GET /patients": "broken",  # could not observe: never passed
        "audit_insert · GET /patients/{patient_id}": "skipped",  # only N/A
        "pagination · GET /patients": "skipped",  # waived
    }
    failed = cases["tenancy_filter · GET /patients/{patient_id}"]
    assert failed["statusDetails"]["message"].startswith("[tenancy] tenancy_filter.rule")
    assert [step["status"] for step in failed["steps"]] == ["failed", "passed"]
    assert "[inconclusive]" in cases["audit_insert · GET /patients"]["statusDetails"]["message"]
    waived = cases["pagination · GET /patients"]["statusDetails"]["message"]
    assert "waived until 2026-12-31 by ana@example.org" in waived


def test_labels_file_each_case_under_its_controls_operation_and_probe(mixed: RunRecord, tmp_path: Path) -> None:
    case = _cases(write_allure_results(mixed, tmp_path))["tenancy_filter · GET /patients/{patient_id}"]
    assert _labels(case, "feature") == [
        "HIPAA 164.312(a)(1) Access control",
        "OWASP API1:2023 Broken object level authorization",
    ]
    assert _labels(case, "control") == list(TENANCY)
    assert _labels(case, "story") == ["GET /patients/{patient_id}"]
    assert _labels(case, "suite") == ["tenancy_filter"] == _labels(case, "probe")
    assert _labels(case, "parentSuite") == ["tenancy"] == _labels(case, "tag")
    assert _labels(case, "severity") == ["blocker"]  # the critical failure decides, not the low pass
    assert case["links"] == [
        {
            "type": "link",
            "url": "file:///srv/contracts/openapi.yaml#/paths/~1patients~1{patient_id}/get",
            "name": "contract: GET /patients/{patient_id}",
        }
    ]


def test_controls_without_any_result_do_not_look_passed(mixed: RunRecord, tmp_path: Path) -> None:
    cases = _cases(write_allure_results(mixed, tmp_path))
    unobserved = [case for name, case in cases.items() if name.endswith("· no result")]
    titles = {f.label(c): f"{f.label(c)} {c.title}" for f in frameworks() for c in f.controls}
    expected = {title for label, title in titles.items() if label not in TENANCY}
    assert sorted(_labels(case, "feature")[0] for case in unobserved) == sorted(expected)
    assert {case["status"] for case in unobserved} == {"unknown"}


def test_history_ids_are_stable_across_runs_and_distinct_per_check_and_operation(
    mixed: RunRecord, tmp_path: Path
) -> None:
    first = _cases(write_allure_results(mixed, tmp_path / "a"))
    again = _cases(write_allure_results(_record(*mixed.results, run_id="run-2"), tmp_path / "b"))
    other_target = _cases(write_allure_results(_record(*mixed.results, target="staging"), tmp_path / "c"))
    ids = {name: case["historyId"] for name, case in first.items()}
    assert ids == {name: case["historyId"] for name, case in again.items()}
    assert len(set(ids.values())) == len(ids)
    assert all(first[name]["testCaseId"] == ids[name] for name in ids)
    assert not set(ids.values()) & {case["historyId"] for case in other_target.values()}
    assert {case["uuid"] for case in first.values()}.isdisjoint(case["uuid"] for case in again.values())


def test_attachments_carry_sql_and_http_exchange_and_no_secret(tmp_path: Path) -> None:
    evidence = _leaky_evidence()
    record = _record(_result("secret_omission", "GET /patients/{patient_id}", Outcome.FAIL, evidence=evidence))
    folder = write_allure_results(record, tmp_path)
    (step,) = _cases(folder)["secret_omission · GET /patients/{patient_id}"]["steps"]
    attached = {a["name"]: (folder / a["source"]).read_text(encoding="utf-8") for a in step["attachments"]}
    assert set(attached) == {"evidence", "SQL trace", "HTTP exchange"}
    assert json.loads(attached["evidence"])["evidence"]["log_line"] == 42
    assert "SELECT id FROM notes WHERE id = $1;" in attached["SQL trace"]
    assert "-- evidence.nested.first" in attached["SQL trace"] and "(log_line 42)" in attached["SQL trace"]
    assert "> GET http://127.0.0.1:9/api/patients/7" in attached["HTTP exchange"]
    assert "< 200" in attached["HTTP exchange"] and "# reproduce" in attached["HTTP exchange"]
    assert "Authorization: ***" in attached["HTTP exchange"] and '"notes": "***"' in attached["HTTP exchange"]
    everything = "\n".join(path.read_text(encoding="utf-8") for path in folder.iterdir())
    for secret in [*CANARIES[:4], TOKEN, PATIENT_NOTE, "penicillin"]:
        assert secret not in everything


def test_an_exchange_the_engine_attached_is_the_http_attachment(tmp_path: Path) -> None:
    exchange = {"method": "GET", "path": "/api/patients", "status": 500, "response": '{"detail": "boom"}'}
    record = _record(_result("tenancy_filter", "GET /patients", Outcome.FAIL, evidence={"exchange": exchange}))
    folder = write_allure_results(record, tmp_path)
    (step,) = _cases(folder)["tenancy_filter · GET /patients"]["steps"]
    (http,) = [a for a in step["attachments"] if a["name"] == "HTTP exchange"]
    assert (folder / http["source"]).read_text(encoding="utf-8") == '> GET /api/patients\n< 500\n\n{"detail": "boom"}'


def test_environment_categories_and_executor(mixed: RunRecord, tmp_path: Path) -> None:
    folder = write_allure_results(mixed, tmp_path)
    properties = (folder / "environment.properties").read_text(encoding="utf-8").splitlines()
    assert "target=clinic" in properties and "seed=7" in properties and "run=run-1" in properties
    assert "schemathesis=4.32.5" in properties and "sqlglot=30.30.0" in properties
    assert f"contract.sha256={'c' * 64}" in properties and f"policy.sha256={'p' * 64}" in properties
    assert "git.commit=abc123 (dirty)" in properties
    assert "api_root=http\\://127.0.0.1\\:9/api" in properties
    categories = json.loads((folder / "categories.json").read_text(encoding="utf-8"))
    names = [category["name"] for category in categories]
    assert set(CATEGORY_TITLES.values()) < set(names) and "Could not observe (inconclusive)" in names
    executor = json.loads((folder / "executor.json").read_text(encoding="utf-8"))
    assert executor["buildName"] == "run-1"


def test_a_second_write_replaces_the_folder(mixed: RunRecord, tmp_path: Path) -> None:
    folder = write_allure_results(mixed, tmp_path)
    (folder / "stale-result.json").write_text("{}", encoding="utf-8")
    write_allure_results(_record(mixed.results[0]), tmp_path)
    assert not (folder / "stale-result.json").exists()
    assert "tenancy_filter · GET /patients/{patient_id}" in _cases(folder)
    assert "pagination · GET /patients" not in _cases(folder)
