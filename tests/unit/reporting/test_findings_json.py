"""``findings.json`` round-trips a run's results, whatever plain data their evidence holds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from probity.core.findings import Category, Outcome, Result, Severity
from probity.reporting.findings_json import RunRecord, read_findings, result_to_dict, write_findings


@dataclass(frozen=True)
class _Point:
    session: str
    line: int


def _record(*results: Result) -> RunRecord:
    return RunRecord({"id": "run-1", "target": "shop", "operations": ["GET /a", "GET /b"]}, results)


def test_results_come_back_as_written(tmp_path: Path) -> None:
    results = (
        Result("tenancy_filter", "tenancy_filter.unscoped_read", Category.TENANCY, Outcome.FAIL, "GET /a", "leak",
               Severity.HIGH, ("OWASP API1:2023",), {"sql": "SELECT 1", "params": ["7", None], "n": 2}),
        Result("pagination", "pagination.bounded", Category.PAGINATION, Outcome.PASS, "GET /b",
               waiver={"owner": "qa", "status": "active"}),
    )  # fmt: skip
    read = read_findings(write_findings(_record(*results), tmp_path).parent)
    assert sorted(read.results, key=lambda r: r.rule) == sorted(results, key=lambda r: r.rule)


def test_evidence_holding_a_dataclass_or_tuple_is_written_as_plain_json(tmp_path: Path) -> None:
    evidence = {"at": _Point("s1", 12), "pair": ("a", "b"), "nested": [{"at": _Point("s2", 3)}]}
    result = Result("n_plus_one", "n_plus_one.loop", Category.N_PLUS_ONE, Outcome.FAIL, "GET /a", evidence=evidence)
    document = json.loads(write_findings(_record(result), tmp_path).read_text(encoding="utf-8"))
    written = document["findings"][0]["evidence"]
    assert written == {
        "at": {"session": "s1", "line": 12},
        "pair": ["a", "b"],
        "nested": [{"at": {"session": "s2", "line": 3}}],
    }


def test_evidence_that_is_no_data_is_refused_not_dropped(tmp_path: Path) -> None:
    result = Result("x", "x.y", Category.TENANCY, Outcome.FAIL, "GET /a", evidence={"what": object()})
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        write_findings(_record(result), tmp_path)


def test_a_result_is_written_without_copying_its_evidence() -> None:
    result = Result("x", "x.y", Category.TENANCY, Outcome.PASS, "GET /a", evidence={"big": list(range(5))})
    data = result_to_dict(result)
    assert data["evidence"] is result.evidence and data["status"] == "pass" and "waiver" not in data
