"""The trace model: what a backend ran on PostgreSQL, and which request it ran it for.

A :class:`Statement` is one statement as PostgreSQL's statement log recorded it; a :class:`RequestTrace` ties
the statements of one HTTP exchange to it. How sure that tie is (``attribution``) and whether anything could
be observed at all (``observed``) are part of the model, because a probe that saw nothing must say
INCONCLUSIVE, never PASS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Attribution", "Exchange", "RequestTrace", "Statement"]


class Attribution(StrEnum):
    """How the statements of a request were found."""

    TRACEPARENT = "traceparent"  # exactly: the backend carried our W3C traceparent into SQL comments
    FENCE = "fence"  # by marker statements logged before the request and after the response
    NONE = "none"  # nothing tied statements to the request


@dataclass(frozen=True)
class Statement:
    """One statement from the log.

    ``text`` is the SQL as the backend sent it, with ``$n`` placeholders for the extended protocol and any
    trailing sqlcommenter comment removed (it is in ``tags``); ``params`` are the bound values of ``$1..$n``,
    as the log printed them (``None`` for SQL NULL).
    """

    text: str
    params: tuple[str | None, ...] = ()
    session_id: str = ""
    user: str | None = None
    database: str | None = None
    application: str | None = None
    timestamp: str = ""
    duration_ms: float | None = None
    vxid: str | None = None  # virtual transaction id: equal for statements of one transaction
    error: str | None = None  # the server's message when the statement failed
    sqlstate: str | None = None
    tags: dict[str, str] = field(default_factory=dict)  # sqlcommenter key/values, e.g. traceparent
    protocol: str = "simple"  # "simple" (statement:) or "extended" (execute <name>:)
    log_line: int = 0  # 1-based line of the record in its log file

    @property
    def traceparent(self) -> str | None:
        return self.tags.get("traceparent")


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its response, as Probity sent and received it."""

    method: str
    url: str
    operation: str  # "METHOD /path/template" from the contract, e.g. "GET /accounts/{account_id}"
    status: int
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: bytes = b""
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    principal: str | None = None  # the name of the identity that sent it
    traceparent: str | None = None
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class RequestTrace:
    """An exchange and the statements attributed to it."""

    exchange: Exchange
    statements: tuple[Statement, ...]
    attribution: Attribution
    observed: bool = True  # False when capture could not look (no log, a fence missing): inconclusive

    @property
    def conclusive(self) -> bool:
        """Whether SQL probes can judge this request: something was observed and tied to it."""
        return self.observed and self.attribution is not Attribution.NONE and bool(self.statements)
