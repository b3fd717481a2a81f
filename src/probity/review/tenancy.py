"""Tenancy: every statement on tenant data, as the blueprint writes it, filters by the tenant.

The same rule as the ``tenancy_filter`` probe, on the document instead of the log. A document has no bound
values, so "the caller's value" cannot be checked; what can is the shape: every reference to a table a policy
scope names must be constrained, for every row, on the scope's column (``=``, ``IN``, ``= ANY``,
``IS NOT DISTINCT FROM``) to a parameter, a list of them or a setting read with ``current_setting``; or be
equal to another reference's tenant column that is itself so constrained; or be covered by row-level
security on that column. An INSERT must write the tenant column with such a value (tables whose tenant column
is their primary key hold the tenants themselves and are not judged). The policy's exemptions apply.

Rules: ``review.tenancy.unscoped`` (CRITICAL; the policy's ``unscoped_lookup`` severity when the statement
reads one row by a unique key, the fetch-then-check-in-code pattern); ``review.tenancy.under_or`` (CRITICAL):
the tenant predicate sits under an OR; ``review.tenancy.insert_value`` (HIGH): an INSERT leaves the tenant
column unset, DEFAULT, NULL or a literal. NOT_APPLICABLE when no scoped table is touched.
"""

from __future__ import annotations

from collections.abc import Iterator

from probity.core.findings import Outcome, Result, Severity
from probity.review.context import ReviewContext, Reviewed, Subject, unread
from probity.sql import Kind, Predicate, StatementFacts, TableRef, Value, ValueKind, Write

__all__ = ["tenancy"]

RULE = "review.tenancy"
_EQUAL = ("=", "IS NOT DISTINCT FROM")
_CONSTRAINING = (*_EQUAL, "IN", "= ANY")
_BOUND = (ValueKind.PARAM, ValueKind.FUNCTION)


def tenancy(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    """Judge every reference to a tenant-scoped table in the operation's statements."""
    yield from ctx.unreviewable(subject, RULE)
    if subject.endpoint is None:
        return
    judged = [_judge(subject, reviewed, ctx) for reviewed in ctx.data_statements(subject.endpoint) if reviewed.readable]
    failures = [result for results, _ in judged for result in results]
    scoped = any(touched for _, touched in judged)
    yield from failures
    unparsed = None if failures else unread(subject, ctx, RULE)
    if unparsed is not None:
        yield unparsed
    elif not failures and scoped:
        yield ctx.result(subject, f"{RULE}.scoped", Outcome.PASS, "every statement on tenant data filters by tenant")
    elif not failures:
        yield ctx.result(subject, f"{RULE}.no_tenant_data", Outcome.NOT_APPLICABLE, "no tenant-scoped table is used")


def _judge(subject: Subject, reviewed: Reviewed, ctx: ReviewContext) -> tuple[list[Result], bool]:
    facts = reviewed.facts
    inserts = {(w.scope, w.alias): w for w in facts.writes if w.kind is Kind.INSERT}
    refs = [ref for ref in facts.tables if _column(ref.table, ctx) and not _exempt(subject, ref.table, ctx)]
    held = _held(facts, refs, ctx)
    results: list[Result] = []
    for ref in refs:
        insert = inserts.get((ref.scope, ref.alias))
        if insert is not None:
            results += _judge_insert(subject, reviewed, ref, insert, held, ctx)
        elif id(ref) not in held:
            results.append(_unheld(subject, reviewed, ref, ctx))
    return results, bool(refs)


def _column(table: str, ctx: ReviewContext) -> str | None:
    return ctx.tagged.tenant_column(table)


def _exempt(subject: Subject, table: str, ctx: ReviewContext) -> bool:
    return ctx.policy.tenancy.exempted(subject.label, table) is not None


def _held(facts: StatementFacts, refs: list[TableRef], ctx: ReviewContext) -> set[int]:
    """The references constrained to one tenant: directly, by RLS, or joined to one that is (to a fixpoint)."""
    held = {id(ref) for ref in refs if any(_bound(p) for p in _tenant_predicates(ref, ctx)) or _rls(ref, ctx)}
    grew = True
    while grew:
        grew = False
        for ref in refs:
            if id(ref) not in held and _joined_to_held(ref, facts, held, ctx):
                held.add(id(ref))
                grew = True
    return held


def _tenant_predicates(ref: TableRef, ctx: ReviewContext) -> tuple[Predicate, ...]:
    return ref.on(_column(ref.table, ctx) or "")


def _bound(predicate: Predicate) -> bool:
    if predicate.op not in _CONSTRAINING:
        return False
    return _bound_value(predicate.value)


def _bound_value(value: Value) -> bool:
    if value.kind is ValueKind.LIST:
        return bool(value.items) and all(_bound_value(item) for item in value.items)
    return value.kind in _BOUND or (value.kind is ValueKind.EXPRESSION and bool(value.params))


def _joined_to_held(ref: TableRef, facts: StatementFacts, held: set[int], ctx: ReviewContext) -> bool:
    for predicate in _tenant_predicates(ref, ctx):
        other = predicate.value.column
        if predicate.op not in _EQUAL or predicate.value.kind is not ValueKind.COLUMN or other is None:
            continue
        if (_column(other.table or "", ctx) or "").lower() != other.column.lower():
            continue
        if any(id(r) in held for r in facts.tables if r is not ref and r.table == other.table):
            return True
    return False


def _rls(ref: TableRef, ctx: ReviewContext) -> bool:
    # Row-level security that compares the tenant column with a setting confines every statement on the table.
    table = ctx.catalog.table(ref.table)
    column = (_column(ref.table, ctx) or "").lower()
    if table is None or not table.row_security or not table.policies:
        return False
    return all(column in (policy.using or policy.check or "").lower() for policy in table.policies)


def _unheld(subject: Subject, reviewed: Reviewed, ref: TableRef, ctx: ReviewContext) -> Result:
    column = _column(ref.table, ctx) or ""
    evidence = ctx.statement_evidence(reviewed, table=ref.table, alias=ref.alias, tenant_column=column)
    if any(p.column.lower() == column.lower() for p in ref.or_predicates):
        message = f"the tenant predicate on {ref.table} ({ref.alias}.{column}) sits under an OR"
        return ctx.result(subject, f"{RULE}.under_or", Outcome.FAIL, message, Severity.CRITICAL, evidence)
    action = _action(ref, reviewed.facts)
    if _by_unique_key(ref, ctx):
        severity = ctx.policy.tenancy.unscoped_lookup
        message = f"{ref.table} is {action} by a unique key without a filter on {column} (ownership checked in code?)"
        return ctx.result(subject, f"{RULE}.unscoped", Outcome.FAIL, message, severity, evidence)
    message = f"{ref.table} is {action} without a filter on its tenant column {column}"
    return ctx.result(subject, f"{RULE}.unscoped", Outcome.FAIL, message, Severity.CRITICAL, evidence)


def _action(ref: TableRef, facts: StatementFacts) -> str:
    write = next((w for w in facts.writes if (w.scope, w.alias) == (ref.scope, ref.alias)), None)
    return {Kind.UPDATE: "updated", Kind.DELETE: "deleted"}.get(write.kind, "read") if write else "read"


def _by_unique_key(ref: TableRef, ctx: ReviewContext) -> bool:
    equal = {p.column.lower() for p in ref.predicates if p.op in _EQUAL and _bound_value(p.value)}
    return any(key and all(c.lower() in equal for c in key) for key in ctx.catalog.unique_keys(ref.table))


def _judge_insert(
    subject: Subject, reviewed: Reviewed, ref: TableRef, write: Write, held: set[int], ctx: ReviewContext
) -> list[Result]:
    column = _column(ref.table, ctx) or ""
    table = ctx.catalog.table(ref.table)
    if table is not None and [c.lower() for c in table.primary_key] == [column.lower()]:
        return []  # the table's rows are tenants themselves: a new row is a new tenant
    name = next((c for c in write.columns if c.lower() == column.lower()), None)
    values = [write.value(name, row) for row in range(len(write.rows))] if name else []
    if values and all(value is not None and _inserted(value, reviewed.facts, held, ctx) for value in values):
        return []
    message = f"a {ref.table} row is inserted without a bound tenant value in {column}"
    evidence = ctx.statement_evidence(reviewed, table=ref.table, tenant_column=column)
    return [ctx.result(subject, f"{RULE}.insert_value", Outcome.FAIL, message, Severity.HIGH, evidence)]


def _inserted(value: Value, facts: StatementFacts, held: set[int], ctx: ReviewContext) -> bool:
    if value.kind is ValueKind.COLUMN and value.column is not None:  # INSERT … SELECT from a confined source
        source = value.column
        confined = (_column(source.table or "", ctx) or "").lower() == source.column.lower()
        return confined and any(id(r) in held for r in facts.tables if r.table == source.table)
    return _bound_value(value)
