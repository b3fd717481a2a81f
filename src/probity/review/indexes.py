"""Indexes: every filtered, joined or sorted column of a statement can be reached through an index.

The coverage rule is B-tree's prefix rule, decided once here: a column *c* of a table reference is covered
when some index of the table (the primary key and unique constraints included) has *c* at a position whose
preceding columns are all equality-constrained by the same reference (``=``, ``IN``, ``= ANY``, ``IS NULL``,
``IS NOT DISTINCT FROM``). So *c* leading an index always covers it, and a composite tenant-first index
``(tenant_id, c)`` covers *c* for a query that filters by the tenant; ``(tenant_id, deleted_at, last_name)``
covers ``last_name`` under ``tenant_id = $1 AND deleted_at IS NULL``. Columns that need coverage: every
column a predicate that holds for every row compares (filters and join conditions) and every ORDER BY column
of the table.

Rule: ``review.indexes.missing`` (MEDIUM), one per uncovered column, with the ``CREATE INDEX`` that would
cover it (tenant-first when the reference filters by the tenant). NOT_APPLICABLE when no statement filters
or sorts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from probity.core.findings import Outcome, Result, Severity
from probity.review.context import ReviewContext, Reviewed, Subject, unread
from probity.sql import Kind, StatementFacts, TableRef
from probity.sql.ddl import pg_default_name

__all__ = ["MissingIndex", "indexes", "missing_indexes"]

RULE = "review.indexes"
_EQUALITY = ("=", "IN", "= ANY", "IS", "IS NOT DISTINCT FROM")


@dataclass(frozen=True)
class MissingIndex:
    """A column no index reaches for one table reference, and the index that would."""

    table: str
    column: str
    columns: tuple[str, ...]  # the suggested index's columns

    @property
    def create(self) -> str:
        name = pg_default_name(self.table, list(self.columns), "idx")
        return f"CREATE INDEX {name} ON {self.table} ({', '.join(self.columns)});"


def indexes(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    """Judge the columns every statement of the operation filters, joins or sorts on."""
    yield from ctx.unreviewable(subject, RULE)
    if subject.endpoint is None:
        return
    statements = [r for r in ctx.data_statements(subject.endpoint) if r.readable and r.facts.kind is not Kind.INSERT]
    failures = [result for reviewed in statements for result in _judge(subject, reviewed, ctx)]
    yield from failures
    unparsed = None if failures else unread(subject, ctx, RULE)
    if unparsed is not None:
        yield unparsed
    elif not failures and any(_needs(r.facts) for r in statements):
        yield ctx.result(
            subject, f"{RULE}.covered", Outcome.PASS, "every filtered, joined and sorted column is indexed"
        )
    elif not failures:
        yield ctx.result(subject, f"{RULE}.no_filter", Outcome.NOT_APPLICABLE, "no statement filters or sorts")


def _needs(facts: StatementFacts) -> bool:
    return bool(facts.order_by) or any(ref.predicates for ref in facts.tables)


def _judge(subject: Subject, reviewed: Reviewed, ctx: ReviewContext) -> Iterator[Result]:
    for missing in missing_indexes(reviewed.facts, ctx):
        message = f"no index reaches {missing.table}.{missing.column}, which the statement filters, joins or sorts on"
        evidence = ctx.statement_evidence(
            reviewed, table=missing.table, column=missing.column, create_index=missing.create
        )
        yield ctx.result(subject, f"{RULE}.missing", Outcome.FAIL, message, Severity.MEDIUM, evidence)


def missing_indexes(facts: StatementFacts, ctx: ReviewContext) -> list[MissingIndex]:
    """Every (table, column) of the statement that no index covers, with the index that would."""
    found: dict[tuple[str, str], MissingIndex] = {}
    for ref in facts.tables:
        table = ctx.catalog.table(ref.table)
        if table is None:
            continue  # an unknown table is the schema rule's finding
        equal = {p.column.lower() for p in ref.predicates if p.op in _EQUALITY}
        lists = [tuple(c.lower() for c in columns) for columns in table.index_column_lists()]
        for column in _needed(ref, facts):
            if not any(_reaches(columns, column, equal) for columns in lists):
                found.setdefault((ref.table, column), _suggest(ref, column, equal, ctx))
    return list(found.values())


def _needed(ref: TableRef, facts: StatementFacts) -> list[str]:
    filtered = [p.column.lower() for p in ref.predicates]
    sorted_ = [k.column.column.lower() for k in facts.order_by if k.column and k.column.table == ref.table]
    return list(dict.fromkeys(filtered + sorted_))


def _reaches(columns: tuple[str, ...], column: str, equal: set[str]) -> bool:
    """Whether *column* sits in the index *columns* after only equality-constrained columns.

    >>> _reaches(("org", "deleted_at", "name"), "name", {"org", "deleted_at"}), _reaches(("org", "name"), "name", set())
    (True, False)
    """
    for position, name in enumerate(columns):
        if name == column:
            return all(before in equal for before in columns[:position])
    return False


def _suggest(ref: TableRef, column: str, equal: set[str], ctx: ReviewContext) -> MissingIndex:
    tenant = (ctx.tagged.tenant_column(ref.table) or "").lower()
    lead = (tenant,) if tenant and tenant in equal and tenant != column else ()
    return MissingIndex(ref.table, column, (*lead, column))
