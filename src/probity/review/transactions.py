"""Transactions: statements that write more than one table commit or fail together.

A blueprint states one SQL block per database transaction. A block whose statements write two or more
tables must open an explicit transaction (``BEGIN`` or ``START TRANSACTION``) before its first write and end
it (``COMMIT``) only after its last, and an operation must not spread its writes of several tables over
several blocks (each commits on its own, so a failure leaves half of them done).

Rules: ``review.transactions.missing`` (HIGH): a block writes several tables outside one explicit
transaction; ``review.transactions.split`` (HIGH): the operation's writes span several transactions.
NOT_APPLICABLE when the operation writes fewer than two tables.
"""

from __future__ import annotations

from collections.abc import Iterator

from probity.core.findings import Outcome, Result, Severity
from probity.review.blueprint import SqlBlock, SqlStatement
from probity.review.context import ReviewContext, Subject, first_word, unread

__all__ = ["transactions"]

RULE = "review.transactions"
_OPEN = ("BEGIN", "START")
_CLOSE = ("COMMIT", "END", "ROLLBACK", "ABORT")


def transactions(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    """Judge how the operation's writes are grouped into transactions."""
    yield from ctx.unreviewable(subject, RULE)
    if subject.endpoint is None:
        return
    written = {id(block): _written(block, ctx) for block in subject.endpoint.blocks}
    tables = sorted(set().union(*written.values()))
    failures = list(_judge(subject, written, ctx)) if len(tables) > 1 else []
    yield from failures
    unparsed = None if failures else unread(subject, ctx, RULE)
    if unparsed is not None:
        yield unparsed
    elif len(tables) < 2:
        yield ctx.result(subject, f"{RULE}.single_table", Outcome.NOT_APPLICABLE, "writes at most one table")
    elif not failures:
        message = f"{', '.join(tables)} are written in one transaction"
        yield ctx.result(subject, f"{RULE}.atomic", Outcome.PASS, message)


def _judge(subject: Subject, written: dict[int, set[str]], ctx: ReviewContext) -> Iterator[Result]:
    assert subject.endpoint is not None  # checked by the caller
    blocks = subject.endpoint.blocks
    for block in blocks:
        if len(written[id(block)]) > 1:
            yield from _explicit(subject, block, ctx)
    writing = [block for block in blocks if written[id(block)]]
    if len(writing) > 1:
        tables = ", ".join(sorted(set().union(*written.values())))
        message = f"the writes of {tables} span {len(writing)} transactions"
        evidence = {"locations": [ctx.location(block.line) for block in writing]}
        yield ctx.result(subject, f"{RULE}.split", Outcome.FAIL, message, Severity.HIGH, evidence)


def _written(block: SqlBlock, ctx: ReviewContext) -> set[str]:
    facts = [ctx.facts(statement) for statement in block.statements if statement.error is None]
    return {write.table for f in facts if f.parse_error is None for write in f.writes}


def _explicit(subject: Subject, block: SqlBlock, ctx: ReviewContext) -> Iterator[Result]:
    words = [first_word(statement.text) for statement in block.statements]
    writes = [i for i, statement in enumerate(block.statements) if _writes(statement, ctx)]
    opened = next((i for i, word in enumerate(words) if word in _OPEN), len(words))
    closed = next((i for i, word in enumerate(words) if word in _CLOSE and i > opened), -1)
    if opened < writes[0] and closed > writes[-1]:
        return
    tables = ", ".join(sorted(_written(block, ctx)))
    message = f"the block writes {tables} without one explicit transaction (BEGIN … COMMIT) around every write"
    evidence = {"location": ctx.location(block.line)}
    yield ctx.result(subject, f"{RULE}.missing", Outcome.FAIL, message, Severity.HIGH, evidence)


def _writes(statement: SqlStatement, ctx: ReviewContext) -> bool:
    facts = ctx.facts(statement)
    return statement.error is None and facts.parse_error is None and bool(facts.writes)
