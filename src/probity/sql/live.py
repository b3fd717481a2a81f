"""Read a :class:`~probity.core.catalog.Catalog` from a running PostgreSQL's system catalogs.

The same model as :func:`probity.sql.ddl.catalog_from_ddl`, normalized the same way (types and conditions
through sqlglot, unnamed constraints named as PostgreSQL names them), so a target's DDL file and the database
its backend really uses can be compared with ``==``. Indexes that back a PRIMARY KEY or UNIQUE constraint are
the constraint, not separate indexes, as in the DDL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, TypeVar

import psycopg

from probity.core.catalog import Catalog, Column, ForeignKey, Index, RlsPolicy, Table, UniqueConstraint
from probity.sql.ddl import normalize_condition, normalize_type

__all__ = ["catalog_from_database"]

_TABLES = """
SELECT c.oid, n.nspname, c.relname, c.relrowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
FROM pg_attribute a
WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# Key columns in constraint order (conkey is ordered; unnest WITH ORDINALITY keeps it).
_CONSTRAINTS = """
SELECT c.conrelid, c.conname, c.contype,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.pos),
       f.relname,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.pos),
       c.confdeltype
FROM pg_constraint c LEFT JOIN pg_class f ON f.oid = c.confrelid
WHERE c.conrelid = ANY(%s::oid[]) AND c.contype IN ('p', 'u', 'f')
"""

# indkey is an int2vector (0-based); key position k is indkey[k - 1], 0 meaning an expression.
_INDEXES = """
SELECT i.indrelid, x.relname, i.indisunique, i.indpred IS NOT NULL,
       ARRAY(SELECT CASE WHEN i.indkey[k - 1] = 0 THEN pg_get_indexdef(i.indexrelid, k, true)
                         ELSE (SELECT a.attname FROM pg_attribute a
                               WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]) END
             FROM generate_series(1, i.indnkeyatts) k ORDER BY k)
FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
WHERE i.indrelid = ANY(%s::oid[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
"""

_POLICIES = """
SELECT c.oid, p.policyname, p.cmd, p.qual, p.with_check, p.permissive = 'PERMISSIVE', p.roles
FROM pg_policies p
JOIN pg_namespace n ON n.nspname = p.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
WHERE c.oid = ANY(%s::oid[])
"""

_ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

Row = tuple[Any, ...]
_Named = TypeVar("_Named", UniqueConstraint, ForeignKey, Index, RlsPolicy)


def catalog_from_database(conn: psycopg.Connection[Any]) -> Catalog:
    """The catalog of every user table the connection can see (system schemas left out).

    >>> with psycopg.connect(url) as conn:  # doctest: +SKIP
    ...     catalog_from_database(conn) == catalog_from_ddl(Path("schema.sql").read_text())
    True
    """
    tables = _rows(conn, _TABLES)
    oids = [row[0] for row in tables]
    parts = {name: _by_table(_rows(conn, query, oids)) for name, query in _PARTS.items()}
    built = (_table(row, {name: rows.get(row[0], []) for name, rows in parts.items()}) for row in tables)
    return Catalog(tuple(sorted(built, key=lambda table: table.name)))


_PARTS = {"columns": _COLUMNS, "constraints": _CONSTRAINTS, "indexes": _INDEXES, "policies": _POLICIES}


def _rows(conn: psycopg.Connection[Any], query: str, *params: object) -> list[Row]:
    return conn.execute(query.encode(), params or None).fetchall()


def _by_table(rows: Iterable[Row]) -> dict[int, list[Row]]:
    grouped: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row)
    return grouped


def _table(row: Row, parts: dict[str, list[Row]]) -> Table:
    _, schema, name, row_security = row
    constraints = parts["constraints"]
    return Table(
        name=name,
        schema=schema,
        columns=tuple(Column(r[1], normalize_type(r[2]), r[3], r[4]) for r in parts["columns"]),
        primary_key=next((tuple(r[3]) for r in constraints if r[2] == "p"), ()),
        unique=_sorted(UniqueConstraint(r[1], tuple(r[3])) for r in constraints if r[2] == "u"),
        foreign_keys=_sorted(_foreign_key(r) for r in constraints if r[2] == "f"),
        indexes=_sorted(Index(r[1], tuple(_index_key(key) for key in r[4]), r[2], r[3]) for r in parts["indexes"]),
        row_security=row_security,
        policies=_sorted(_policy(r) for r in parts["policies"]),
    )


def _foreign_key(row: Row) -> ForeignKey:
    _, name, _, columns, ref_table, ref_columns, on_delete = row
    return ForeignKey(name, tuple(columns), ref_table, tuple(ref_columns), _ON_DELETE.get(on_delete, "NO ACTION"))


def _index_key(key: str) -> str:
    # a plain column comes back as its name; an expression as PostgreSQL deparses it
    return key if key.isidentifier() else normalize_condition(key)


def _policy(row: Row) -> RlsPolicy:
    _, name, command, using, check, permissive, roles = row
    using, check = (normalize_condition(text) if text is not None else None for text in (using, check))
    return RlsPolicy(name, command, using, check, permissive, tuple(roles))


def _sorted(items: Iterable[_Named]) -> tuple[_Named, ...]:
    return tuple(sorted(items, key=lambda item: item.name))
