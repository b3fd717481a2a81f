"""The end-of-run summary a person reads in a terminal or a CI log."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from probity.core.findings import Outcome, Result
from probity.engine.run import RunReport
from probity.reporting.gate import EXIT_FINDINGS, EXIT_INCONCLUSIVE, Verdict

__all__ = ["print_summary"]

_STYLE = {Outcome.FAIL: "red", Outcome.INCONCLUSIVE: "yellow", Outcome.PASS: "green", Outcome.NOT_APPLICABLE: "dim"}


def print_summary(console: Console, report: RunReport, findings: Path, verdict: Verdict | None = None) -> None:
    console.print(_counts(report))
    ordered = sorted(report.failures, key=lambda r: (-r.severity.rank, r.operation, r.rule))
    failures = [r for r in ordered if not r.waived]
    if failures:
        console.print(_failures(failures))
    waived = [r for r in ordered if r.waived]
    if waived:
        console.print(_waived(waived))
    for note in report.notes:
        console.print(f"[dim]- {note}[/]")
    if verdict is not None:
        _print_verdict(console, verdict, report.seed, findings)
    else:
        _print_outcome(console, report, len(failures), findings)


def _print_outcome(console: Console, report: RunReport, failing: int, findings: Path) -> None:
    """The last line when no gate judged the run (``probity observe``)."""
    inconclusive = sum(1 for r in report.results if r.outcome is Outcome.INCONCLUSIVE)
    if failing:
        label = "[red]FAIL[/]"
    elif inconclusive:
        label = "[yellow]PASS with gaps[/] (what was observed passed; INCONCLUSIVE results were not proven)"
    else:
        label = "[green]PASS[/]"
    console.print(f"{label}: {failing} failing, {inconclusive} inconclusive; seed {report.seed}; results in {findings}")


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


def _waived(waived: list[Result]) -> Table:
    table = Table(title="Waived findings (reported; they do not fail the gate)")
    for column in ("Operation", "Rule", "Owner", "Until", "Justification"):
        table.add_column(column, overflow="fold")
    for result in waived:
        waiver = result.waiver or {}
        cells = (result.operation, result.rule, *(waiver.get(k, "") for k in ("owner", "expires", "justification")))
        table.add_row(*(escape(cell) for cell in cells))
    return table


def _print_verdict(console: Console, verdict: Verdict, seed: int, findings: Path) -> None:
    for reason in verdict.reasons:
        console.print(f"- {escape(reason)}")
    if verdict.exit_code == EXIT_FINDINGS:
        label = "[red]FAIL[/]"
    elif verdict.exit_code == EXIT_INCONCLUSIVE:
        label = "[yellow]INCONCLUSIVE[/] (more results were not proven than --max-inconclusive allows)"
    else:
        label = "[green]PASS[/]"
    console.print(f"gate {label}: exit {verdict.exit_code}; seed {seed}; results in {findings}")
