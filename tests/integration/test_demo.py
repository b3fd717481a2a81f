"""`probity demo`, the README's main command, end to end on the embedded default, run as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from probity.runtime.clusters import state_root

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _env() -> dict[str, str]:
    reports = Path(os.environ["PROBITY_STATE_DIR"]).parent / "reports"
    return {**os.environ, "PROBITY_REPORTS_DIR": str(reports), "COLUMNS": "200"}


def _probity(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "probity"
    return subprocess.run([str(script), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900)


def _words(text: str) -> str:
    """The output's words, without the table's box drawing."""
    return " ".join(text.translate({ord(c): " " for c in "│┃┌┐└┘─┬┴├┤┼━┏┓┗┛┳┻╇┡┩"}).split())


def _findings(project_root: Path) -> dict[str, object]:
    latest = Path(_env()["PROBITY_REPORTS_DIR"]) / "latest" / "findings.json"
    return json.loads(latest.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_serve_starts_the_stack_and_stops_it_cleanly_on_sigterm(project_root: Path, isolated_state: Path) -> None:
    script = Path(sys.executable).parent / "probity"
    server = subprocess.Popen(
        [str(script), "demo", "--serve"], cwd=project_root, env=_env(), stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    seen = ""
    deadline = time.monotonic() + 120
    while "Serving until interrupted" not in seen and time.monotonic() < deadline:
        seen += server.stdout.readline()
    server.send_signal(signal.SIGTERM)
    rest, _ = server.communicate(timeout=60)
    words = _words(seen + rest)
    assert server.returncode == 0, words
    assert "OpenAPI" in words and "(43 operations)" in words and "Planted defects none (correct mode)" in words
    assert "stopped cleanly" in words
    assert list(state_root().iterdir()) == [], "the cluster folder must be gone after the demo"


def test_demo_on_the_correct_clinic_passes(project_root: Path, isolated_state: Path) -> None:
    done = _probity("demo", "--max-examples", "5", "--seed", "1", cwd=project_root)
    assert done.returncode == 0, _words(done.stdout + done.stderr)
    findings = _findings(project_root)
    assert findings["run"]["exit_code"] == 0  # type: ignore[index]
    assert [f for f in findings["findings"] if f["status"] == "fail"] == []  # type: ignore[index,union-attr]
    assert list(state_root().iterdir()) == []
