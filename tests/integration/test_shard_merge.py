"""``--shard K/N`` end to end on the embedded clinic with every defect planted: with independent operations, the
merged shards conclude exactly what one unsharded run of the same seed and budget concludes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from probity.runtime.clusters import state_root

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# Small, but enough for planted defects to show: one pass, examples and coverage, two cases each.
BUDGET = ("--defects", "all", "--seed", "20261124", "--roles", "ADMIN", "--max-examples", "2")
BUDGET += ("--phases", "examples,coverage", "--max-inconclusive", "100%", "--independent-operations")


def _probity(reports: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "probity"
    env = {**os.environ, "PROBITY_REPORTS_DIR": str(reports), "COLUMNS": "200"}
    return subprocess.run([str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _run(reports: Path, cwd: Path, *args: str) -> Path:
    done = _probity(reports, cwd, "run", *BUDGET, *args)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # planted defects fail the run
    return (reports / "latest").resolve()


def _document(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "findings.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _results(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [result for section in ("findings", "passed", "not_applicable") for result in document[section]]


def _triples(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(r["rule"], r["operation"], r["status"]) for r in _results(document)}


def _keys(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(r["key"], r["status"]) for r in _results(document)}


def test_merged_shards_equal_the_unsharded_run(project_root: Path, isolated_state: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    whole = _document(_run(reports, project_root))
    shards = [_run(reports, project_root, "--shard", f"{index}/2") for index in (1, 2)]
    for index, shard in enumerate(shards, 1):
        document = _document(shard)
        own = set(document["run"]["shard"]["operations"])
        assert document["run"]["shard"]["index"] == index and own
        others = set(whole["run"]["operations"]) - own
        assert not {r["operation"] for r in _results(document)} & others, "a shard reported another's operations"
    done = _probity(reports, project_root, "merge", *map(str, shards), "-o", str(tmp_path / "merged"))
    assert done.returncode == 1, done.stdout + done.stderr
    merged = _document(tmp_path / "merged")
    assert merged["run"]["operations"] == whole["run"]["operations"]
    assert _triples(merged) == _triples(whole)
    assert _keys(merged) == _keys(whole)
    assert any(status == "fail" for _, _, status in _triples(merged))
    assert list(state_root().iterdir()) == [], "every shard's cluster must be gone"
