"""``findings.json``: every result of a run, machine-readable, in the run's folder (and ``reports/latest``)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from probity.core.findings import Outcome, Result
from probity.engine.run import RunReport

__all__ = ["FORMAT_VERSION", "point_latest", "result_to_dict", "write_findings"]

FORMAT_VERSION = 1


def result_to_dict(result: Result) -> dict[str, Any]:
    data = asdict(result)
    data.update(category=str(result.category), outcome=str(result.outcome), severity=str(result.severity))
    data["status"] = data.pop("outcome")
    data["controls"] = list(result.controls)
    data["key"] = result.key
    return data


def write_findings(report: RunReport, run_dir: Path) -> Path:
    """Write ``run_dir/findings.json``: run metadata, failing and inconclusive findings, and passed checks."""
    ordered = sorted(report.results, key=lambda r: (-r.severity.rank, r.category, r.operation, r.rule))
    document = {
        "format": FORMAT_VERSION,
        "run": _metadata(report),
        "findings": [result_to_dict(r) for r in ordered if r.outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE)],
        "passed": [result_to_dict(r) for r in ordered if r.outcome is Outcome.PASS],
        "not_applicable": [result_to_dict(r) for r in ordered if r.outcome is Outcome.NOT_APPLICABLE],
    }
    path = run_dir / "findings.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    return path


def _metadata(report: RunReport) -> dict[str, Any]:
    counts = {str(o): sum(1 for r in report.results if r.outcome is o) for o in Outcome}
    return {
        "id": report.run_id,
        "target": report.target,
        "api_root": report.api_root,
        "seed": report.seed,
        "read_only": report.read_only,
        "started": report.started,
        "finished": report.finished,
        "passes": [asdict(p) for p in report.passes],
        "counts": counts,
        "exit_code": report.exit_code,
        "notes": report.notes,
    }


def point_latest(reports_dir: Path, run_dir: Path) -> None:
    """Make ``reports_dir/latest`` point at *run_dir* (a relative symlink, replaced atomically)."""
    link = reports_dir / "latest"
    temporary = reports_dir / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_dir.name)
    temporary.replace(link)
