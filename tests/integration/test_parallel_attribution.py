"""Traceparent attribution with two schemathesis workers, end to end: requests overlap, and every one of them is
still tied to exactly its own SQL (in batches), so the planted defects are caught and nothing else fires."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_two_workers_catch_sql_defects_with_no_false_positive(project_root: Path, isolated_state: Path) -> None:
    reports = isolated_state.parent / "reports"
    env = {**os.environ, "PROBITY_REPORTS_DIR": str(reports), "COLUMNS": "200"}
    argv = [
        str(Path(sys.executable).parent / "probity"), "run", "--attribution", "traceparent", "--workers", "2",
        "--roles", "ADMIN", "--phases", "examples,coverage", "--max-examples", "2", "--seed", "5",
        "--defects", "n-plus-one,secrets-select-star,tenancy-read-unscoped",
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=project_root, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr
    findings = json.loads((reports / "latest" / "findings.json").read_text(encoding="utf-8"))
    failing = {(f["operation"], f["category"]) for f in findings["findings"] if f["status"] == "fail"}
    assert failing == {
        ("GET /threads", "n_plus_one"),
        ("GET /organizations/{organization_id}/members", "secrets"),
        ("GET /patients/{patient_id}", "tenancy"),
    }
    # Requests that run no SQL (a refresh token rejected before any query) stay INCONCLUSIVE, as they must;
    # a batch whose sync marker never showed would say so here.
    unread = [f for f in findings["findings"] if f["message"] == "the statement log could not be read"]
    assert unread == []
    probed = [n for n in findings["run"]["notes"] if n.endswith("requests probed against their SQL")]
    assert probed and int(probed[0].split()[0]) > 50
