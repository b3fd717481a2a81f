"""pagination: a list operation fetches a bounded, stably ordered page, and answers with at most a page.

Applies to operations the contract marks paginated (``x-paginated``) whose request succeeded (2xx). The probe
finds the statement that fetched the page — the *page statement* — by this heuristic, in order:

1. SELECTs that read a table, ran without error and are not pinned to one row (no unique key of their main
   table — its columns less those fixed by ``=`` to a value — is fully fixed by ``=`` predicates; the main
   table is the first table of the outermost FROM, or the one table of the CTEs, derived tables and UNION
   branches it reads), are the candidates; the per-request session check and lookups by id drop out;
2. the first candidate with an OFFSET; else the first whose LIMIT resolves to the requested page size (the
   ``pagination.limit_param`` query parameter, else ``default_limit``); else the first with any LIMIT; else
   the first without one; the policy's audit table is chosen only when nothing else is a candidate.

The page statement must have a LIMIT (``pagination.no_limit``, high; ``LIMIT ALL``, ``LIMIT NULL`` or a NULL
bound value are none) whose value — a literal, a bound ``$n``, or ``LEAST`` of those — is at most
``pagination.max_limit`` (``pagination.over_max``, high), and an ORDER BY (``pagination.no_order``, medium)
whose keys cover a unique key of the main table, columns fixed by ``=`` aside (``pagination.unstable_order``,
low; keys of joined tables do not count; keys after a complete unique key are harmless, so ``ORDER BY id,
created_at`` is stable). The response — a list, or an object whose ``items`` is a list — must hold at most
``max_limit`` items, and no more than the requested page size (``pagination.too_many_items``, high); this
needs no SQL and is judged even when none was observed.

PASS (``pagination.bounded``) when every rule held; INCONCLUSIVE without SQL, when no page statement could be
told, or when its LIMIT could not be resolved; NOT_APPLICABLE for other operations and failed requests.

>>> from probity.core.policy import Policy
>>> from probity.core.trace import Attribution, Exchange, RequestTrace, Statement
>>> from probity.probes.base import OperationFacts, ProbeContext
>>> from probity.sql import catalog_from_ddl
>>> catalog = catalog_from_ddl("CREATE TABLE notes (id int PRIMARY KEY, org int, at timestamptz)")
>>> policy = Policy.model_validate({"tenancy": {"scopes": [
...     {"name": "o", "column": "org", "attribute": "org", "tables": ["notes"]}]}})
>>> ctx = ProbeContext(policy, catalog, catalog.tag(policy), OperationFacts("GET /notes", paginated=True),
...     response={"items": [{"id": 1}]})
>>> def judge(sql, *params):
...     exchange = Exchange("GET", "http://api/notes?limit=5", "GET /notes", 200)
...     trace = RequestTrace(exchange, (Statement(sql, params, "s1"),), Attribution.FENCE)
...     return [(r.rule, r.outcome.value) for r in pagination(trace, ctx)]
>>> judge("SELECT id FROM notes WHERE org = $1 ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3", "1", "5", "0")
[('pagination.bounded', 'pass')]
>>> judge("SELECT id FROM notes WHERE org = $1 ORDER BY at LIMIT $2", "1", "500")
[('pagination.over_max', 'fail'), ('pagination.unstable_order', 'fail')]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.trace import RequestTrace, Statement
from probity.probes.base import ProbeContext, facts_of, statement_evidence, unobserved
from probity.sql import Kind, Role, StatementFacts, TableRef, Value, ValueKind

__all__ = ["pagination"]

PROBE = "pagination"
CATEGORY = Category.PAGINATION

NO_LIMIT = f"{PROBE}.no_limit"
OVER_MAX = f"{PROBE}.over_max"
NO_ORDER = f"{PROBE}.no_order"
UNSTABLE_ORDER = f"{PROBE}.unstable_order"
TOO_MANY_ITEMS = f"{PROBE}.too_many_items"
BOUNDED = f"{PROBE}.bounded"
UNIDENTIFIED = f"{PROBE}.unidentified"
NOT_APPLICABLE = f"{PROBE}.not_applicable"

_SEVERITY = {
    NO_LIMIT: Severity.HIGH,
    OVER_MAX: Severity.HIGH,
    NO_ORDER: Severity.MEDIUM,
    UNSTABLE_ORDER: Severity.LOW,
    TOO_MANY_ITEMS: Severity.HIGH,
}
_PINNING = (ValueKind.PARAM, ValueKind.LITERAL, ValueKind.FUNCTION)
_TIERS = ("has an OFFSET", "its LIMIT is the requested page size", "has a LIMIT", "reads rows without a LIMIT")


@dataclass(frozen=True)
class _Finding:
    rule: str
    outcome: Outcome
    message: str
    evidence: dict[str, Any]


def pagination(trace: RequestTrace, ctx: ProbeContext) -> Iterator[Result]:
    """Judge one request: see the module's docstring for the rules."""
    status = trace.exchange.status
    if not ctx.operation.paginated:
        yield _result(ctx, _Finding(NOT_APPLICABLE, Outcome.NOT_APPLICABLE, "the operation is not paginated", {}))
        return
    if not 200 <= status < 300:
        finding = _Finding(NOT_APPLICABLE, Outcome.NOT_APPLICABLE, "the request did not succeed", {"status": status})
        yield _result(ctx, finding)
        return
    requested = _requested(trace.exchange.url, ctx)
    items = _items(ctx, requested)
    if not trace.conclusive:
        yield from unobserved(PROBE, CATEGORY, trace, ctx)
        yield from (_result(ctx, finding) for finding in items if finding.outcome is not Outcome.PASS)
        return
    findings = [*_page(trace, ctx, requested), *items]
    judged = [finding for finding in findings if finding.outcome is not Outcome.PASS]
    if judged:
        yield from (_result(ctx, finding) for finding in judged)
        return
    evidence = {key: value for finding in findings for key, value in finding.evidence.items()}
    yield _result(ctx, _Finding(BOUNDED, Outcome.PASS, "the page is bounded and stably ordered", evidence))


def _result(ctx: ProbeContext, finding: _Finding) -> Result:
    severity = _SEVERITY.get(finding.rule, Severity.INFO)
    return ctx.result(PROBE, finding.rule, CATEGORY, finding.outcome, finding.message, severity, finding.evidence)


# -- the page statement -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    tier: int
    audit: bool
    index: int
    statement: Statement
    facts: StatementFacts
    main: TableRef | None


def _page(trace: RequestTrace, ctx: ProbeContext, requested: int) -> list[_Finding]:
    facts = facts_of(trace, ctx)
    unparsed = [
        {"error": f.parse_error, **statement_evidence(statement, ctx)}
        for statement, f in facts
        if f.parse_error is not None
    ]
    candidates = [
        candidate
        for index, (statement, f) in enumerate(facts)
        if (candidate := _candidate(index, statement, f, ctx, requested)) is not None
    ]
    if not candidates:
        evidence: dict[str, Any] = {"unparsed": unparsed} if unparsed else {}
        message = "no statement could be identified as the page query"
        return [_Finding(UNIDENTIFIED, Outcome.INCONCLUSIVE, message, evidence)]
    page = min(candidates, key=lambda c: (c.audit, c.tier, c.index))
    evidence = {"page_statement": statement_evidence(page.statement, ctx), "chosen_because": _TIERS[page.tier]}
    if unparsed:
        evidence["unparsed"] = unparsed
    if page.main is not None:
        evidence["page_table"] = page.main.table
    return [*_limit(page, ctx, evidence, bool(unparsed)), *_order(page, ctx, evidence)]


def _candidate(
    index: int, statement: Statement, facts: StatementFacts, ctx: ProbeContext, requested: int
) -> _Candidate | None:
    if facts.kind is not Kind.SELECT or facts.parse_error is not None or statement.error is not None:
        return None
    if not facts.tables:
        return None
    main = _main_table(facts)
    if main is not None and _pinned(main, ctx):
        return None
    if facts.offset is not None:
        tier = 0
    elif facts.limit is not None and _limit_value(facts.limit, statement.params) == requested:
        tier = 1
    else:
        tier = 2 if facts.limit is not None else 3
    audit = main is not None and ctx.tagged.is_audit(main.table)
    return _Candidate(tier, audit, index, statement, facts, main)


def _main_table(facts: StatementFacts) -> TableRef | None:
    """The first table of the outermost FROM; else the one table the CTEs, derived tables and UNION branches
    it reads have (None when they have several)."""
    kinds = {scope.id: scope.kind for scope in facts.scopes}
    root = [ref for ref in facts.tables if kinds.get(ref.scope) == "root" and ref.role is Role.FROM]
    if root:
        return root[0]
    inner = [ref for ref in facts.tables if kinds.get(ref.scope) in ("cte", "derived_table", "set_operation")]
    inner = [ref for ref in inner if ref.role is Role.FROM]
    return inner[0] if len({ref.table for ref in inner}) == 1 else None


def _fixed(ref: TableRef) -> set[str]:
    """The columns of *ref* that ``=`` predicates fix to one value for every row."""
    return {
        p.column.lower() for p in ref.predicates if p.op in ("=", "IS NOT DISTINCT FROM") and p.value.kind in _PINNING
    }


def _pinned(ref: TableRef, ctx: ProbeContext) -> bool:
    fixed = _fixed(ref)
    return any({column.lower() for column in key} <= fixed for key in ctx.catalog.unique_keys(ref.table))


# -- the rules --------------------------------------------------------------------------------------------------


def _limit(page: _Candidate, ctx: ProbeContext, evidence: dict[str, Any], unparsed: bool) -> list[_Finding]:
    maximum = ctx.policy.pagination.max_limit
    limit = page.facts.limit
    evidence = {**evidence, "max_limit": maximum}
    if limit is None or limit.kind is ValueKind.NULL or _bound_null(limit, page.statement.params):
        if unparsed and page.tier == 3:
            message = "the page statement may be one that could not be parsed"
            return [_Finding(NO_LIMIT, Outcome.INCONCLUSIVE, message, evidence)]
        return [_Finding(NO_LIMIT, Outcome.FAIL, "the page statement has no LIMIT", {**evidence, "limit": None})]
    value = _limit_value(limit, page.statement.params)
    evidence |= {"limit_sql": limit.sql, "limit": value}
    if value is None:
        return [_Finding(OVER_MAX, Outcome.INCONCLUSIVE, "the page statement's LIMIT could not be resolved", evidence)]
    if value > maximum:
        return [_Finding(OVER_MAX, Outcome.FAIL, "the page statement's LIMIT exceeds the maximum page size", evidence)]
    return [_Finding(OVER_MAX, Outcome.PASS, "", evidence)]


def _order(page: _Candidate, ctx: ProbeContext, evidence: dict[str, Any]) -> list[_Finding]:
    keys = page.facts.order_by
    if not keys:
        return [_Finding(NO_ORDER, Outcome.FAIL, "the page statement has no ORDER BY", evidence)]
    evidence = {**evidence, "order_by": [key.sql for key in keys]}
    main = page.main
    if main is None or not main.known:
        message = "the page statement's table could not be told, so neither could its keys"
        return [_Finding(UNSTABLE_ORDER, Outcome.INCONCLUSIVE, message, evidence)]
    ordered = {key.column.column.lower() for key in keys if key.column and _same_table(key.column.table, main.table)}
    fixed = _fixed(main)
    unique = [tuple(key) for key in ctx.catalog.unique_keys(main.table)]
    evidence["unique_keys"] = [list(key) for key in unique]
    if any({column.lower() for column in key} - fixed <= ordered for key in unique):
        return [_Finding(UNSTABLE_ORDER, Outcome.PASS, "", evidence)]
    message = "the page statement's ORDER BY does not include a unique key of its table"
    return [_Finding(UNSTABLE_ORDER, Outcome.FAIL, message, evidence)]


def _items(ctx: ProbeContext, requested: int) -> list[_Finding]:
    response = ctx.response
    items = response.get("items") if isinstance(response, dict) else response
    if not isinstance(items, list):
        return []
    maximum = ctx.policy.pagination.max_limit
    bound, basis = (maximum, "max_limit") if requested > maximum else (requested, "requested page size")
    evidence = {"items": len(items), "item_bound": bound, "item_bound_basis": basis}
    if len(items) > bound:
        return [_Finding(TOO_MANY_ITEMS, Outcome.FAIL, "the response holds more items than a page may", evidence)]
    return [_Finding(TOO_MANY_ITEMS, Outcome.PASS, "", evidence)]


# -- values -----------------------------------------------------------------------------------------------------


def _requested(url: str, ctx: ProbeContext) -> int:
    """The page size the request asked for: its limit query parameter, else the policy's default."""
    policy = ctx.policy.pagination
    values = parse_qs(urlsplit(url).query).get(policy.limit_param, [])
    raw = values[-1].strip() if values else ""
    return int(raw) if raw.isdigit() and int(raw) > 0 else policy.default_limit


def _bound_null(limit: Value, params: Sequence[str | None]) -> bool:
    return (
        limit.kind is ValueKind.PARAM
        and limit.param is not None
        and 0 < limit.param <= len(params)
        and (params[limit.param - 1] is None)
    )


def _limit_value(limit: Value, params: Sequence[str | None]) -> int | None:
    """The LIMIT's value: a literal, a bound parameter, or ``LEAST`` of those (a common way to cap it).

    >>> _limit_value(Value(ValueKind.FUNCTION, "LEAST($1, 100)", function="least"), ("250",))
    100
    """
    if limit.kind in (ValueKind.PARAM, ValueKind.LITERAL):
        return _integer(limit.resolve(params))
    if limit.kind is not ValueKind.FUNCTION or limit.function != "least":
        return None
    try:
        call = sqlglot.parse_one(limit.sql, dialect="postgres")
    except SqlglotError:
        return None
    arguments = [call.this, *call.expressions] if isinstance(call, exp.Least) else list(call.expressions)
    values = [_argument(argument, params) for argument in arguments]
    known = [value for value in values if value is not None]
    return min(known) if known and len(known) == len(values) else None


def _argument(node: exp.Expr, params: Sequence[str | None]) -> int | None:
    while isinstance(node, exp.Cast | exp.Paren):
        node = node.this
    if isinstance(node, exp.Literal) and node.is_number:
        return _integer(node.this)
    if isinstance(node, exp.Parameter) and node.name.isdigit() and 0 < int(node.name) <= len(params):
        return _integer(params[int(node.name) - 1])
    return None


def _integer(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _same_table(one: str | None, other: str) -> bool:
    return one is not None and one.lower() == other.lower()
