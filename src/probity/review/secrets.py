"""Secrets: no statement selects a secret column the policy does not allow it, and none uses ``SELECT *``.

The same facts as the ``secret_omission`` probe: what a statement returns (its SELECT list or RETURNING,
``*`` expanded through the DDL's catalog) against the policy's secret columns and the operations allowed
to read them.

Rules: ``review.secrets.selected`` (HIGH): a secret column is selected or returned outside the policy's
allowance; ``review.secrets.select_star`` (MEDIUM): ``*`` is selected, so any column added later (a secret
included) is read too. One PASS per operation otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

from probity.core.findings import Outcome, Result, Severity
from probity.review.context import ReviewContext, Reviewed, Subject, unread

__all__ = ["secrets"]

RULE = "review.secrets"


def secrets(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    """Judge what every statement of the operation returns."""
    yield from ctx.unreviewable(subject, RULE)
    if subject.endpoint is None:
        return
    statements = [r for r in ctx.data_statements(subject.endpoint) if r.readable]
    failures = [result for reviewed in statements for result in _judge(subject, reviewed, ctx)]
    yield from failures
    unparsed = None if failures else unread(subject, ctx, RULE)
    if unparsed is not None:
        yield unparsed
    elif not failures:
        yield ctx.result(subject, f"{RULE}.omitted", Outcome.PASS, "no secret column is selected, no SELECT *")


def _judge(subject: Subject, reviewed: Reviewed, ctx: ReviewContext) -> Iterator[Result]:
    if reviewed.facts.star:
        message = "the statement selects * instead of naming its columns"
        yield ctx.result(subject, f"{RULE}.select_star", Outcome.FAIL, message, Severity.MEDIUM, _where(reviewed, ctx))
    allowed = ctx.policy.secrets.allowed_for(subject.label) if ctx.policy.secrets else frozenset()
    for table in sorted(reviewed.facts.table_names):
        selected = reviewed.facts.selected(table) & ctx.tagged.secrets_of(table)
        exposed = sorted(f"{table}.{c}" for c in selected if f"{table}.{c}" not in allowed)
        if exposed:
            message = f"the statement selects the secret column(s) {', '.join(exposed)}"
            evidence = _where(reviewed, ctx, columns=exposed)
            yield ctx.result(subject, f"{RULE}.selected", Outcome.FAIL, message, Severity.HIGH, evidence)


def _where(reviewed: Reviewed, ctx: ReviewContext, **extra: object) -> dict[str, object]:
    return ctx.statement_evidence(reviewed, **extra)
