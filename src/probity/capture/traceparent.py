"""Exact attribution: every request carries a fresh W3C ``traceparent``, and the backend puts it in SQL.

A backend with sqlcommenter appends ``/*traceparent='00-<trace id>-<span id>-01'*/`` to its statements; the
statement parser moves that into ``Statement.tags``. A request's statements are those carrying its trace id
(the span id may be the backend's own child span). Drivers send transaction control without the comment, so
an untagged ``BEGIN``, ``COMMIT``, ``ROLLBACK``, ``SAVEPOINT`` or ``RELEASE`` counts too when it is in a
session of the request and either shares a transaction (vxid) with its tagged statements, lies between the
first and the last of them, or directly opens or closes that run (a ``ROLLBACK`` after a failed statement
is logged outside any vxid). Sessions are pooled connections, so several requests in flight on different
sessions never mix.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from probity.core.trace import Statement

__all__ = ["in_session", "new_traceparent", "trace_id", "traced", "transaction_control"]

Control = Literal["open", "close", "inner"]
_CONTROL: tuple[tuple[str, Control], ...] = (
    ("ROLLBACK TO ", "inner"),  # before ROLLBACK: it ends no transaction
    ("ROLLBACK PREPARED ", "inner"),
    ("COMMIT PREPARED ", "inner"),
    ("BEGIN", "open"),
    ("START TRANSACTION", "open"),
    ("COMMIT", "close"),
    ("END", "close"),
    ("ROLLBACK", "close"),
    ("ABORT", "close"),
    ("PREPARE TRANSACTION ", "close"),
    ("SAVEPOINT ", "inner"),
    ("RELEASE ", "inner"),
)


def new_traceparent() -> str:
    """A fresh, sampled W3C traceparent: a random 128-bit trace id and 64-bit parent id.

    >>> value = new_traceparent()
    >>> len(value), value[:3], value[-3:]
    (55, '00-', '-01')
    """
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


@lru_cache(maxsize=4096)  # asked for every statement of a request's sessions, several times
def trace_id(traceparent: str | None) -> str | None:
    """The trace id of a traceparent (lower-case), or ``None`` when it is not one.

    >>> trace_id("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01")
    '0af7651916cd43dd8448eb211c80319c'
    >>> trace_id("garbage") is None
    True
    """
    if traceparent is None:
        return None
    parts = traceparent.strip().lower().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1]


def transaction_control(text: str) -> Control | None:
    """Whether a statement opens, closes or acts inside a transaction; ``None`` for any other statement.

    >>> [transaction_control(t) for t in ("BEGIN", "commit;", "ROLLBACK TO SAVEPOINT s1", "SELECT 1")]
    ['open', 'close', 'inner', None]
    """
    words = " ".join(text.upper().rstrip(" ;\n\t").split()) + " "
    for prefix, kind in _CONTROL:
        if words.startswith(prefix) and (prefix.endswith(" ") or words[len(prefix)] in " ;"):
            return kind
    return None


def traced(statements: Sequence[Statement], traceparent: str) -> tuple[Statement, ...]:
    """The statements of the request that sent *traceparent*, in log order.

    >>> tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    >>> log = [
    ...     Statement("BEGIN", session_id="s1", vxid="3/7"),
    ...     Statement("SELECT 1", session_id="s1", vxid="3/7", tags={"traceparent": tp}),
    ...     Statement("BEGIN", session_id="s2", vxid="4/2"),
    ...     Statement("COMMIT", session_id="s1", vxid="3/7"),
    ...     Statement("COMMIT", session_id="s2", vxid="4/2"),
    ... ]
    >>> [(s.session_id, s.text) for s in traced(log, tp)]
    [('s1', 'BEGIN'), ('s1', 'SELECT 1'), ('s1', 'COMMIT')]
    """
    wanted = trace_id(traceparent)
    if wanted is None:
        return ()
    sessions: dict[str, list[int]] = defaultdict(list)
    for index, statement in enumerate(statements):
        sessions[statement.session_id].append(index)
    chosen: list[int] = []
    for indexes in sessions.values():
        chosen.extend(indexes[pos] for pos in in_session([statements[i] for i in indexes], wanted))
    return tuple(statements[i] for i in sorted(chosen))


def in_session(statements: Sequence[Statement], wanted: str) -> list[int]:
    """Where the statements of the request with trace id *wanted* are among one session's *statements* (in
    log order): their positions, ascending.

    >>> tag = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    >>> session = [Statement("COMMIT"), Statement("BEGIN"), Statement("SELECT 1", tags=tag), Statement("COMMIT")]
    >>> in_session(session + [Statement("BEGIN")], "0af7651916cd43dd8448eb211c80319c")
    [1, 2, 3]
    """
    tagged = [pos for pos, statement in enumerate(statements) if trace_id(statement.traceparent) == wanted]
    if not tagged:
        return []
    first, last = tagged[0], tagged[-1]
    # A vxid ending in /0 is no transaction (autocommit durations, statements in an aborted transaction).
    vxids = {v for p in tagged if (v := statements[p].vxid) and not v.endswith("/0")}

    def control(pos: int) -> Control | None:
        statement = statements[pos]
        return None if statement.traceparent is not None else transaction_control(statement.text)

    found = set(tagged)
    for pos, statement in enumerate(statements):  # the cheap tests first: few statements get to the text's
        if (first < pos < last or statement.vxid in vxids) and control(pos) is not None:
            found.add(pos)
    pos = first - 1
    while pos >= 0 and control(pos) in ("open", "inner"):  # the BEGIN that opened the run
        found.add(pos)
        pos -= 1
    pos = last + 1
    while pos < len(statements) and (kind := control(pos)) in ("inner", "close"):  # the COMMIT/ROLLBACK
        found.add(pos)
        if kind == "close":
            break
        pos += 1
    return sorted(found)
