"""The compliance matrix: worst outcome per cell, honest empty cells, and every control of every framework."""

from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path

import pytest

from probity.core.compliance import controls_for, frameworks
from probity.core.findings import Category, Outcome, Result, Severity
from probity.reporting.findings_json import RunRecord, read_findings, write_findings
from probity.reporting.matrix import COLUMNS, build_matrix, column_of, write_matrix

OPERATIONS = ("GET /patients", "GET /patients/{patient_id}", "POST /auth/logout")


def _result(check: str, rule: str, category: Category, outcome: Outcome, operation: str) -> Result:
    severity = Severity.HIGH if outcome is Outcome.FAIL else Severity.INFO
    return Result(check, rule, category, outcome, operation, f"{rule} said {outcome}", severity, controls_for(check))


def _record(*results: Result) -> RunRecord:
    metadata = {"id": "run-test", "target": "t", "seed": 7, "exit_code": 1, "operations": list(OPERATIONS)}
    return RunRecord(metadata, results)


TENANCY_FAIL = _result(
    "tenancy_filter", "tenancy_filter.unscoped_read", Category.TENANCY, Outcome.FAIL, "GET /patients/{patient_id}"
)
TENANCY_PASS = _result(
    "tenancy_filter", "tenancy_filter.scoped", Category.TENANCY, Outcome.PASS, "GET /patients/{patient_id}"
)


def test_a_cell_is_the_worst_outcome_and_names_the_rules_that_decided_it() -> None:
    matrix = build_matrix(_record(TENANCY_PASS, TENANCY_FAIL))
    cell = matrix.rows[1].cells["Tenancy"]
    assert cell.outcome is Outcome.FAIL
    assert cell.rules == ("tenancy_filter.unscoped_read",)
    assert cell.counts == {"fail": 1, "pass": 1}
    assert cell.text == "FAIL (tenancy_filter.unscoped_read)"


def test_inconclusive_outranks_pass_and_pass_outranks_not_applicable() -> None:
    op = "GET /patients"
    results = (
        _result("audit_insert", "audit_insert.recorded", Category.AUDIT, Outcome.PASS, op),
        _result("audit_insert", "audit_insert.unobserved", Category.AUDIT, Outcome.INCONCLUSIVE, op),
        _result("pagination", "pagination.bounded", Category.PAGINATION, Outcome.PASS, op),
        _result("pagination", "pagination.not_applicable", Category.PAGINATION, Outcome.NOT_APPLICABLE, op),
        _result("n_plus_one", "n_plus_one.not_applicable", Category.N_PLUS_ONE, Outcome.NOT_APPLICABLE, op),
    )
    cells = build_matrix(_record(*results)).rows[0].cells
    assert cells["Audit"].outcome is Outcome.INCONCLUSIVE and cells["Audit"].rules == ("audit_insert.unobserved",)
    assert cells["Pagination"].outcome is Outcome.PASS and cells["Pagination"].text == "PASS"
    assert cells["N+1"].outcome is Outcome.NOT_APPLICABLE


def test_a_cell_no_result_reached_is_inconclusive_never_pass() -> None:
    matrix = build_matrix(_record(TENANCY_PASS))
    logout = matrix.rows[2]
    assert logout.operation == "POST /auth/logout"
    assert {cell.outcome for cell in logout.cells.values()} == {Outcome.INCONCLUSIVE}
    assert logout.cells["Secrets"].text == "INCONCLUSIVE (not observed)"


def test_inventory_rules_have_their_own_columns_and_robustness_counts_as_contract() -> None:
    op = "GET /patients"
    results = (
        _result("contract_inventory", "contract_inventory.documented", Category.CONTRACT, Outcome.PASS, op),
        _result("contract_inventory", "contract_inventory.implemented", Category.CONTRACT, Outcome.FAIL, op),
        _result(
            "schemathesis.not_a_server_error", "schemathesis.not_a_server_error", Category.ROBUSTNESS, Outcome.FAIL, op
        ),  # fmt: skip
        _result(
            "schemathesis.status_code_conformance",
            "schemathesis.status_code_conformance",
            Category.CONTRACT,
            Outcome.PASS,
            op,
        ),  # fmt: skip
    )
    cells = build_matrix(_record(*results)).rows[0].cells
    assert cells["Documented"].outcome is Outcome.PASS
    assert cells["Implemented"].text == "FAIL (contract_inventory.implemented)"
    assert cells["Contract"].text == "FAIL (schemathesis.not_a_server_error)"


def test_an_undocumented_operation_gets_its_own_row_after_the_contract() -> None:
    undocumented = _result(
        "contract_inventory", "contract_inventory.undocumented", Category.CONTRACT, Outcome.FAIL, "GET /debug"
    )
    rows = build_matrix(_record(TENANCY_PASS, undocumented)).rows
    assert [row.operation for row in rows] == [*OPERATIONS, "GET /debug"]
    assert rows[-1].in_contract is False
    assert rows[-1].cells["Documented"].text == "FAIL (contract_inventory.undocumented)"


def test_code_review_findings_are_in_no_column() -> None:
    review = _result("review.x", "review.x.y", Category.REVIEW, Outcome.FAIL, "GET /patients")
    assert column_of(review) is None
    assert build_matrix(_record(review)).rows[0].cells["Contract"].outcome is Outcome.INCONCLUSIVE


def test_every_control_of_every_framework_is_summarized() -> None:
    matrix = build_matrix(_record(TENANCY_PASS, TENANCY_FAIL))
    expected = [framework.label(control) for framework in frameworks() for control in framework.controls]
    assert [control.label for control in matrix.controls] == expected
    by_label = {control.label: control for control in matrix.controls}
    api1 = by_label["OWASP API1:2023"]
    assert api1.cell.outcome is Outcome.FAIL
    assert api1.failing_operations == ("GET /patients/{patient_id}",)
    assert api1.cell.counts == {"fail": 1, "pass": 1}
    audit = by_label["HIPAA 164.312(b)"]  # audit_insert produced nothing here
    assert audit.cell.outcome is Outcome.INCONCLUSIVE
    assert audit.to_dict()["reason"] == "no check observed it"


def test_write_matrix_writes_markdown_and_json_from_a_findings_file(tmp_path: Path) -> None:
    write_findings(_record(TENANCY_PASS, TENANCY_FAIL), tmp_path)
    written = write_matrix(read_findings(tmp_path), tmp_path)
    assert written == tmp_path / "matrix.md"
    document = json.loads((tmp_path / "matrix.json").read_text(encoding="utf-8"))
    assert document["columns"] == list(COLUMNS)
    assert [row["operation"] for row in document["operations"]] == list(OPERATIONS)
    tenancy = document["operations"][1]["cells"]["Tenancy"]
    assert tenancy == {
        "outcome": "fail",
        "reason": "tenancy_filter.unscoped_read",
        "rules": ["tenancy_filter.unscoped_read"],
        "counts": {"fail": 1, "pass": 1},
    }
    assert document["totals"]["Tenancy"] == {"fail": 1, "inconclusive": 2}
    markdown = written.read_text(encoding="utf-8")
    assert "| `GET /patients/{patient_id}` |" in markdown and "FAIL (tenancy_filter.unscoped_read)" in markdown
    assert "| OWASP API1:2023 | Broken object level authorization | FAIL |" in markdown
    assert "INCONCLUSIVE (no check observed it)" in markdown


@pytest.mark.parametrize("name", ["probity.reporting.matrix", "probity.reporting.evidence"])
def test_docstring_examples_pass(name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    for test in tests:
        runner.run(test)
    assert runner.failures == 0
    assert sum(len(test.examples) for test in tests) > 0
