"""A review as ``review.md`` (for people) and ``review.json`` (for tools), from the same summaries."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from probity.core.findings import Outcome, Result
from probity.review import COLUMNS
from probity.review.run import ReviewReport
from probity.review.summary import (
    critical_issues,
    missing_index_list,
    schema_gaps,
    tracking_table,
)

__all__ = ["render_json", "render_markdown", "write_review"]

_MARKS = {
    Outcome.PASS: "PASS",
    Outcome.FAIL: "FAIL",
    Outcome.INCONCLUSIVE: "INCONCLUSIVE",
    Outcome.NOT_APPLICABLE: "n/a",
}


def write_review(report: ReviewReport, folder: Path) -> tuple[Path, Path]:
    """Write ``review.md`` and ``review.json`` into *folder*; return their paths."""
    markdown, document = folder / "review.md", folder / "review.json"
    markdown.write_text(render_markdown(report), encoding="utf-8")
    document.write_text(json.dumps(render_json(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return markdown, document


def render_json(report: ReviewReport) -> dict[str, Any]:
    """The review as data: documents, counts, tracking table, gaps, missing indexes, critical issues, results."""
    rows = tracking_table(report.results, report.operations)
    return {
        "documents": {name: str(path) for name, path in report.documents.as_dict().items()},
        "started": report.started,
        "finished": report.finished,
        "exit_code": report.exit_code,
        "drift_checked": report.drift_checked,
        "counts": {str(o): sum(1 for r in report.results if r.outcome is o) for o in Outcome},
        "notes": list(report.notes),
        "columns": list(COLUMNS.values()),
        "tracking": [
            {
                "operation": row.operation,
                **{
                    COLUMNS[c]: {"status": str(cell.outcome), "reason": cell.reason}
                    for c, cell in zip(COLUMNS, row.cells, strict=True)
                },
            }
            for row in rows
        ],  # fmt: skip
        "schema_gaps": [asdict(gap) for gap in schema_gaps(report.results)],
        "missing_indexes": [asdict(index) for index in missing_index_list(report.results)],
        "critical_issues": [_brief(result) for result in critical_issues(report.results)],
        "drift": [_brief(result) for result in report.results if result.check == "review.drift"],
        "findings": [
            _brief(result) for result in report.results if result.outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE)
        ],
    }


def _brief(result: Result) -> dict[str, Any]:
    return {
        "operation": result.operation,
        "rule": result.rule,
        "status": str(result.outcome),
        "severity": str(result.severity),
        "message": result.message,
        "controls": list(result.controls),
        "evidence": result.evidence,
    }


def render_markdown(report: ReviewReport) -> str:
    """The review for people: verdict, tracking table, critical issues, schema gaps, missing indexes, drift."""
    parts = [
        _heading(report),
        _tracking(report),
        _critical(report),
        _gaps(report),
        _indexes(report),
        _drift(report),
        _notes(report),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def _heading(report: ReviewReport) -> str:
    failed = sum(1 for r in report.results if r.failed)
    verdict = "clean" if report.exit_code == 0 else f"{failed} failing finding(s)" if failed else "inconclusive"
    documents = "\n".join(f"- {name}: `{path}`" for name, path in report.documents.as_dict().items())
    return f"# Design review: {verdict}\n\n{documents}\n- reviewed: {report.finished} (exit code {report.exit_code})"


def _tracking(report: ReviewReport) -> str:
    rows = tracking_table(report.results, report.operations)
    header = "| Operation | " + " | ".join(COLUMNS.values()) + " |"
    rule = "| --- |" + " --- |" * len(COLUMNS)
    lines = [f"| `{row.operation}` | " + " | ".join(_mark(c.outcome) for c in row.cells) + " |" for row in rows]
    reasons = [
        f"- `{row.operation}` {heading}: {_cell_text(cell.reason)}"
        for row in rows
        for heading, cell in zip(COLUMNS.values(), row.cells, strict=True)
        if cell.outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE)
    ]
    why = "\n\nWhy:\n\n" + "\n".join(reasons) if reasons else ""
    return "## Tracking table\n\n" + "\n".join([header, rule, *lines]) + why


def _mark(outcome: Outcome) -> str:
    return _MARKS[outcome]


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _critical(report: ReviewReport) -> str:
    issues = critical_issues(report.results)
    lines = [f"- **{r.severity}** `{r.operation}` {r.rule}: {r.message}" + _at(r) for r in issues] or [
        "None: no tenancy leak, missing audit or secret exposure."
    ]
    return "## Critical issues\n\n" + "\n".join(lines)


def _at(result: Result) -> str:
    location = result.evidence.get("location")
    return f" ({location})" if location else ""


def _gaps(report: ReviewReport) -> str:
    gaps = schema_gaps(report.results)
    lines = [f"- {gap.kind} `{gap.name}`: used at {', '.join(gap.locations)}" for gap in gaps]
    return "## Schema gap analysis\n\n" + ("\n".join(lines) or "None: the blueprint uses only what the DDL creates.")


def _indexes(report: ReviewReport) -> str:
    indexes = missing_index_list(report.results)
    lines = [f"- `{i.table}.{i.column}` ({', '.join(i.locations)}):\n  `{i.create}`" for i in indexes]
    return "## Missing indexes\n\n" + ("\n".join(lines) or "None: every filtered, joined and sorted column is indexed.")


def _drift(report: ReviewReport) -> str:
    if not report.drift_checked:
        return "## Drift against the database\n\nNot checked (no `--dsn`)."
    drifted = [r for r in report.results if r.check == "review.drift" and r.failed]
    lines = [f"- **{r.severity}** {r.operation}: {r.message}" for r in drifted]
    return "## Drift against the database\n\n" + ("\n".join(lines) or "None: the database matches the DDL.")


def _notes(report: ReviewReport) -> str:
    return "## Notes\n\n" + "\n".join(f"- {note}" for note in report.notes) if report.notes else ""
