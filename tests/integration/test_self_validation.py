"""Self-validation: every planted defect of the clinic is caught by the check of its class, and no other
check fires anywhere (the correct clinic's zero-finding run is tests/integration/test_demo.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from probity.core.compliance import controls_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _run_all_defects(project_root: Path, reports: Path) -> tuple[int, dict[str, Any]]:
    script = Path(sys.executable).parent / "probity"
    env = {**os.environ, "PROBITY_REPORTS_DIR": str(reports), "COLUMNS": "200"}
    argv = [str(script), "run", "--defects", "all", "--max-examples", "3", "--seed", "3"]
    done = subprocess.run(argv, cwd=project_root, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    findings = json.loads((reports / "latest" / "findings.json").read_text(encoding="utf-8"))
    return done.returncode, findings


def _matrix(findings: dict[str, Any]) -> dict[str, set[str]]:
    """Operation -> categories of its failing findings."""
    failing: dict[str, set[str]] = defaultdict(set)
    for finding in findings["findings"]:
        if finding["status"] == "fail":
            failing[finding["operation"]].add(finding["category"])
    return failing


def _class_controls(findings: dict[str, Any]) -> dict[str, tuple[set[str], set[str]]]:
    """Category -> (controls every check of it bears on, controls any of them bears on), from the frameworks YAML."""
    checks: dict[str, set[str]] = defaultdict(set)
    for section in ("findings", "passed", "not_applicable"):
        for result in findings[section]:
            checks[result["category"]].add(result["check"])
    mapped = {}
    for category, names in checks.items():
        controlled = [set(controls_for(name)) for name in names if controls_for(name)]
        mapped[category] = (set.intersection(*controlled), set.union(*controlled)) if controlled else (set(), set())
    return mapped


def _wrong_controls(defects: list[dict[str, Any]], findings: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Defects whose failing results of their class do not carry the controls that class maps to."""
    mapped, wrong = _class_controls(findings), []
    for defect in defects:
        operation = defect["operation"].replace("/api/v1", "", 1)
        carried = {
            control
            for f in findings["findings"]
            if f["status"] == "fail" and f["operation"] == operation and f["category"] == defect["class"]
            for control in f["controls"]
        }
        common, any_of = mapped.get(defect["class"], (set(), set()))
        if not (common <= carried if common else carried & any_of):
            wrong.append((defect["id"], sorted(carried)))
    return wrong


def test_every_defect_is_caught_by_its_class_and_nothing_else_fires(
    project_root: Path, isolated_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defects = yaml.safe_load((project_root / "fixtures/clinic/defects.yaml").read_text(encoding="utf-8"))["defects"]
    code, findings = _run_all_defects(project_root, isolated_state.parent / "reports")
    failing = _matrix(findings)
    rows, expected_ops = [], set()
    for defect in defects:
        operation = defect["operation"].replace("/api/v1", "", 1)  # the contract's paths are relative to it
        expected_ops.add(operation)
        allowed = {defect["class"], *defect.get("also_reported_as", [])}
        seen = failing.get(operation, set())
        rows.append((defect["id"], defect["class"], defect["class"] in seen, sorted(seen - allowed)))
    with capsys.disabled():
        print("\ndefect                        class        caught  other categories")  # noqa: T201
        for row in rows:
            print(f"{row[0]:29} {row[1]:12} {row[2]!s:7} {row[3] or '-'}")  # noqa: T201
    assert code == 1
    assert findings["run"]["exit_code"] == 1 and findings["run"]["gate"]["exit_code"] == 1, "the gate's verdict"
    assert _wrong_controls(defects, findings) == [], "defects caught without the control their class maps to"
    assert [r[0] for r in rows if not r[2]] == [], "defects not caught by their class"
    assert [r for r in rows if r[3]] == [], "other categories fired on a defect's operation"
    assert {op: cats for op, cats in failing.items() if op not in expected_ops} == {}, "false positives"
