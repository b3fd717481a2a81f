"""Read-back: Probity's own read-only look at the target's database, to confirm what the log claims.

It runs as Probity's role, whose statements the capture filters out, on a session whose transactions are all
read-only (``default_transaction_read_only``): one round trip per look, not four (BEGIN, SET, query, COMMIT).

Values are compared as text (``column::text = value``), as the probes state them, but a look also asks for
``column = value`` with the value typed as the column is: the server can then find the rows through the
column's indexes instead of reading the whole table. On a staging database that matters: an audit table of a
million rows took about 100 ms a look as text alone, and a pass makes hundreds of looks (bench/README.md).
Where the value is no valid input of its column's type (no row's text can be it then) or the type has no
equality, the server refuses the typed comparison and the look is made as text alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import psycopg
from psycopg import sql

from probity.core.errors import HarnessError

__all__ = ["DatabaseReadBack"]

_Query = Callable[[bool], sql.Composed]  # a look's query, typed or as text alone
_AS_TEXT = sql.SQL("{column}::text = %s")
_TYPED = sql.SQL("{column} = %s AND {column}::text = %s")


class DatabaseReadBack:
    """The ReadBack of :mod:`probity.probes.base` over one psycopg connection (values compared as text)."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self._conninfo,
                autocommit=True,
                application_name="probity-readback",
                options="-c default_transaction_read_only=on",
            )
        except psycopg.Error as exc:
            raise HarnessError(f"cannot open the read-back connection: {exc}") from exc

    def count(self, table: str, where: Mapping[str, str | None]) -> int:
        row = self._fetch(partial(_count_query, table, where), where)
        return int(row[0][0]) if row else 0

    def rows(self, table: str, columns: Sequence[str], where: Mapping[str, str | None]) -> list[dict[str, str | None]]:
        found = self._fetch(partial(_rows_query, table, columns, where), where)
        return [dict(zip(columns, row, strict=True)) for row in found]

    def close(self) -> None:
        self._conn.close()

    def _fetch(self, query: _Query, where: Mapping[str, str | None]) -> list[tuple[Any, ...]]:
        try:
            return self._look(query, where)
        except psycopg.OperationalError:
            # The database may have been reset (recreated) since: reconnect once.
            self._conn.close()
            self._conn = self._connect()
            return self._look(query, where)
        except psycopg.Error as exc:
            raise HarnessError(f"read-back failed: {exc.diag.message_primary or exc}") from exc

    def _look(self, query: _Query, where: Mapping[str, str | None]) -> list[tuple[Any, ...]]:
        """The rows through each column's own type (its indexes serve), or as text if the server refuses that."""
        try:
            return self._read(query(True), _values(where, typed=True))
        except psycopg.OperationalError:
            raise
        except psycopg.Error:  # autocommit: the failed look leaves the session usable
            return self._read(query(False), _values(where, typed=False))

    def _read(self, query: sql.Composed, values: list[str]) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cursor:
            cursor.execute(query, values)
            return cursor.fetchall()


def _count_query(table: str, where: Mapping[str, str | None], typed: bool) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(_table(table), _conditions(where, typed))


def _rows_query(table: str, columns: Sequence[str], where: Mapping[str, str | None], typed: bool) -> sql.Composed:
    selected = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)
    conditions = _conditions(where, typed)
    return sql.SQL("SELECT {} FROM {} WHERE {} LIMIT 100").format(selected, _table(table), conditions)


def _table(name: str) -> sql.Identifier:
    """``schema.table`` or ``table``, each part quoted as an identifier (names arrive unquoted)."""
    return sql.Identifier(*(part.strip('"') for part in name.split(".", 1)))


def _conditions(where: Mapping[str, str | None], typed: bool) -> sql.Composable:
    """Each column equal to its value as text; *typed*: also equal to the value read as the column's type.

    The typed value is a parameter of unknown type (psycopg sends a str so), which the server reads as the
    column's type. The text comparison stays, so a look finds exactly the rows it finds as text alone."""
    if not where:
        return sql.SQL("true")
    compared = _TYPED if typed else _AS_TEXT
    parts = [
        sql.SQL("{} IS NULL").format(sql.Identifier(column))
        if value is None
        else compared.format(column=sql.Identifier(column))
        for column, value in where.items()
    ]
    return sql.SQL(" AND ").join(parts)


def _values(where: Mapping[str, str | None], typed: bool) -> list[str]:
    """The parameters of :func:`_conditions`: each value once, or twice where it is also typed."""
    return [value for value in where.values() if value is not None for _ in range(2 if typed else 1)]
