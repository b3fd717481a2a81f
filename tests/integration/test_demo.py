"""`probity demo`, the README's main command, end to end on the embedded default, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from probity.runtime.clusters import state_root

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _probity(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "probity"
    reports = Path(os.environ["PROBITY_STATE_DIR"]).parent / "reports"
    env = {**os.environ, "PROBITY_REPORTS_DIR": str(reports), "COLUMNS": "200"}
    return subprocess.run([str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _words(text: str) -> str:
    """The output's words, without the table's box drawing."""
    return " ".join(text.translate({ord(c): " " for c in "│┃┌┐└┘─┬┴├┤┼"}).split())


def test_demo_starts_the_clinic_on_postgres_and_stops_everything(project_root: Path, isolated_state: Path) -> None:
    done = _probity("demo", cwd=project_root)
    assert done.returncode == 0, done.stdout + done.stderr
    out = _words(done.stdout)
    assert "target clinic" in out
    assert "jsonlog" not in done.stderr
    assert "OpenAPI" in out and "operations)" in out
    assert "Planted defects none (correct mode)" in out
    assert "demo finished" in out
    assert list(state_root().iterdir()) == [], "the cluster folder must be gone after the demo"


def test_demo_passes_planted_defects_through(project_root: Path, isolated_state: Path) -> None:
    done = _probity("demo", "--defects", "all", cwd=project_root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Planted defects all" in _words(done.stdout)
