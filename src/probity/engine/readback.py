"""Read-back: Probity's own read-only look at the target's database, to confirm what the log claims.

It runs as Probity's role, whose statements the capture filters out, on a session whose transactions are all
read-only (``default_transaction_read_only``): one round trip per look, not four (BEGIN, SET, query, COMMIT).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from probity.core.errors import HarnessError

__all__ = ["DatabaseReadBack"]


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
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(_table(table), _conditions(where))
        row = self._fetch(query, where)
        return int(row[0][0]) if row else 0

    def rows(self, table: str, columns: Sequence[str], where: Mapping[str, str | None]) -> list[dict[str, str | None]]:
        selected = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)
        query = sql.SQL("SELECT {} FROM {} WHERE {} LIMIT 100").format(selected, _table(table), _conditions(where))
        return [dict(zip(columns, row, strict=True)) for row in self._fetch(query, where)]

    def close(self) -> None:
        self._conn.close()

    def _fetch(self, query: sql.Composed, where: Mapping[str, str | None]) -> list[tuple[Any, ...]]:
        values = [value for value in where.values() if value is not None]
        try:
            return self._read(query, values)
        except psycopg.OperationalError:
            # The database may have been reset (recreated) since: reconnect once.
            self._conn.close()
            self._conn = self._connect()
            return self._read(query, values)
        except psycopg.Error as exc:
            raise HarnessError(f"read-back failed: {exc.diag.message_primary or exc}") from exc

    def _read(self, query: sql.Composed, values: list[str]) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cursor:
            cursor.execute(query, values)
            return cursor.fetchall()


def _table(name: str) -> sql.Identifier:
    """``schema.table`` or ``table``, each part quoted as an identifier (names arrive unquoted)."""
    return sql.Identifier(*(part.strip('"') for part in name.split(".", 1)))


def _conditions(where: Mapping[str, str | None]) -> sql.Composable:
    if not where:
        return sql.SQL("true")
    parts = [
        sql.SQL("{} IS NULL").format(sql.Identifier(column))
        if value is None
        else sql.SQL("{}::text = %s").format(sql.Identifier(column))
        for column, value in where.items()
    ]
    return sql.SQL(" AND ").join(parts)
