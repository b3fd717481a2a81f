"""Drift: the DDL the documents were reviewed against, compared with a running database's catalog.

Both sides are the same :class:`~probity.core.catalog.Catalog` model (the DDL read by sqlglot, the database
read from its system catalogs by :func:`probity.sql.catalog_from_database`), so the comparison is by name:
tables, columns, their types and nullability, and indexes by their column lists (constraint-backed ones
included; names may differ between a DDL and a database restored from elsewhere).

Rules, each a FAIL about one table (operation ``TABLE name``): ``review.drift.table_missing`` (HIGH) and
``review.drift.table_extra`` (LOW); ``review.drift.column_missing`` (HIGH), ``review.drift.column_extra``
(LOW), ``review.drift.type_changed`` (HIGH), ``review.drift.nullability_changed`` (MEDIUM);
``review.drift.index_missing`` (MEDIUM), ``review.drift.index_extra`` (LOW). One PASS when nothing drifted.
"""

from __future__ import annotations

from typing import Any

import psycopg

from probity.core.catalog import Catalog, Table
from probity.core.errors import ConfigError
from probity.core.findings import Category, Outcome, Result, Severity, finding
from probity.sql import catalog_from_database

__all__ = ["drift", "live_catalog"]

CHECK = "review.drift"


def live_catalog(dsn: str) -> Catalog:
    """The catalog of the database *dsn* names; a connection failure is a configuration error (exit 2)."""
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            return catalog_from_database(conn)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot read the database catalog for the drift check: {first}") from exc


def drift(ddl: Catalog, live: Catalog) -> list[Result]:
    """Every difference between the DDL's catalog and the live one; one PASS when there is none."""
    results = [
        _table(t.name, "table_missing", "in the DDL, not in the database", Severity.HIGH)
        for t in ddl
        if t.name not in live
    ]
    results += [
        _table(t.name, "table_extra", "in the database, not in the DDL", Severity.LOW)
        for t in live
        if t.name not in ddl
    ]
    for table in ddl:
        other = live.table(table.name)
        if other is not None:
            results += _columns(table, other) + _indexes(table, other)
    if not results:
        results.append(_result("DDL", "same", "the database matches the DDL", Severity.INFO, Outcome.PASS))
    return results


def _table(name: str, rule: str, message: str, severity: Severity) -> Result:
    return _result(f"TABLE {name}", rule, f"table {name} is {message}", severity)


def _columns(ddl: Table, live: Table) -> list[Result]:
    label, found = f"TABLE {ddl.name}", []
    for column in ddl.columns:
        other = live.column(column.name)
        if other is None:
            found.append(
                _result(label, "column_missing", f"column {column.name} is not in the database", Severity.HIGH)
            )
        elif other.type != column.type:
            message = f"column {column.name} is {other.type} in the database, {column.type} in the DDL"
            found.append(_result(label, "type_changed", message, Severity.HIGH, column=column.name))
        elif other.nullable != column.nullable:
            message = (
                f"column {column.name} is {_null(other.nullable)} in the database, {_null(column.nullable)} in the DDL"
            )
            found.append(_result(label, "nullability_changed", message, Severity.MEDIUM, column=column.name))
    extra = [c.name for c in live.columns if ddl.column(c.name) is None]
    found += [_result(label, "column_extra", f"column {name} is not in the DDL", Severity.LOW) for name in extra]
    return found


def _null(nullable: bool) -> str:
    return "nullable" if nullable else "NOT NULL"


def _indexes(ddl: Table, live: Table) -> list[Result]:
    label = f"TABLE {ddl.name}"
    mine, theirs = _index_lists(ddl), _index_lists(live)
    found = [
        _result(label, "index_missing", f"index {name} ({', '.join(cols)}) is not in the database", Severity.MEDIUM)
        for cols, name in mine.items()
        if cols not in theirs
    ]
    found += [
        _result(label, "index_extra", f"index {name} ({', '.join(cols)}) is not in the DDL", Severity.LOW)
        for cols, name in theirs.items()
        if cols not in mine
    ]
    return found


def _index_lists(table: Table) -> dict[tuple[str, ...], str]:
    named = {tuple(c.lower() for c in index.columns): index.name for index in table.indexes}
    keys = {tuple(c.lower() for c in key): "key" for key in table.unique_keys()}
    return {**keys, **named}


def _result(
    operation: str, rule: str, message: str, severity: Severity, outcome: Outcome = Outcome.FAIL, **evidence: Any
) -> Result:
    return finding(CHECK, f"{CHECK}.{rule}", Category.REVIEW, outcome, operation, message, severity, evidence)
