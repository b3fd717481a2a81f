"""Both ways of tying SQL to requests, end to end: fences (one request at a time) catch what traceparents do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_fence_attribution_catches_sql_defects_with_no_false_positive(project_root: Path, isolated_state: Path) -> None:
    reports = isolated_state.parent / "reports"
    env = {**os.environ, "PROBITY_REPORTS_DIR": str(reports), "COLUMNS": "200"}
    argv = [
        str(Path(sys.executable).parent / "probity"), "run", "--attribution", "fence", "--roles", "ADMIN",
        "--phases", "examples,coverage", "--max-examples", "2", "--seed", "5",
        "--defects", "n-plus-one,secrets-select-star",
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=project_root, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr
    findings = json.loads((reports / "latest" / "findings.json").read_text(encoding="utf-8"))
    assert "SQL attribution by fence" in findings["run"]["notes"]
    failing = {(f["operation"], f["category"]) for f in findings["findings"] if f["status"] == "fail"}
    assert failing == {
        ("GET /threads", "n_plus_one"),
        ("GET /organizations/{organization_id}/members", "secrets"),
    }
    probed = [n for n in findings["run"]["notes"] if n.endswith("requests probed against their SQL")]
    assert probed and int(probed[0].split()[0]) > 50
