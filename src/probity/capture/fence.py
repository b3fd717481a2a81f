"""Fence attribution: a request's statements are those logged between two marker statements.

Probity's own connection (``application_name`` ``probity-fence``) runs ``SELECT 'probity:fence:begin:<id>'``
before a request is sent and ``SELECT 'probity:fence:end:<id>'`` after its response (and a short settle
delay). The server logs statements in the order it runs them, so whatever other sessions of the target's
database logged strictly between the two markers ran while the request was in flight: with one request at
a time, that is the request's SQL. A fence whose markers are not both in the log proves nothing: the
caller reports the request as not observed, never as a request that ran no SQL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import psycopg

from probity.capture.source import FENCE_APPLICATION, OWN_APPLICATIONS
from probity.core.errors import HarnessError
from probity.core.trace import Statement

__all__ = ["FenceConnection", "fenced", "marker_sql"]

_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_KINDS = ("begin", "end", "sync")


def marker_sql(kind: str, exchange_id: str) -> str:
    """The marker statement of *kind* (``begin``, ``end`` or ``sync``) for an exchange.

    >>> marker_sql("begin", "r-1")
    "SELECT 'probity:fence:begin:r-1'"
    >>> marker_sql("end", "it's")
    Traceback (most recent call last):
    ...
    ValueError: an exchange id for a marker is 1-100 of A-Z a-z 0-9 _ . : -, not "it's"
    """
    if kind not in _KINDS:
        raise ValueError(f"a marker is one of {', '.join(_KINDS)}, not {kind!r}")
    if not _ID.fullmatch(exchange_id):
        raise ValueError(f"an exchange id for a marker is 1-100 of A-Z a-z 0-9 _ . : -, not {exchange_id!r}")
    return f"SELECT 'probity:fence:{kind}:{exchange_id}'"


def fenced(
    statements: Sequence[Statement],
    exchange_id: str,
    *,
    database: str | None = None,
    user: str | None = None,
    application: str | None = None,
) -> tuple[Statement, ...] | None:
    """The statements between the exchange's begin and end markers; ``None`` if a marker is missing.

    *statements* are in log order. Only other sessions count, of *database* (by default the one the markers
    were logged in) and, when given, of *user* and *application*.

    >>> log = [
    ...     Statement("SELECT 'probity:fence:begin:r1'", session_id="fence", database="app"),
    ...     Statement("SELECT * FROM accounts", session_id="pool-1", database="app"),
    ...     Statement("SELECT 1", session_id="pool-2", database="other"),
    ...     Statement("SELECT 'probity:fence:end:r1'", session_id="fence", database="app"),
    ... ]
    >>> [s.text for s in fenced(log, "r1")]
    ['SELECT * FROM accounts']
    >>> fenced(log[:3], "r1") is None
    True
    """
    begin_sql, end_sql = marker_sql("begin", exchange_id), marker_sql("end", exchange_id)
    begin = next((i for i, s in enumerate(statements) if s.text == begin_sql), None)
    if begin is None:
        return None
    fence = statements[begin]
    end = next(
        (i for i in range(begin + 1, len(statements)) if statements[i].text == end_sql
         and statements[i].session_id == fence.session_id),
        None,
    )  # fmt: skip
    if end is None:
        return None
    scope = database if database is not None else fence.database
    return tuple(
        s
        for s in statements[begin + 1 : end]
        if s.session_id != fence.session_id
        and s.database == scope
        and s.application not in OWN_APPLICATIONS
        and (user is None or s.user == user)
        and (application is None or s.application == application)
    )


class FenceConnection:
    """Probity's own connection to the target's database, which writes markers into the statement log.

    Call it with a marker's SQL (from :func:`marker_sql`); the call returns once the server ran it, so the
    marker is in the log before anything that happens after the call.
    """

    def __init__(self, conninfo: str) -> None:
        try:
            self._conn: psycopg.Connection[Any] = psycopg.connect(
                conninfo, autocommit=True, application_name=FENCE_APPLICATION
            )
        except psycopg.Error as exc:
            raise HarnessError(f"cannot open the fence connection: {exc}") from exc

    def __call__(self, sql: str) -> None:
        try:
            self._conn.execute(sql)
        except psycopg.Error as exc:
            raise HarnessError(f"the fence connection failed: {exc}") from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> FenceConnection:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
