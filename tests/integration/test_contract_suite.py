"""`suites/test_contract.py`, run as users run it, on the real clinic: the correct clinic passes, every case is
probed against its SQL, and a case whose probe result FAILED fails with a readable message."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "suites" / "test_contract.py"
TARGET = ROOT / "contracts" / "clinic" / "target.yaml"

# Swaps the session's probes for one that fails on the health check only (a conftest beside the suite).
FAILING_PROBE_CONFTEST = """
import pytest
from probity.core.findings import Category, Outcome, Severity


def health_probe(trace, ctx):
    failed = ctx.operation.label == "GET /health"
    outcome = Outcome.FAIL if failed else Outcome.PASS
    yield ctx.result("health_probe", "health_probe.planted", Category.REVIEW, outcome, "planted", Severity.HIGH,
                     evidence={"statements": len(trace.statements)})


@pytest.fixture(scope="session")
def probity_observer(probity_observer):
    probity_observer.probes = (health_probe,)
    return probity_observer
"""


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", *args, "--probity-target", str(TARGET), "--probity-seed", "1", "-q"]
    return subprocess.run(
        command, cwd=cwd, env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True, timeout=180
    )


def _subtests(output: str, outcome: str) -> int:
    found = re.search(rf"(\d+) subtests {outcome}", output)
    return int(found.group(1)) if found else 0


def test_the_correct_clinic_passes_and_every_case_is_probed(isolated_state: Path, tmp_path: Path) -> None:
    done = _pytest(str(SUITE), "-p", "no:cacheprovider", "--probity-report", str(tmp_path), cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "1 passed" in output and _subtests(output, "passed") >= 40 and _subtests(output, "failed") == 0, output
    findings = json.loads((tmp_path / "findings.json").read_text(encoding="utf-8"))
    notes = findings["run"]["notes"]
    assert "contract suite as northwind_admin (peers northwind_admin, southbay_admin), seed 1" in notes
    probed = [int(n.split()[1]) for n in notes if n.startswith("main: ") and n.endswith("probed against their SQL")]
    assert probed and probed[0] >= 40, notes
    assert [f for f in findings["findings"] if f["status"] == "fail"] == []


def test_a_case_whose_probe_failed_fails(isolated_state: Path, tmp_path: Path) -> None:
    shutil.copy(SUITE, tmp_path / "test_contract.py")
    (tmp_path / "conftest.py").write_text(FAILING_PROBE_CONFTEST, encoding="utf-8")
    report = tmp_path / "report"
    args = ("test_contract.py", "--rootdir", str(tmp_path), "--probity-max-examples", "1")
    done = _pytest(*args, "--probity-report", str(report), cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    # The failing subtest is the only failure; the other operations' subtests pass.
    assert re.search(r"\b1 failed, 1 passed, (4\d) subtests passed", output), output
    assert "[high] health_probe.planted on GET /health: planted" in output
    assert "SUBFAILED test_contract.py::test_contract[GET /health]" in output, output
    findings = json.loads((report / "findings.json").read_text(encoding="utf-8"))
    failing = {(f["rule"], f["operation"], f["evidence"]["statements"] > 0) for f in findings["findings"]}
    assert failing == {("health_probe.planted", "GET /health", True)}  # the health check's SQL was tied to it
