"""N+1 queries: the same statement, with only its values changed, run again and again within one request.

The classic shape is one query for a list and then one more per row of it (each post's last comment
fetched by its own ``SELECT … WHERE post_id = $2``). Statements are grouped by their *shape* (the text with
every literal and parameter a placeholder, comments dropped); transaction control and ``SET`` are not
queries and are left out. A shape that ran at least ``policy.n_plus_one_threshold`` times in one request
fails ``n_plus_one.repeated_shape`` (default MEDIUM), with the shape and its count in the evidence; one
result per repeated shape. Otherwise the request passes. A request whose SQL could not be observed is
INCONCLUSIVE.

>>> from probity.core.catalog import Catalog
>>> from probity.core.policy import Policy
>>> from probity.core.trace import Attribution, Exchange, RequestTrace, Statement
>>> from probity.probes.base import OperationFacts, ProbeContext
>>> policy = Policy.model_validate({"tenancy": {"scopes": [
...     {"name": "org", "column": "org", "attribute": "org", "tables": ["posts"]}]}, "n_plus_one_threshold": 3})
>>> ctx = ProbeContext(policy, Catalog(), Catalog().tag(policy), OperationFacts("GET /posts"))
>>> last = "SELECT body FROM comments WHERE post_id = $1 ORDER BY at DESC LIMIT 1"
>>> statements = [Statement("SELECT id FROM posts WHERE org = $1", ("o1",))]
>>> statements += [Statement(last, (f"p{n}",)) for n in range(4)]
>>> trace = RequestTrace(Exchange("GET", "/posts", "GET /posts", 200), tuple(statements), Attribution.FENCE)
>>> [(r.rule, r.outcome.value, r.evidence["count"]) for r in n_plus_one(trace, ctx)]
[('n_plus_one.repeated_shape', 'fail', 4)]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.trace import RequestTrace, Statement
from probity.probes.base import ProbeContext, facts_of, statement_evidence, unobserved
from probity.sql import Kind, StatementFacts

__all__ = ["n_plus_one"]

PROBE = "n_plus_one"
CATEGORY = Category.N_PLUS_ONE
_NOT_QUERIES = (Kind.TRANSACTION, Kind.SET)


@dataclass
class _Group:
    """The statements of one shape, in log order."""

    shape: str
    facts: StatementFacts
    statements: list[Statement] = field(default_factory=list)


def n_plus_one(trace: RequestTrace, ctx: ProbeContext) -> Iterator[Result]:
    """FAIL for each statement shape repeated at least the policy's threshold in one request; else PASS."""
    inconclusive = list(unobserved(PROBE, CATEGORY, trace, ctx))
    if inconclusive:
        yield from inconclusive
        return
    groups = _groups(trace, ctx)
    threshold = ctx.policy.n_plus_one_threshold
    repeated = [group for group in groups.values() if len(group.statements) >= threshold]
    for group in repeated:
        yield _failure(group, threshold, ctx)
    if not repeated:
        most = max((len(group.statements) for group in groups.values()), default=0)
        evidence = {"most_repeated": most, "threshold": threshold, "shapes": len(groups)}
        yield ctx.result(
            PROBE, f"{PROBE}.repeated_shape", CATEGORY, Outcome.PASS, "no statement shape repeats", evidence=evidence
        )


def _groups(trace: RequestTrace, ctx: ProbeContext) -> dict[str, _Group]:
    groups: dict[str, _Group] = {}
    for statement, facts in facts_of(trace, ctx):
        if facts.kind in _NOT_QUERIES:
            continue
        shape = facts.shape or " ".join(statement.text.split())
        groups.setdefault(shape, _Group(shape, facts)).statements.append(statement)
    return groups


def _failure(group: _Group, threshold: int, ctx: ProbeContext) -> Result:
    tables = sorted(group.facts.table_names)
    evidence = {
        "shape": ctx.redactor.text(group.shape),
        "count": len(group.statements),
        "threshold": threshold,
        "tables": tables,
        "first": statement_evidence(group.statements[0], ctx),
        "log_lines": [statement.log_line for statement in group.statements],
    }
    return ctx.result(
        PROBE, f"{PROBE}.repeated_shape", CATEGORY, Outcome.FAIL, _message(group.facts.kind, tables),
        Severity.MEDIUM, evidence,
    )  # fmt: skip


def _message(kind: Kind, tables: list[str]) -> str:
    # stable text: the statement's kind and tables tell two repeated shapes of one operation apart
    verb = kind.value.upper() if kind is not Kind.OTHER else "statement"
    on = f" on {', '.join(tables)}" if tables else ""
    return f"the same {verb}{on} runs once per item in one request (N+1 queries)"
