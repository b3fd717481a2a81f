"""The CI gate end to end: real `probity run`s on the embedded clinic, judged by their exit codes and reports.

Budgets: ``FULL`` (one role, every phase, 3 examples) is the smallest found to leave the correct clinic with no
INCONCLUSIVE result (an examples-only run sends POST /auth/refresh only invalid tokens, which run no SQL, so
its SQL probes cannot conclude, and it does not reach the planted defect); ``SMALL`` serves the read-only run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from probity.core.compliance import controls_for
from probity.probes import CATEGORIES

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FULL = ("--roles", "ADMIN", "--max-examples", "3", "--seed", "1")
SMALL = ("--roles", "ADMIN", "--phases", "examples", "--max-examples", "2", "--seed", "1")
DEFECT = "secrets-password-hash"
PROJECT = Path(__file__).resolve().parents[2]


class Run:
    def __init__(self, done: subprocess.CompletedProcess[str], reports: Path) -> None:
        self.code = done.returncode
        self.output = done.stdout + done.stderr
        self.folder = (reports / "latest").resolve()
        self.findings: dict[str, Any] = json.loads((self.folder / "findings.json").read_text(encoding="utf-8"))
        self.junit = ET.parse(self.folder / "junit.xml").getroot()

    @property
    def failing(self) -> list[dict[str, Any]]:
        return [f for f in self.findings["findings"] if f["status"] == "fail"]


Probity = Callable[..., Run]


@pytest.fixture(scope="module")
def probity() -> Iterator[Probity]:
    """Run `probity run ARGS` as a user would, with private cluster and report folders."""
    base = Path(tempfile.mkdtemp(prefix="probity-gate-"))
    base.chmod(0o755)  # as root the server runs as another account that must reach its cluster folder
    env = {**os.environ, "PROBITY_STATE_DIR": str(base / "state"), "PROBITY_REPORTS_DIR": str(base / "reports")}

    def run(*args: str) -> Run:
        script = Path(sys.executable).parent / "probity"
        done = subprocess.run(
            [str(script), "run", *args], cwd=PROJECT, env={**env, "COLUMNS": "200"}, capture_output=True,
            text=True, timeout=900,
        )  # fmt: skip
        assert "Traceback" not in done.stderr, done.stderr
        return Run(done, base / "reports")

    yield run
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def defect_run(probity: Probity) -> Run:
    return probity("--defects", DEFECT, *FULL)


def _defect(project_root: Path) -> dict[str, Any]:
    defects = yaml.safe_load((project_root / "fixtures/clinic/defects.yaml").read_text(encoding="utf-8"))["defects"]
    found: dict[str, Any] = next(d for d in defects if d["id"] == DEFECT)
    return found


def _waivers(tmp_path: Path, findings: list[dict[str, Any]], expires: str) -> Path:
    accepted = {"justification": "accepted for the test", "owner": "qa@example.org", "expires": expires}
    path = tmp_path / "waivers.yaml"
    path.write_text(yaml.safe_dump({"waivers": [{"key": f["key"], **accepted} for f in findings]}), encoding="utf-8")
    return path


def test_the_correct_clinic_passes_the_gate(probity: Probity, tmp_path: Path) -> None:
    run = probity(*FULL, "--junit", str(tmp_path / "ci" / "junit.xml"))
    assert run.code == 0, run.output
    assert run.findings["run"]["exit_code"] == 0 and run.findings["run"]["counts"]["inconclusive"] == 0
    assert "gate PASS: exit 0" in run.output
    assert (run.junit.get("failures"), run.junit.get("errors")) == ("0", "0")
    assert (tmp_path / "ci" / "junit.xml").read_bytes() == (run.folder / "junit.xml").read_bytes()


def test_a_planted_defect_fails_the_gate_under_its_control(defect_run: Run, project_root: Path) -> None:
    defect = _defect(project_root)
    operation = defect["operation"].replace("/api/v1", "", 1)
    checks = [check for check, category in CATEGORIES.items() if category == defect["class"]]
    expected = {control for check in checks for control in controls_for(check)}
    caught = [f for f in defect_run.failing if f["operation"] == operation and f["category"] == defect["class"]]
    assert defect_run.code == 1, defect_run.output
    assert defect_run.findings["run"]["exit_code"] == 1
    assert caught and all(expected <= set(f["controls"]) for f in caught), (expected, caught)
    assert "OWASP API3:2023" in expected  # the class's mapping as the frameworks state it
    assert int(defect_run.junit.get("failures") or 0) >= 1


def test_waived_findings_pass_the_gate_and_stay_reported(defect_run: Run, probity: Probity, tmp_path: Path) -> None:
    waived = defect_run.failing
    run = probity("--defects", DEFECT, *FULL, "--waivers", str(_waivers(tmp_path, waived, "2099-12-31")))
    assert run.code == 0, run.output
    assert run.findings["run"]["exit_code"] == 0
    assert sorted(f["key"] for f in run.failing) == sorted(f["key"] for f in waived), "still reported"
    assert all(f["waiver"]["status"] == "active" and f["waiver"]["owner"] == "qa@example.org" for f in run.failing)
    assert "Waived findings" in run.output and f"{len(waived)} failing finding" in run.output
    skipped = [s.get("message") or "" for s in run.junit.iter("skipped")]
    assert any(m.startswith("waived until 2099-12-31 by qa@example.org") for m in skipped)


def test_an_expired_waiver_fails_the_gate_and_says_when(defect_run: Run, probity: Probity, tmp_path: Path) -> None:
    run = probity("--defects", DEFECT, *FULL, "--waivers", str(_waivers(tmp_path, defect_run.failing, "2020-01-31")))
    assert run.code == 1, run.output
    assert any(f.get("waiver", {}).get("status") == "expired" for f in run.failing)
    assert "expired on 2020-01-31" in run.output


def test_a_read_only_run_is_inconclusive_under_the_default_threshold(probity: Probity) -> None:
    run = probity(*SMALL, "--allow-writes-to", "nothing.invalid")
    assert run.code == 3, run.output
    assert run.findings["run"]["read_only"] is True and run.findings["run"]["exit_code"] == 3
    assert run.findings["run"]["counts"]["fail"] == 0 and run.findings["run"]["counts"]["inconclusive"] > 0
    assert "gate INCONCLUSIVE" in run.output
    assert int(run.junit.get("errors") or 0) > 0, "the CI's test report is red too"
