"""``probity review``: the report folder (Markdown, JSON, findings.json, Allure) and the exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from probity.cli import main
from probity.reporting.findings_json import read_findings
from probity.review.run import ReviewDocuments


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "reports"
    monkeypatch.setenv("PROBITY_REPORTS_DIR", str(folder))
    return folder


def _flags(documents: ReviewDocuments) -> list[str]:
    return [f"--{name}={path}" for name, path in documents.as_dict().items()]


def _only_run(reports: Path) -> Path:
    [run] = [path for path in reports.iterdir() if path.name.startswith("review-")]
    return run


def test_the_default_target_is_reviewed_clean(reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review"]) == 0
    run = _only_run(reports)
    assert {"review.md", "review.json", "findings.json"} <= {p.name for p in run.iterdir()}
    document = json.loads((run / "review.json").read_text(encoding="utf-8"))
    assert len(document["tracking"]) == 43 and document["critical_issues"] == [] and document["exit_code"] == 0
    record = read_findings(run)
    assert record.metadata["kind"] == "review" and len(record.operations) == 43
    assert record.metadata["provenance"]["documents"]["blueprint"]["sha256"]
    assert all(r.controls for r in record.results)  # every review check maps to a control
    assert any((run / "allure-results").glob("*-result.json"))
    assert "clean" in capsys.readouterr().out


def test_findings_exit_1_and_are_in_every_output(
    reports: Path, write_mutated: Callable[..., ReviewDocuments], capsys: pytest.CaptureFixture[str]
) -> None:
    documents = write_mutated(
        [{"file": "blueprint", "after": "## GET /users/me\n", "find": "u.mfa_enabled, u.created_at\n  FROM users u",
          "replace": "u.mfa_enabled, u.password_hash, u.created_at\n  FROM users u"},
         {"file": "ddl", "find": "CREATE INDEX patients_given_name_idx ON patients (organization_id, given_name);\n",
          "replace": ""}]
    )  # fmt: skip
    assert main(["review", *_flags(documents)]) == 1
    run = _only_run(reports)
    markdown = (run / "review.md").read_text(encoding="utf-8")
    assert "review.secrets.selected" in markdown and "users.password_hash" in markdown
    assert "CREATE INDEX patients_organization_id_given_name_idx ON patients (organization_id, given_name);" in markdown
    document = json.loads((run / "review.json").read_text(encoding="utf-8"))
    [issue] = document["critical_issues"]
    assert issue["rule"] == "review.secrets.selected" and "HIPAA 164.312(a)(1)" in issue["controls"]
    [index] = document["missing_indexes"]
    assert (index["table"], index["column"]) == ("patients", "given_name")
    rows = {row["operation"]: row for row in document["tracking"]}
    assert rows["GET /users/me"]["Secrets"]["status"] == "fail" and rows["GET /patients"]["Indexes"]["status"] == "fail"
    assert "findings" in capsys.readouterr().out


def test_a_missing_document_is_a_configuration_error(
    reports: Path, write_mutated: Callable[..., ReviewDocuments], capsys: pytest.CaptureFixture[str]
) -> None:
    documents = write_mutated([])
    documents.ddl.unlink()
    assert main(["review", *_flags(documents)]) == 2
    assert "ddl to review does not exist" in capsys.readouterr().err
    assert not reports.exists() or not list(reports.iterdir())


def test_an_unparseable_statement_is_a_finding_with_its_line(
    reports: Path, write_mutated: Callable[..., ReviewDocuments]
) -> None:
    documents = write_mutated(
        [{"file": "blueprint", "find": "SELECT 1 AS ok;", "replace": "SELECT 1 AS ok FROM WHERE;"}]
    )
    assert main(["review", *_flags(documents)]) == 1
    document = json.loads((_only_run(reports) / "review.json").read_text(encoding="utf-8"))
    [finding] = [f for f in document["findings"] if f["status"] == "fail"]
    unread = {f["rule"] for f in document["findings"] if f["status"] == "inconclusive"}
    assert "review.secrets.unparsed" in unread  # what was not read is not cleared
    line = documents.blueprint.read_text(encoding="utf-8").splitlines().index("SELECT 1 AS ok FROM WHERE;") + 1
    assert finding["rule"] == "review.schema.unparsed" and finding["evidence"]["location"].endswith(f":{line}")
