"""``findings.json``: every result of a run, machine-readable, in the run's folder (and ``reports/latest``).

It is also what every other report is made from: :func:`read_findings` turns it back into a
:class:`RunRecord` (run metadata and typed results), so a report can be rebuilt from a run folder and the
folders of several shards can be merged.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from probity.core.errors import ConfigError
from probity.core.findings import Category, Outcome, Result, Severity
from probity.engine.run import RunReport

__all__ = [
    "FORMAT_VERSION",
    "RunRecord",
    "as_record",
    "point_latest",
    "read_findings",
    "result_from_dict",
    "result_to_dict",
    "write_findings",
]

FORMAT_VERSION = 1
_RESULT_FIELDS = tuple(f.name for f in fields(Result))


@dataclass(frozen=True)
class RunRecord:
    """A finished run as reports see it: the metadata of ``findings.json`` ("run") and every result."""

    metadata: dict[str, Any]
    results: tuple[Result, ...]

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(self.metadata.get("operations", ()))


def as_record(run: RunReport | RunRecord) -> RunRecord:
    if isinstance(run, RunRecord):
        return run
    return RunRecord(_metadata(run), tuple(run.results))


def result_to_dict(result: Result) -> dict[str, Any]:
    """*result* as findings.json writes it. Shallow: its evidence is the result's own, not a copy (copying every
    result's evidence cost a 1,000-operation run about half a second); encode it, do not change it."""
    data = {name: getattr(result, name) for name in _RESULT_FIELDS}
    data.update(category=str(result.category), outcome=str(result.outcome), severity=str(result.severity))
    data["status"] = data.pop("outcome")
    data["controls"] = list(result.controls)
    data["key"] = result.key
    if result.waiver is None:
        del data["waiver"]  # only waived (or expired-waiver) findings carry one
    return data


def result_from_dict(data: dict[str, Any]) -> Result:
    """The inverse of :func:`result_to_dict`."""
    return Result(
        check=data["check"],
        rule=data["rule"],
        category=Category(data["category"]),
        outcome=Outcome(data["status"]),
        operation=data["operation"],
        message=data.get("message", ""),
        severity=Severity(data.get("severity", "info")),
        controls=tuple(data.get("controls", ())),
        evidence=data.get("evidence", {}),
        waiver=data.get("waiver"),
    )


def write_findings(run: RunReport | RunRecord, run_dir: Path) -> Path:
    """Write ``run_dir/findings.json``: run metadata, failing and inconclusive findings, and passed checks."""
    record = as_record(run)
    ordered = sorted(record.results, key=lambda r: (-r.severity.rank, r.category, r.operation, r.rule))
    document = {
        "format": FORMAT_VERSION,
        "run": record.metadata,
        "findings": [result_to_dict(r) for r in ordered if r.outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE)],
        "passed": [result_to_dict(r) for r in ordered if r.outcome is Outcome.PASS],
        "not_applicable": [result_to_dict(r) for r in ordered if r.outcome is Outcome.NOT_APPLICABLE],
    }
    path = run_dir / "findings.json"
    text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False, default=_nested_dataclass)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _nested_dataclass(value: Any) -> Any:
    """A dataclass inside some evidence, as a dict (what copying the results with ``asdict`` used to do)."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def read_findings(path: Path) -> RunRecord:
    """Read a ``findings.json`` (or the one in a run folder) back into a :class:`RunRecord`."""
    file = path / "findings.json" if path.is_dir() else path
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the findings of a run: {exc}", file) from exc
    if document.get("format") != FORMAT_VERSION:
        raise ConfigError(f"unknown findings format {document.get('format')!r} (expected {FORMAT_VERSION})", file)
    sections = ("findings", "passed", "not_applicable")
    results = tuple(result_from_dict(item) for section in sections for item in document.get(section, ()))
    return RunRecord(document["run"], results)


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
        "operations": list(report.operations),
        "provenance": report.provenance,
        "shard": _shard(report),
        "independent_operations": report.independent_operations,
    }


def _shard(report: RunReport) -> dict[str, Any] | None:
    """Which share of the contract a sharded run covered (``probity merge`` puts the shards back together)."""
    if report.shard is None:
        return None
    return {"index": report.shard.index, "count": report.shard.count, "operations": list(report.operations)}


def point_latest(reports_dir: Path, run_dir: Path) -> None:
    """Make ``reports_dir/latest`` point at *run_dir* (a relative symlink, replaced atomically)."""
    link = reports_dir / "latest"
    temporary = reports_dir / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_dir.name)
    temporary.replace(link)
