"""What every probe shares: one signature, one context, and one way to state a conclusion.

A probe is a function ``probe(trace, ctx) -> Iterator[Result]`` in a module of the same name (sqlglot's
optimizer rules are the model). It reads the statements a request ran (``trace``) through their cached
facts, and the context (policy, catalog, principal, what the contract says of the operation). It never
answers with a bool: it yields typed results, and when it could not observe what it needs it yields
INCONCLUSIVE — never PASS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from probity.core.catalog import Catalog, TaggedCatalog
from probity.core.findings import Category, Outcome, Result, Severity, finding
from probity.core.policy import Policy
from probity.core.principals import Principal
from probity.core.redact import MASK, Redactor
from probity.core.trace import RequestTrace, Statement
from probity.sql import StatementFacts, statement_facts

__all__ = [
    "OperationFacts",
    "Probe",
    "ProbeContext",
    "ReadBack",
    "facts_of",
    "statement_evidence",
    "unobserved",
]

_ID_LIKE = re.compile(r"^[0-9a-fA-F-]{8,36}$|^\d{1,19}$")


@dataclass(frozen=True)
class OperationFacts:
    """What the contract says about the operation a request called."""

    label: str  # "METHOD /path/template"
    phi: bool = False
    paginated: bool = False
    roles: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        return self.label.split(" ", 1)[0]


class ReadBack(Protocol):
    """Read access to the target's database, to confirm what the log says (an audit row committed, the
    tenant a row really belongs to). Values are compared as text; None means IS NULL."""

    def count(self, table: str, where: Mapping[str, str | None]) -> int:
        """How many rows of *table* have these column values."""
        ...

    def rows(self, table: str, columns: Sequence[str], where: Mapping[str, str | None]) -> list[dict[str, str | None]]:
        """The given columns (as text) of the rows of *table* with these column values."""
        ...


@dataclass(frozen=True)
class ProbeContext:
    """Everything a probe may know besides the trace."""

    policy: Policy
    catalog: Catalog
    tagged: TaggedCatalog
    operation: OperationFacts
    principal: Principal | None = None
    inputs: tuple[str, ...] = ()  # generated input values (path, query, body leaves) as strings
    response: Any = None  # the parsed JSON body, when there is one
    response_text: str = ""
    readback: ReadBack | None = None
    redactor: Redactor = field(default_factory=Redactor)
    # every probe asks for the facts of the request's statements: ask the shared cache once per text
    _facts: dict[str, StatementFacts] = field(default_factory=dict, init=False, repr=False, compare=False)

    def facts(self, statement: Statement) -> StatementFacts:
        """The statement's facts, computed once per distinct text."""
        found = self._facts.get(statement.text)
        if found is None:
            found = self._facts[statement.text] = statement_facts(statement.text, self.catalog)
        return found

    def attribute(self, name: str) -> str | None:
        """The caller's value of a principal attribute (e.g. tenant_id), if known."""
        return self.principal.attributes.get(name) if self.principal else None

    def result(
        self,
        probe: str,
        rule: str,
        category: Category,
        outcome: Outcome,
        message: str,
        severity: Severity = Severity.INFO,
        evidence: dict[str, Any] | None = None,
    ) -> Result:
        """A result of *probe* about this operation, with the policy's severity and the probe's controls."""
        severity = self.policy.severity(rule, severity)
        evidence = {"principal": self.principal.name if self.principal else None, **(evidence or {})}
        return finding(probe, rule, category, outcome, self.operation.label, message, severity, evidence)


class Probe(Protocol):
    """The one signature of every probe.

    - **Must** yield at least one result per call: PASS, FAIL, INCONCLUSIVE or NOT_APPLICABLE.
    - **Must** yield INCONCLUSIVE when ``trace.conclusive`` is false and it needs SQL to judge.
    - **Must not** raise on unparseable SQL: facts carry ``parse_error``.
    """

    __name__: str

    def __call__(self, trace: RequestTrace, ctx: ProbeContext) -> Iterator[Result]: ...


def statement_evidence(statement: Statement, ctx: ProbeContext) -> dict[str, Any]:
    """A statement as evidence: its SQL scrubbed of secrets, and its bound values masked unless id-like.

    >>> from probity.core.policy import Policy
    >>> ctx = ProbeContext(Policy.model_validate({"tenancy": {"scopes": [
    ...     {"name": "o", "column": "org", "attribute": "org", "tables": ["t"]}]}}),
    ...     Catalog(()), TaggedCatalog.build(Catalog(()), Policy.model_validate({"tenancy": {"scopes": [
    ...     {"name": "o", "column": "org", "attribute": "org", "tables": ["t"]}]}})), OperationFacts("GET /t"))
    >>> statement_evidence(Statement("SELECT * FROM t WHERE org = $1 AND n = $2", ("42", "Ann")), ctx)["params"]
    ['42', '***']
    """
    return {
        "sql": ctx.redactor.text(statement.text),
        "params": [_shown(value) for value in statement.params],
        "session": statement.session_id,
        "log_line": statement.log_line,
    }


def _shown(value: str | None) -> str | None:
    # Ids (uuids, integers) carry the tenancy story and are not PHI; anything else may be.
    return value if value is None or _ID_LIKE.match(value) else MASK


def unobserved(probe: str, category: Category, trace: RequestTrace, ctx: ProbeContext) -> Iterator[Result]:
    """INCONCLUSIVE when the trace cannot be judged: the shared first step of every SQL probe."""
    if trace.conclusive:
        return
    reason = "no SQL was captured for this request" if trace.observed else "the statement log could not be read"
    if trace.observed and not trace.statements:
        reason = f"no statement was attributed to this request ({trace.attribution})"
    yield ctx.result(probe, f"{probe}.unobserved", category, Outcome.INCONCLUSIVE, reason)


def facts_of(trace: RequestTrace, ctx: ProbeContext) -> Sequence[tuple[Statement, StatementFacts]]:
    """Every statement of the trace with its facts, in log order."""
    return [(statement, ctx.facts(statement)) for statement in trace.statements]
