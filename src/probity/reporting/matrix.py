"""The compliance matrix: every operation against every kind of check, and every control's verdict.

Rows are the contract's operations in contract order, then any operation a result names that the contract lacks
(an undocumented one the backend serves). Each cell is the worst outcome of that operation's results in the
column (FAIL > INCONCLUSIVE > PASS > N/A) with the rule ids that decided it. A cell no result reached is
INCONCLUSIVE "not observed": nothing was seen, so nothing passed. Robustness results (server errors, security
headers) count under Contract; code review findings belong to no operation and appear only per control.

Per control of every framework: the worst outcome over the results of the control's checks, counts per
outcome and the failing operations; a control none of whose checks produced a result is INCONCLUSIVE.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probity.core.compliance import Control, Framework, frameworks
from probity.core.findings import Category, Outcome, Result
from probity.engine.inventory import DOCUMENTED, IMPLEMENTED, UNDOCUMENTED
from probity.reporting.findings_json import RunRecord

__all__ = [
    "COLUMNS",
    "FORMAT_VERSION",
    "Cell",
    "ControlSummary",
    "Matrix",
    "Row",
    "build_matrix",
    "column_of",
    "matrix_json",
    "matrix_markdown",
    "worst",
    "write_matrix",
]

FORMAT_VERSION = 1
COLUMNS = ("Documented", "Implemented", "Contract", "AuthN", "Tenancy", "Audit", "Secrets", "Pagination",
           "Injection", "N+1")  # fmt: skip
NOT_OBSERVED = "not observed"

_BY_CATEGORY = {
    Category.CONTRACT: "Contract",
    Category.ROBUSTNESS: "Contract",
    Category.AUTHN: "AuthN",
    Category.TENANCY: "Tenancy",
    Category.AUDIT: "Audit",
    Category.SECRETS: "Secrets",
    Category.PAGINATION: "Pagination",
    Category.INJECTION: "Injection",
    Category.N_PLUS_ONE: "N+1",
}
_BY_RULE = {DOCUMENTED: "Documented", UNDOCUMENTED: "Documented", IMPLEMENTED: "Implemented"}
# Worst first: a cell or control shows the first of these its results have.
_SEVERITY_ORDER = (Outcome.FAIL, Outcome.INCONCLUSIVE, Outcome.PASS, Outcome.NOT_APPLICABLE)
_SHOWN_RULES = 3


@dataclass(frozen=True)
class Cell:
    """One operation in one column: the worst outcome, the rules that gave it, and counts per outcome."""

    outcome: Outcome
    rules: tuple[str, ...]
    counts: dict[str, int]

    @property
    def reason(self) -> str:
        if not self.rules:
            return NOT_OBSERVED
        more = len(self.rules) - _SHOWN_RULES
        return ", ".join(self.rules[:_SHOWN_RULES]) + (f" +{more} more" if more > 0 else "")

    @property
    def text(self) -> str:
        """How the Markdown shows it, e.g. ``FAIL (tenancy_filter.unscoped_read)``; a PASS needs no reason."""
        label = str(self.outcome).upper()
        return label if self.outcome is Outcome.PASS else f"{label} ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": str(self.outcome), "reason": self.reason, "rules": list(self.rules), "counts": self.counts}


@dataclass(frozen=True)
class Row:
    operation: str
    in_contract: bool
    cells: dict[str, Cell]


@dataclass(frozen=True)
class ControlSummary:
    """One control of one framework, judged over the results of its checks."""

    framework: str
    label: str
    title: str
    checks: tuple[str, ...]
    cell: Cell
    failing_operations: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "control": self.label,
            "title": self.title,
            "checks": list(self.checks),
            "outcome": str(self.cell.outcome),
            "reason": self.cell.reason if self.cell.rules else "no check observed it",
            "counts": self.cell.counts,
            "failing_operations": list(self.failing_operations),
        }


@dataclass(frozen=True)
class Matrix:
    run: dict[str, Any]
    rows: tuple[Row, ...]
    controls: tuple[ControlSummary, ...]

    def totals(self) -> dict[str, dict[str, int]]:
        """Per column, how many operations' cells have each outcome."""
        return {column: _count(row.cells[column].outcome for row in self.rows) for column in COLUMNS}


def worst(outcomes: Iterable[Outcome]) -> Outcome | None:
    """The worst of *outcomes*, None when there are none.

    >>> worst([Outcome.PASS, Outcome.NOT_APPLICABLE, Outcome.INCONCLUSIVE])
    <Outcome.INCONCLUSIVE: 'inconclusive'>
    """
    present = set(outcomes)
    return next((outcome for outcome in _SEVERITY_ORDER if outcome in present), None)


def column_of(result: Result) -> str | None:
    """The matrix column a result counts in; None for results about no operation's behaviour (code review)."""
    return _BY_RULE.get(result.rule) or _BY_CATEGORY.get(result.category)


def build_matrix(record: RunRecord) -> Matrix:
    """The matrix and per-control summary of a finished run."""
    by_operation, documented = _by_operation(record.results), set(record.operations)
    rows = tuple(_row(op, op in documented, by_operation.get(op, [])) for op in _rows(record))
    controls = tuple(
        _control(framework, control, record.results) for framework in frameworks() for control in framework.controls
    )
    return Matrix(_run_summary(record.metadata), rows, controls)


def _rows(record: RunRecord) -> list[str]:
    """The contract's operations, then those only results name, each once, in the order first seen."""
    return list(dict.fromkeys([*record.operations, *(r.operation for r in record.results if column_of(r))]))


def _by_operation(results: Sequence[Result]) -> dict[str, list[Result]]:
    """Each operation's results, in run order: one pass, not one per operation (a 1,000-operation run has 18,000)."""
    grouped: dict[str, list[Result]] = {}
    for result in results:
        grouped.setdefault(result.operation, []).append(result)
    return grouped


def _row(operation: str, in_contract: bool, mine: Sequence[Result]) -> Row:
    """The row of *operation* from its own results."""
    return Row(
        operation, in_contract, {column: _cell([r for r in mine if column_of(r) == column]) for column in COLUMNS}
    )


def _cell(results: Sequence[Result]) -> Cell:
    outcome = worst(r.outcome for r in results)
    if outcome is None:
        return Cell(Outcome.INCONCLUSIVE, (), {})
    # A rule id reads like a finding ("…inlined_input"); for what did not apply, name the checks instead.
    named = (r.check if outcome is Outcome.NOT_APPLICABLE else r.rule for r in results if r.outcome is outcome)
    return Cell(outcome, tuple(sorted(set(named))), _count(r.outcome for r in results))


def _count(outcomes: Iterable[Outcome]) -> dict[str, int]:
    listed = list(outcomes)
    return {str(outcome): listed.count(outcome) for outcome in _SEVERITY_ORDER if outcome in listed}


def _control(framework: Framework, control: Control, results: Sequence[Result]) -> ControlSummary:
    mine = [r for r in results if r.check in control.checks]
    failing = tuple(sorted({r.operation for r in mine if r.outcome is Outcome.FAIL}))
    return ControlSummary(framework.name, framework.label(control), control.title, control.checks, _cell(mine), failing)


def _run_summary(metadata: dict[str, Any]) -> dict[str, Any]:
    provenance = metadata.get("provenance") or {}
    keys = ("id", "target", "api_root", "seed", "started", "finished", "exit_code", "read_only")
    return {**{key: metadata.get(key) for key in keys}, "git": provenance.get("git")}


def matrix_json(matrix: Matrix) -> str:
    document = {
        "format": FORMAT_VERSION,
        "run": matrix.run,
        "columns": list(COLUMNS),
        "operations": [
            {
                "operation": row.operation,
                "in_contract": row.in_contract,
                "cells": {column: cell.to_dict() for column, cell in row.cells.items()},
            }
            for row in matrix.rows
        ],
        "totals": matrix.totals(),
        "controls": [control.to_dict() for control in matrix.controls],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def matrix_markdown(matrix: Matrix) -> str:
    run = matrix.run
    lines = [
        f"# Compliance matrix: run {run.get('id')}",
        "",
        f"Target `{run.get('target')}` at {run.get('api_root')}, seed {run.get('seed')}, {run.get('started')}"
        f" to {run.get('finished')}; exit code {run.get('exit_code')}.",
        "",
        "Each cell is the worst outcome of the operation's results in that column (FAIL > INCONCLUSIVE > PASS >"
        f" N/A), with the rules that decided it; a cell no result reached is INCONCLUSIVE ({NOT_OBSERVED}).",
        "",
        "## Operations",
        "",
        *_table(["Operation", *COLUMNS], [_row_cells(row) for row in matrix.rows]),
        "",
        *_table(["Totals", *COLUMNS], [_totals_cells(matrix, outcome) for outcome in _SEVERITY_ORDER]),
        *_controls_markdown(matrix.controls),
    ]
    return "\n".join(lines) + "\n"


def _row_cells(row: Row) -> list[str]:
    name = f"`{row.operation}`" if row.in_contract else f"`{row.operation}` (not in the contract)"
    return [name, *(row.cells[column].text for column in COLUMNS)]


def _totals_cells(matrix: Matrix, outcome: Outcome) -> list[str]:
    totals = matrix.totals()
    return [str(outcome).upper(), *(str(totals[column].get(str(outcome), 0)) for column in COLUMNS)]


def _controls_markdown(controls: Sequence[ControlSummary]) -> list[str]:
    lines: list[str] = []
    for framework in dict.fromkeys(control.framework for control in controls):
        mine = [control for control in controls if control.framework == framework]
        header = ["Control", "Title", "Outcome", *(str(o).upper() for o in _SEVERITY_ORDER), "Failing operations"]
        lines += ["", f"## {framework}", "", *_table(header, [_control_cells(control) for control in mine])]
    return lines


def _control_cells(control: ControlSummary) -> list[str]:
    outcome = str(control.cell.outcome).upper() if control.cell.rules else "INCONCLUSIVE (no check observed it)"
    counts = [str(control.cell.counts.get(str(o), 0)) for o in _SEVERITY_ORDER]
    failing = ", ".join(f"`{operation}`" for operation in control.failing_operations) or "none"
    return [control.label, control.title, outcome, *counts, failing]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [line(header), line(["---"] * len(header)), *(line(row) for row in rows)]


def write_matrix(record: RunRecord, run_dir: Path) -> Path:
    """Write ``run_dir/matrix.md`` and ``run_dir/matrix.json``; return the Markdown's path."""
    matrix = build_matrix(record)
    (run_dir / "matrix.json").write_text(matrix_json(matrix), encoding="utf-8")
    path = run_dir / "matrix.md"
    path.write_text(matrix_markdown(matrix), encoding="utf-8")
    return path
