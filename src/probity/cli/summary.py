"""The end-of-run summary a person reads in a terminal or a CI log."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from probity.core.findings import Outcome, Result
from probity.engine.run import RunReport

__all__ = ["print_summary"]

_STYLE = {Outcome.FAIL: "red", Outcome.INCONCLUSIVE: "yellow", Outcome.PASS: "green", Outcome.NOT_APPLICABLE: "dim"}


def print_summary(console: Console, report: RunReport, findings: Path) -> None:
    console.print(_counts(report))
    failures = sorted(report.failures, key=lambda r: (-r.severity.rank, r.operation, r.rule))
    if failures:
        console.print(_failures(failures))
    for note in report.notes:
        console.print(f"[dim]- {note}[/]")
    inconclusive = sum(1 for r in report.results if r.outcome is Outcome.INCONCLUSIVE)
    if failures:
        verdict = "[red]FAIL[/]"
    elif inconclusive:
        verdict = "[yellow]PASS with gaps[/] (what was observed passed; INCONCLUSIVE results were not proven)"
    else:
        verdict = "[green]PASS[/]"
    console.print(
        f"{verdict}: {len(failures)} failing, {inconclusive} inconclusive; seed {report.seed}; results in {findings}"
    )


def _counts(report: RunReport) -> Table:
    table = Table(title=f"Probity run {report.run_id} — {report.target} at {report.api_root}")
    for outcome in Outcome:
        table.add_column(str(outcome).upper(), justify="right", style=_STYLE[outcome])
    table.add_row(*(str(sum(1 for r in report.results if r.outcome is o)) for o in Outcome))
    return table


def _failures(failures: list[Result]) -> Table:
    table = Table(title="Failing findings")
    for column in ("Severity", "Category", "Operation", "Rule", "Finding"):
        table.add_column(column, overflow="fold")
    for result in failures:
        table.add_row(str(result.severity), str(result.category), result.operation, result.rule, result.message)
    return table
