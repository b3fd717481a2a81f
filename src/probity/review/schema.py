"""Schema valid: every statement of the blueprint parses, and uses only tables and columns the DDL creates.

Tables come from the statement's facts (a reference the catalog does not know); columns from sqlglot's tree:
a qualified column (``a.email``) must exist in the table its alias names, an unqualified one in some table of
the statement (or be one of its output names), an INSERT's column list in its target. Columns of CTEs and
derived tables are not judged (their own statements are). A table or column the DDL lacks is a schema
hallucination, named with its line.

Rules: ``review.schema.unparsed`` (HIGH): sqlglot cannot parse the statement; ``review.schema.unknown_table``
(HIGH); ``review.schema.unknown_column`` (HIGH). One PASS per operation when every statement held.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from probity.core.catalog import Catalog
from probity.core.findings import Outcome, Result, Severity
from probity.review.context import DIALECT, ReviewContext, Reviewed, Subject
from probity.sql import Kind, StatementFacts

__all__ = ["schema", "unknown_columns"]

RULE = "review.schema"


def schema(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    """Judge every data statement of the operation against the DDL's catalog."""
    yield from ctx.unreviewable(subject, RULE)
    if subject.endpoint is None:
        return
    failures = [r for reviewed in ctx.data_statements(subject.endpoint) for r in _judge(subject, reviewed, ctx)]
    yield from failures
    if not failures:
        yield ctx.result(subject, f"{RULE}.valid", Outcome.PASS, "every table and column exists in the DDL")


def _judge(subject: Subject, reviewed: Reviewed, ctx: ReviewContext) -> Iterator[Result]:
    if not reviewed.readable:
        error = reviewed.statement.error or reviewed.facts.parse_error
        message = f"the statement at {ctx.location(reviewed.statement.line)} cannot be parsed: {error}"
        yield ctx.result(subject, f"{RULE}.unparsed", Outcome.FAIL, message, Severity.HIGH, _where(ctx, reviewed))
        return
    for table in _unknown_tables(reviewed.facts, ctx):
        message = f"table {table} does not exist in the DDL (schema hallucination)"
        evidence = _where(ctx, reviewed, table=table)
        yield ctx.result(subject, f"{RULE}.unknown_table", Outcome.FAIL, message, Severity.HIGH, evidence)
    for table, column in unknown_columns(reviewed.statement.text, reviewed.facts, ctx):
        message = f"column {table}.{column} does not exist in the DDL (schema hallucination)"
        evidence = _where(ctx, reviewed, table=table, column=column)
        yield ctx.result(subject, f"{RULE}.unknown_column", Outcome.FAIL, message, Severity.HIGH, evidence)


def _where(ctx: ReviewContext, reviewed: Reviewed, **extra: str) -> dict[str, str]:
    return ctx.statement_evidence(reviewed, **extra)


def _unknown_tables(facts: StatementFacts, ctx: ReviewContext) -> list[str]:
    derived = {name.lower() for name in facts.ctes} | {s.name.lower() for s in facts.scopes if s.name}
    names = (ref.table for ref in facts.tables if ref.table.lower() not in derived)
    return sorted({name for name in names if name not in ctx.catalog})


def unknown_columns(text: str, facts: StatementFacts, ctx: ReviewContext) -> list[tuple[str, str]]:
    """``(table, column)`` for every column the statement names that its table lacks.

    An unqualified column that no table of the statement has is reported against the first of them.
    """
    try:
        trees = [tree for tree in sqlglot.parse(text, dialect=DIALECT) if tree is not None]
    except SqlglotError:
        return []  # the facts say so already (``unparsed``)
    aliases = _aliases(facts, ctx)
    outputs = {projection.name.lower() for projection in facts.projections}
    columns = [column for tree in trees for column in tree.find_all(exp.Column)]
    found = [pair for column in columns for pair in _check(column, aliases, outputs, ctx.catalog)]
    found += _insert_columns(facts, ctx)
    return sorted(set(found))


def _aliases(facts: StatementFacts, ctx: ReviewContext) -> dict[str, list[str]]:
    """Alias (and bare table name) → the known tables it may stand for."""
    aliases: dict[str, list[str]] = {}
    for ref in facts.tables:
        if ref.table in ctx.catalog:
            for name in {ref.alias.lower(), ref.table.lower()}:
                aliases.setdefault(name, []).append(ref.table)
    return aliases


def _check(
    column: exp.Column, aliases: dict[str, list[str]], outputs: set[str], catalog: Catalog
) -> Iterator[tuple[str, str]]:
    name = column.name.lower()
    if not name or isinstance(column.this, exp.Star):
        return
    qualifier = column.table.lower()
    if qualifier:
        tables = aliases.get(qualifier)  # None: a CTE, a derived table or an unknown table (reported apart)
        if tables and not any(_has(catalog, table, name) for table in tables):
            yield tables[0], name
        return
    every = sorted({table for tables in aliases.values() for table in tables})
    if every and name not in outputs and not any(_has(catalog, table, name) for table in every):
        yield every[0], name


def _has(catalog: Catalog, table: str, column: str) -> bool:
    return any(known.lower() == column for known in catalog.columns(table))


def _insert_columns(facts: StatementFacts, ctx: ReviewContext) -> list[tuple[str, str]]:
    missing: list[tuple[str, str]] = []
    for write in facts.writes:
        columns = {c.lower() for c in ctx.catalog.columns(write.table)}
        if write.kind is Kind.INSERT and columns:
            missing += [(write.table, c.lower()) for c in write.columns if c.lower() not in columns]
    return missing
