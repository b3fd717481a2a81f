"""What a review's results say, in the shapes a reviewer reads: the tracking table and three lists.

* the **tracking table**: every operation × every rule (``COLUMNS``) → PASS, FAIL, INCONCLUSIVE or N/A, with
  the reason of the first failure;
* the **schema gap analysis**: each table or column the blueprint uses that the DDL lacks, and where;
* the **missing-index list**: each uncovered column once, with the ``CREATE INDEX`` that covers it;
* the **critical issues**: tenancy leaks, missing audit and secret exposure, worst first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from probity.core.findings import Outcome, Result
from probity.review import COLUMNS

__all__ = [
    "CRITICAL_CHECKS",
    "Cell",
    "IndexSuggestion",
    "SchemaGap",
    "TrackingRow",
    "critical_issues",
    "missing_index_list",
    "schema_gaps",
    "tracking_table",
]

# The checks whose failures are critical issues, whatever their severity.
CRITICAL_CHECKS = ("review.tenancy", "review.audit", "review.secrets")
_WORST = (Outcome.FAIL, Outcome.INCONCLUSIVE, Outcome.PASS, Outcome.NOT_APPLICABLE)


@dataclass(frozen=True)
class Cell:
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class TrackingRow:
    operation: str
    cells: tuple[Cell, ...]  # in COLUMNS order

    @property
    def passed(self) -> bool:
        return all(cell.outcome is not Outcome.FAIL for cell in self.cells)


@dataclass(frozen=True)
class SchemaGap:
    kind: str  # table or column
    name: str  # "accounts" or "accounts.plan"
    locations: tuple[str, ...]


@dataclass(frozen=True)
class IndexSuggestion:
    table: str
    column: str
    create: str
    locations: tuple[str, ...]


def tracking_table(results: Iterable[Result], operations: Sequence[str]) -> list[TrackingRow]:
    """One row per operation, one cell per review rule: its worst outcome and why."""
    by_cell: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        by_cell.setdefault((result.operation, result.check), []).append(result)
    return [TrackingRow(op, tuple(_cell(by_cell.get((op, check), [])) for check in COLUMNS)) for op in operations]


def _cell(results: list[Result]) -> Cell:
    if not results:
        return Cell(Outcome.NOT_APPLICABLE, "not reviewed")
    worst = min(results, key=lambda r: _WORST.index(r.outcome))
    location = worst.evidence.get("location")
    return Cell(worst.outcome, f"{worst.message} ({location})" if location else worst.message)


def schema_gaps(results: Iterable[Result]) -> list[SchemaGap]:
    """Every table and column the blueprint uses that the DDL lacks, with where it is used."""
    gaps: dict[tuple[str, str], list[str]] = {}
    for result in results:
        if result.rule == "review.schema.unknown_table":
            key = ("table", str(result.evidence.get("table")))
        elif result.rule == "review.schema.unknown_column":
            key = ("column", f"{result.evidence.get('table')}.{result.evidence.get('column')}")
        else:
            continue
        gaps.setdefault(key, []).append(str(result.evidence.get("location", result.operation)))
    return [SchemaGap(kind, name, tuple(dict.fromkeys(where))) for (kind, name), where in sorted(gaps.items())]


def missing_index_list(results: Iterable[Result]) -> list[IndexSuggestion]:
    """Each column no index reaches, once, with the index that would (the first suggestion made for it)."""
    found: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for result in results:
        if result.rule != "review.indexes.missing":
            continue
        key = (str(result.evidence.get("table")), str(result.evidence.get("column")))
        create, where = found.setdefault(key, (str(result.evidence.get("create_index")), []))
        where.append(str(result.evidence.get("location", result.operation)))
    return [IndexSuggestion(t, c, create, tuple(dict.fromkeys(w))) for (t, c), (create, w) in sorted(found.items())]


def critical_issues(results: Iterable[Result]) -> list[Result]:
    """Tenancy leaks, missing audit and secret exposure, worst first."""
    critical = [r for r in results if r.failed and r.check in CRITICAL_CHECKS]
    return sorted(critical, key=lambda r: (-r.severity.rank, r.check, r.operation))
