"""Pagination: list queries are bounded, and a paginated operation pages with LIMIT, OFFSET and a total order.

A *list query* is a SELECT whose main table (its outermost FROM) is not pinned to one row by equality on a
unique key. Every list query must have a LIMIT, and a literal LIMIT must not exceed the policy's
``max_limit``. An operation the reference marks paginated must have a list query whose LIMIT and OFFSET are
parameters (the page the caller asked for) and whose ORDER BY ends with a unique key of the main table, so
pages neither repeat nor skip rows.

Rules: ``review.pagination.unbounded`` (MEDIUM): a list query without LIMIT, or a paginated operation
without a parameterized LIMIT/OFFSET list query; ``review.pagination.over_max`` (MEDIUM): a literal LIMIT
above ``max_limit``; ``review.pagination.unordered`` (MEDIUM): a page query whose order is not total.
NOT_APPLICABLE when the operation has no list query and is not paginated.
"""

from __future__ import annotations

from collections.abc import Iterator

from probity.core.findings import Outcome, Result, Severity
from probity.review.context import ReviewContext, Reviewed, Subject, unread
from probity.sql import Kind, Role, StatementFacts, TableRef, ValueKind

__all__ = ["pagination"]

RULE = "review.pagination"
_EQUAL = ("=", "IS NOT DISTINCT FROM")
_VALUES = (ValueKind.PARAM, ValueKind.LITERAL, ValueKind.FUNCTION)


def pagination(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    """Judge the operation's list queries."""
    yield from ctx.unreviewable(subject, RULE)
    if subject.endpoint is None:
        return
    lists = [r for r in ctx.data_statements(subject.endpoint) if r.readable and _main(r.facts, ctx) is not None]
    failures = [result for reviewed in lists for result in _bounded(subject, reviewed, ctx)]
    if subject.paginated:
        failures += _paged(subject, lists, ctx)
    yield from failures
    unparsed = None if failures else unread(subject, ctx, RULE)
    if unparsed is not None:
        yield unparsed
    elif not failures and (lists or subject.paginated):
        yield ctx.result(subject, f"{RULE}.bounded", Outcome.PASS, "every list query is bounded")
    elif not failures:
        yield ctx.result(subject, f"{RULE}.no_list", Outcome.NOT_APPLICABLE, "no list query")


def _main(facts: StatementFacts, ctx: ReviewContext) -> TableRef | None:
    """The main table of a list query: the first FROM table of the outermost query, when not pinned to a row."""
    if facts.kind is not Kind.SELECT or not facts.scopes:
        return None
    root = next((s.id for s in facts.scopes if s.kind == "root"), facts.scopes[0].id)
    main = next((ref for ref in facts.tables if ref.scope == root and ref.role is Role.FROM), None)
    if main is None or main.table not in ctx.catalog or _pinned(main, ctx):
        return None  # an unknown table is the schema rule's finding
    return main


def _pinned(ref: TableRef, ctx: ReviewContext) -> bool:
    # equal to a value of the request, not to another table's column (a join pins nothing by itself)
    equal = {p.column.lower() for p in ref.predicates if p.op in _EQUAL and p.value.kind in _VALUES}
    return any(key and all(c.lower() in equal for c in key) for key in ctx.catalog.unique_keys(ref.table))


def _bounded(subject: Subject, reviewed: Reviewed, ctx: ReviewContext) -> Iterator[Result]:
    limit, cap = reviewed.facts.limit, ctx.policy.pagination.max_limit
    if limit is None:
        message = "a list query has no LIMIT: it returns every matching row"
        yield ctx.result(subject, f"{RULE}.unbounded", Outcome.FAIL, message, Severity.MEDIUM, _where(reviewed, ctx))
    elif limit.kind is ValueKind.LITERAL and (limit.literal or "").isdigit() and int(limit.literal or 0) > cap:
        message = f"a list query's LIMIT {limit.literal} is above the policy's max_limit {cap}"
        yield ctx.result(subject, f"{RULE}.over_max", Outcome.FAIL, message, Severity.MEDIUM, _where(reviewed, ctx))


def _paged(subject: Subject, lists: list[Reviewed], ctx: ReviewContext) -> list[Result]:
    pages = [r for r in lists if _is_param(r.facts.limit) and _is_param(r.facts.offset)]
    if not pages:
        message = "the operation is paginated but no list query takes LIMIT and OFFSET from the request"
        return [ctx.result(subject, f"{RULE}.unbounded", Outcome.FAIL, message, Severity.MEDIUM)]
    results = []
    for reviewed in pages:
        if not _total_order(reviewed.facts, ctx):
            message = "a page query's ORDER BY does not end with a unique key, so pages can repeat or skip rows"
            evidence = _where(reviewed, ctx)
            results.append(ctx.result(subject, f"{RULE}.unordered", Outcome.FAIL, message, Severity.MEDIUM, evidence))
    return results


def _is_param(value: object) -> bool:
    return getattr(value, "kind", None) is ValueKind.PARAM


def _total_order(facts: StatementFacts, ctx: ReviewContext) -> bool:
    main = _main(facts, ctx)
    if main is None or not facts.order_by:
        return False
    ordered = [key.column.column.lower() for key in facts.order_by if key.column and key.column.table == main.table]
    return any(key and set(c.lower() for c in key) <= set(ordered) for key in ctx.catalog.unique_keys(main.table))


def _where(reviewed: Reviewed, ctx: ReviewContext) -> dict[str, object]:
    return ctx.statement_evidence(reviewed)
