"""What every review rule shares: the documents under review, one operation at a time, and one way to conclude.

A review rule is a function ``rule(subject, ctx) -> Iterator[Result]`` in a module of the same name, like a
probe: *subject* is one operation (its reference entry and its blueprint section, either possibly missing),
*ctx* the policy, the DDL's catalog tagged by the policy, and the documents' paths. Statements are read
through the same cached :func:`probity.sql.statement_facts` the probes use, against the DDL's catalog.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from probity.contracts.model import Operation
from probity.core.catalog import Catalog, TaggedCatalog
from probity.core.findings import Category, Outcome, Result, Severity, finding
from probity.core.policy import Policy
from probity.core.redact import Redactor
from probity.review.blueprint import Blueprint, Endpoint, SqlBlock, SqlStatement
from probity.sql import Kind, StatementFacts, statement_facts

__all__ = ["ReviewContext", "ReviewRule", "Reviewed", "Subject", "first_word", "unread"]

DIALECT = Dialect.get_or_raise("postgres")
_NOT_DATA = (Kind.TRANSACTION, Kind.SET)


@dataclass(frozen=True)
class Subject:
    """One operation under review: what the reference says of it and what the blueprint says it does."""

    label: str  # "METHOD /path"
    operation: Operation | None  # None: the blueprint has a section the reference lacks
    endpoint: Endpoint | None  # None: the reference has an operation the blueprint lacks
    phi: bool = False
    paginated: bool = False


@dataclass(frozen=True)
class Reviewed:
    """One data statement (not transaction control) with its block and facts."""

    block: SqlBlock
    statement: SqlStatement
    facts: StatementFacts

    @property
    def readable(self) -> bool:
        return self.statement.error is None and self.facts.parse_error is None


@dataclass(frozen=True)
class ReviewContext:
    """Everything a rule may know besides the operation."""

    policy: Policy
    catalog: Catalog
    tagged: TaggedCatalog
    blueprint: Blueprint
    reference_path: Path
    ddl_path: Path
    redactor: Redactor = field(default_factory=Redactor)

    def facts(self, statement: SqlStatement) -> StatementFacts:
        """The statement's facts, read against the DDL's catalog (cached per text, as for the probes)."""
        return statement_facts(statement.text, self.catalog)

    def data_statements(self, endpoint: Endpoint) -> Iterator[Reviewed]:
        """Every statement of *endpoint* that reads or writes data, in order, with its facts."""
        for block, statement in endpoint.statements:
            facts = self.facts(statement)
            if statement.error is not None or facts.kind not in _NOT_DATA:
                yield Reviewed(block, statement, facts)

    def location(self, line: int) -> str:
        return f"{self.blueprint.path}:{line}"

    def result(
        self,
        subject: Subject,
        rule: str,
        outcome: Outcome,
        message: str,
        severity: Severity = Severity.INFO,
        evidence: Mapping[str, Any] | None = None,
    ) -> Result:
        """A result of the check *rule* belongs to (``review.tenancy.unscoped`` → ``review.tenancy``)."""
        check = ".".join(rule.split(".")[:2])
        severity = self.policy.severity(rule, severity)
        return finding(check, rule, Category.REVIEW, outcome, subject.label, message, severity, dict(evidence or {}))

    def statement_evidence(self, reviewed: Reviewed, **extra: Any) -> dict[str, Any]:
        """Where a statement is and what it says (documents hold no values, but a pasted one is scrubbed)."""
        text = " ".join(reviewed.statement.text.split())
        return {"location": self.location(reviewed.statement.line), "sql": self.redactor.text(text), **extra}

    def unreviewable(self, subject: Subject, check: str) -> Iterator[Result]:
        """INCONCLUSIVE when the blueprint has no section for the operation: the shared first step of rules."""
        if subject.endpoint is None:
            message = "the blueprint has no section for this operation, so nothing could be reviewed"
            yield self.result(subject, f"{check}.no_blueprint", Outcome.INCONCLUSIVE, message)


def unread(subject: Subject, ctx: ReviewContext, check: str) -> Result | None:
    """INCONCLUSIVE instead of PASS when some statement of the operation could not be parsed: what was not read
    cannot be cleared (the ``review.schema.unparsed`` finding names it)."""
    if subject.endpoint is None:
        return None
    count = sum(1 for reviewed in ctx.data_statements(subject.endpoint) if not reviewed.readable)
    if not count:
        return None
    message = f"{count} statement(s) could not be parsed, so the operation cannot be cleared"
    return ctx.result(subject, f"{check}.unparsed", Outcome.INCONCLUSIVE, message)


class ReviewRule(Protocol):
    """The one signature of every review rule.

    - **Must** yield at least one result per operation: PASS, FAIL, INCONCLUSIVE or NOT_APPLICABLE.
    - **Must** yield INCONCLUSIVE (``<check>.no_blueprint``) when the blueprint lacks the operation.
    - **Must not** raise on unparseable SQL: the ``review.schema`` rule reports it; others skip the statement
      and conclude INCONCLUSIVE (``<check>.unparsed``, see :func:`unread`) where they would have passed.
    """

    __name__: str

    def __call__(self, subject: Subject, ctx: ReviewContext) -> Iterator[Result]: ...


def first_word(text: str) -> str:
    """The first keyword of a statement, upper-case, read by sqlglot's tokenizer (``BEGIN``, ``COMMIT`` …).

    >>> first_word("  begin;"), first_word("")
    ('BEGIN', '')
    """
    try:
        tokens = DIALECT.tokenize(text)
    except SqlglotError:
        return ""
    return tokens[0].text.upper() if tokens else ""
