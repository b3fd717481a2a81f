"""Loops: no statement runs once per item of an earlier result (the N+1 pattern, in the design).

A blueprint states a statement that runs per item with a ``-- for each: ITEM`` (or ``-- loop:``, ``-- repeat:``)
annotation, or says so in its step (``-- step 2: … for each thread …``). The ``n_plus_one`` probe finds the
same pattern in the log; in the design it is found before it is built.

Rule: ``review.loops.per_item`` (MEDIUM). One PASS per operation otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from probity.core.findings import Outcome, Result, Severity
from probity.review.blueprint import SqlStatement
from probity.review.context import ReviewContext, Subject

__all__ = ["loops"]

RULE = "review.loops"
_LOOP_KEYS = ("for each", "loop", "repeat", "per item")
# Prose of a step or condition that says the statement repeats (words of the annotation, not SQL).
_LOOP_WORDS = re.compile(r"\b(for each|for every|once per|in a loop|per (row|item|result))\b", re.IGNORECASE)


def loops(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    """Judge whether any statement of the operation is stated to run once per item."""
    yield from ctx.unreviewable(subject, RULE)
    if subject.endpoint is None:
        return
    statements = [reviewed.statement for reviewed in ctx.data_statements(subject.endpoint)]
    failures = [_fail(subject, s, reason, ctx) for s in statements if (reason := _loop(s)) is not None]
    yield from failures
    if not failures:
        yield ctx.result(subject, f"{RULE}.set_based", Outcome.PASS, "no statement runs once per item")


def _loop(statement: SqlStatement) -> str | None:
    for key in _LOOP_KEYS:
        if statement.note(key) is not None:
            return f"-- {key}: {statement.note(key)}"
    for key in ("step", "when"):
        text = statement.note(key) or ""
        if _LOOP_WORDS.search(text):
            return f"-- {key}: {text}"
    return None


def _fail(subject: Subject, statement: SqlStatement, reason: str, ctx: ReviewContext) -> Result:
    message = f"the statement at {ctx.location(statement.line)} runs once per item ({reason}): one query per row"
    evidence = {"location": ctx.location(statement.line), "annotation": reason}
    return ctx.result(subject, f"{RULE}.per_item", Outcome.FAIL, message, Severity.MEDIUM, evidence)
