"""Audit: an operation that touches PHI writes the audit log, in the same transaction, with every fact.

The same rule as the ``audit_insert`` probe, on the document. A PHI operation (the reference's ``PHI: yes``
or the policy's ``phi.operations``) must INSERT into the policy's audit table; when the policy asks for
``same_transaction``, every SQL block (transaction) that reads or writes a PHI table must hold that INSERT;
and the INSERT must name the policy's actor, tenant, action, resource type and resource id columns.

Rules: ``review.audit.missing`` (HIGH); ``review.audit.separate_transaction`` (HIGH): PHI is touched in a
transaction without the audit row, so one can commit without the other; ``review.audit.columns`` (MEDIUM):
the audit INSERT leaves a required fact out. NOT_APPLICABLE for operations that are not PHI, or without an
audit policy.
"""

from __future__ import annotations

from collections.abc import Iterator

from probity.core.findings import Outcome, Result, Severity
from probity.core.policy import AuditPolicy
from probity.review.context import ReviewContext, Reviewed, Subject, unread
from probity.sql import Kind

__all__ = ["audit"]

RULE = "review.audit"


def audit(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    """Judge the audit rows of a PHI operation."""
    yield from ctx.unreviewable(subject, RULE)
    if subject.endpoint is None:
        return
    policy = ctx.policy.audit
    if policy is None or not subject.phi:
        reason = "the policy names no audit table" if policy is None else "the operation is not PHI"
        yield ctx.result(subject, f"{RULE}.not_phi", Outcome.NOT_APPLICABLE, reason)
        return
    statements = [r for r in ctx.data_statements(subject.endpoint) if r.readable]
    failures = list(_judge(subject, statements, policy, ctx))
    yield from failures
    unparsed = None if failures else unread(subject, ctx, RULE)
    if unparsed is not None:
        yield unparsed
    elif not failures:
        yield ctx.result(subject, f"{RULE}.written", Outcome.PASS, "the PHI access writes its audit row")


def _judge(subject: Subject, statements: list[Reviewed], policy: AuditPolicy, ctx: ReviewContext) -> Iterator[Result]:
    inserts = [r for r in statements if _is_audit_insert(r, ctx)]
    if not inserts:
        message = f"the operation touches PHI but never inserts into the audit table {policy.table}"
        yield ctx.result(subject, f"{RULE}.missing", Outcome.FAIL, message, Severity.HIGH)
        return
    if policy.same_transaction:
        yield from _separate(subject, statements, inserts, ctx)
    yield from _columns(subject, inserts, policy, ctx)


def _is_audit_insert(reviewed: Reviewed, ctx: ReviewContext) -> bool:
    write = reviewed.facts.write
    return write is not None and write.kind is Kind.INSERT and ctx.tagged.is_audit(write.table)


def _separate(
    subject: Subject, statements: list[Reviewed], inserts: list[Reviewed], ctx: ReviewContext
) -> Iterator[Result]:
    audited = {id(r.block) for r in inserts}
    for reviewed in statements:
        phi = sorted(t for t in reviewed.facts.table_names if ctx.tagged.is_phi(t))
        if phi and id(reviewed.block) not in audited:
            message = f"PHI ({', '.join(phi)}) is used in a transaction that writes no audit row"
            evidence = ctx.statement_evidence(reviewed, tables=phi)
            yield ctx.result(subject, f"{RULE}.separate_transaction", Outcome.FAIL, message, Severity.HIGH, evidence)
            return


def _columns(subject: Subject, inserts: list[Reviewed], policy: AuditPolicy, ctx: ReviewContext) -> Iterator[Result]:
    wanted = policy.columns.model_dump()
    for reviewed in inserts:
        write = reviewed.facts.write
        written = {c.lower() for c in write.columns} if write else set()
        missing = sorted(fact for fact, column in wanted.items() if column.lower() not in written)
        if missing:
            message = f"the audit row leaves out {', '.join(missing)} ({', '.join(wanted[m] for m in missing)})"
            evidence = ctx.statement_evidence(reviewed, missing=missing)
            yield ctx.result(subject, f"{RULE}.columns", Outcome.FAIL, message, Severity.MEDIUM, evidence)
