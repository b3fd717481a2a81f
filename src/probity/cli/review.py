"""``probity review``: the design review of an API reference, its blueprint and DDL, results in ``reports/``.

Without flags the default target's documents are reviewed (its ``documents:`` section, its policy and its
database DDL). Results go to ``reports/review-<stamp>/``: ``review.md``, ``review.json``, ``findings.json``
and Allure results, under the same control mapping as runs. Exit codes as for runs: 0 clean, 1 failing
findings, 2 configuration errors, 3 nothing failed but something could not be reviewed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from probity.cli.project import find_project
from probity.core.errors import ConfigError
from probity.core.findings import Outcome
from probity.core.provenance import collect_provenance
from probity.core.runs import new_run_dir
from probity.core.target import Target, load_target
from probity.reporting.findings_json import RunRecord, write_findings
from probity.review.render import write_review
from probity.review.run import ReviewDocuments, ReviewReport, review_documents
from probity.review.summary import critical_issues

__all__ = ["add_review_arguments", "run_review"]


def add_review_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", type=Path, help="take the documents from this target (default: [tool.probity])")
    parser.add_argument("--reference", type=Path, metavar="API-REFERENCE.md", help="the API reference")
    parser.add_argument("--blueprint", type=Path, metavar="BACKEND-DETAILS.md", help="the implementation blueprint")
    parser.add_argument("--ddl", type=Path, metavar="SCHEMA.sql", help="the database DDL")
    parser.add_argument("--policy", type=Path, metavar="POLICY.yaml", help="the compliance policy")
    parser.add_argument("--dsn", help="also compare the DDL with this running database (tables, columns, indexes)")


def run_review(args: argparse.Namespace) -> int:
    """Review the documents *args* name; write the report folder; print a summary; return the exit code."""
    target = _target(args)
    report = review_documents(_documents(args, target), args.dsn)
    project = find_project()
    run_dir = new_run_dir(project.reports_dir, prefix="review")
    markdown, _ = write_review(report, run_dir)
    record = _record(report, run_dir, target.name if target else None, project.root)
    write_findings(record, run_dir)
    allure = _write_allure(record, run_dir)
    _print(Console(), report, markdown, allure)
    return report.exit_code


def _documents(args: argparse.Namespace, target: Target | None) -> ReviewDocuments:
    given = {name: getattr(args, name) for name in ("reference", "blueprint", "ddl", "policy")}
    if any(value is None for value in given.values()):
        defaults = _target_documents(target)
        given = {name: value or defaults.get(name) for name, value in given.items()}
    missing = sorted(name for name, value in given.items() if value is None)
    if missing:
        flags = ", ".join(f"--{name}" for name in missing)
        raise ConfigError(f"no {', '.join(missing)} to review: pass {flags} or name them in the target file")
    for name, path in given.items():
        if not Path(path).is_file():
            raise ConfigError(f"the {name} to review does not exist", path)
    return ReviewDocuments(**{name: Path(path) for name, path in given.items()})


def _target(args: argparse.Namespace) -> Target | None:
    path = args.target or find_project().default_target
    return load_target(path) if path is not None else None


def _target_documents(target: Target | None) -> dict[str, Path]:
    if target is None:
        return {}
    found: dict[str, Path] = {}
    if target.documents is not None:
        found.update({k: target.resolve(v) for k, v in target.documents.model_dump().items() if v is not None})
    if target.policy is not None:
        found["policy"] = target.resolve(target.policy)
    if target.database is not None:
        found["ddl"] = target.resolve(target.database.ddl)
    return found


def _record(report: ReviewReport, run_dir: Path, target: str | None, root: Path) -> RunRecord:
    counts = {str(o): sum(1 for r in report.results if r.outcome is o) for o in Outcome}
    metadata: dict[str, Any] = {
        "id": run_dir.name,
        "kind": "review",
        "target": target,
        "api_root": None,
        "seed": None,
        "read_only": True,
        "started": report.started,
        "finished": report.finished,
        "passes": [],
        "counts": counts,
        "exit_code": report.exit_code,
        "notes": list(report.notes),
        "operations": list(report.operations),
        "provenance": collect_provenance(report.documents.as_dict(), root, sys.argv),
    }
    return RunRecord(metadata, report.results)


def _write_allure(record: RunRecord, run_dir: Path) -> Path | None:
    try:
        from probity.reporting.allure import write_allure_results
    except ImportError:  # the Allure writer is optional; findings.json holds everything it would
        return None
    return write_allure_results(record, run_dir)


def _print(console: Console, report: ReviewReport, markdown: Path, allure: Path | None) -> None:
    failed = [r for r in report.results if r.failed]
    inconclusive = sum(1 for r in report.results if r.outcome is Outcome.INCONCLUSIVE)
    console.print(f"[bold]probity review[/] {len(report.operations)} operations, {len(report.results)} results")
    for issue in critical_issues(report.results)[:10]:
        console.print(f"- [red]{issue.severity}[/] {escape(issue.operation)} {issue.rule}: {escape(issue.message)}")
    for note in report.notes:
        console.print(f"[dim]- {escape(note)}[/]")
    label = "[green]clean[/]" if report.exit_code == 0 else "[red]findings[/]" if failed else "[yellow]inconclusive[/]"
    extra = f"; Allure results in {allure}" if allure else ""
    console.print(f"{label}: {len(failed)} failing, {inconclusive} inconclusive; report in {markdown}{extra}")
