"""Parameterization: a value the request carried must reach SQL as a bound parameter, never as SQL text.

The request's generated inputs (``ctx.inputs``: path, query and body leaves, as strings) are compared with
the literals each statement writes where a literal is data (WHERE, ON, HAVING, VALUES, SET; see
``StatementFacts.literals``) and with a literal LIMIT or OFFSET. A constant written in the code may happen
to equal an input (``status = 'OPEN'`` while the request also sent ``OPEN``), so a literal counts as an
interpolated input only when it equals one (or is one wrapped in LIKE wildcards) and

* the input is **distinctive**: free text, an id, a date, a number of 1000 or more — not a short value, not
  an all-caps enum word, not a number below 1000, not true/false (a distinctive input of six characters or
  more also counts when it sits *inside* a string literal, as in ``ILIKE '%Smith Jones%'``); or
* the literal is the **odd one out**: a string compared with a column in WHERE/ON/HAVING in a statement that
  binds parameters and writes no other (non-boolean) literal into a comparison — the shape of code that binds
  everything but splices one value in (``a.tenant_id = $1 AND a.status = 'ON_HOLD'``).

Either way, a literal whose value the same statement also binds as a parameter is taken for a coincidence
(the code bound that input). Boolean literals are never judged.

Telling an interpolated enum value from a constant that equals it for sure needs the statement's shape
across requests (the literal at that position changes with the input); a probe sees one request, so the
rule above is the conservative single-request reading.

Rules: ``parameterization.inlined_input`` (default HIGH) per statement and position; PASS when no statement
inlines an input; NOT_APPLICABLE when the request carried no input; INCONCLUSIVE when the SQL could not be
observed or a statement could not be parsed (``parameterization.unparsed``, the parser's message in the
evidence).

>>> from probity.core.catalog import Catalog
>>> from probity.core.policy import Policy
>>> from probity.core.trace import Attribution, Exchange, RequestTrace, Statement
>>> from probity.probes.base import OperationFacts, ProbeContext
>>> policy = Policy.model_validate({"tenancy": {"scopes": [
...     {"name": "org", "column": "org", "attribute": "org", "tables": ["visits"]}]}})
>>> ctx = ProbeContext(policy, Catalog(), Catalog().tag(policy), OperationFacts("GET /visits"), inputs=("ON_HOLD",))
>>> sql = "SELECT id FROM visits v WHERE v.org = $1 AND v.status = 'ON_HOLD' LIMIT $2"
>>> trace = RequestTrace(Exchange("GET", "/visits", "GET /visits", 200), (Statement(sql, ("o1", "20")),),
...     Attribution.FENCE)
>>> [(r.rule, r.outcome.value, r.evidence["column"]) for r in parameterization(trace, ctx)]
[('parameterization.inlined_input', 'fail', 'visits.status')]
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.redact import MASK
from probity.core.trace import RequestTrace, Statement
from probity.probes.base import ProbeContext, facts_of, statement_evidence, unobserved
from probity.sql import ColumnRef, Kind, LiteralUse, StatementFacts, Value, ValueKind

__all__ = ["parameterization"]

PROBE = "parameterization"
CATEGORY = Category.INJECTION
RULE = f"{PROBE}.inlined_input"

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_ENUM_WORD = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ID_LIKE = re.compile(r"^[0-9a-fA-F-]{8,36}$|^\d{1,19}$")
_MIN_DISTINCTIVE = 4  # shorter values are too likely to equal a constant ('F', 'en', 'x')
_MIN_CONTAINED = 6  # an input found inside a longer literal must be longer still
_COMPARISONS = ("where", "on", "having")
_NOT_DATA = (Kind.TRANSACTION, Kind.SET)  # SET takes no parameters: nothing to bind instead


@dataclass(frozen=True)
class _Position:
    """A literal where a value could have been bound: a data literal, or a literal LIMIT/OFFSET."""

    value: str
    clause: str
    column: ColumnRef | None
    string: bool  # a string literal (not a number)


@dataclass(frozen=True)
class _Inlined:
    position: _Position
    input: str
    why: str  # distinctive, contained, odd-one-out


def parameterization(trace: RequestTrace, ctx: ProbeContext) -> Iterator[Result]:
    """FAIL for each statement position holding a request value as a literal; else PASS."""
    inputs = tuple(dict.fromkeys(value for value in ctx.inputs if value.strip()))
    if not inputs:
        yield ctx.result(PROBE, RULE, CATEGORY, Outcome.NOT_APPLICABLE, "the request carried no generated input")
        return
    inconclusive = list(unobserved(PROBE, CATEGORY, trace, ctx))
    if inconclusive:
        yield from inconclusive
        return
    judged, complete = 0, True
    failures: list[Result] = []
    for statement, facts in facts_of(trace, ctx):
        if facts.kind in _NOT_DATA:
            continue
        if facts.parse_error:
            complete = False
            yield _unparsed(statement, facts, ctx)
            continue
        judged += 1
        failures += [_failure(statement, found, ctx) for found in _inlined(statement, facts, inputs)]
    yield from failures
    if not failures and complete:
        evidence = {"statements": judged, "inputs": len(inputs)}
        yield ctx.result(PROBE, RULE, CATEGORY, Outcome.PASS, "every request value was bound", evidence=evidence)


def _inlined(statement: Statement, facts: StatementFacts, inputs: Sequence[str]) -> Iterator[_Inlined]:
    positions = _positions(facts)
    if not positions:  # most statements write no literal at all
        return
    bound = {value for value in statement.params if value is not None}
    seen: set[tuple[str, str, str]] = set()
    for position in positions:
        for value in inputs:
            why = _why(position, value, positions, facts, statement)
            key = (position.clause, str(position.column), value)
            if why and value not in bound and key not in seen:
                seen.add(key)
                yield _Inlined(position, value, why)


def _positions(facts: StatementFacts) -> list[_Position]:
    found = [_data_position(use) for use in facts.literals if _judged(use.value)]
    for clause, value in (("limit", facts.limit), ("offset", facts.offset)):
        if value is not None and _judged(value):
            found.append(_Position(value.literal or "", clause, None, string=False))
    return found


def _judged(value: Value) -> bool:
    # booleans carry no injection and are the commonest constants (is_archived = false, ON true)
    return value.kind is ValueKind.LITERAL and value.literal is not None and value.literal not in ("true", "false")


def _data_position(use: LiteralUse) -> _Position:
    # a number's SQL is the bare number; a string's is quoted ('…', E'…', $$…$$)
    return _Position(use.value.literal or "", use.clause, use.column, string=not _NUMBER.match(use.value.sql))


def _why(
    position: _Position, value: str, positions: list[_Position], facts: StatementFacts, statement: Statement
) -> str | None:
    """Why *position* holds the input *value*, or None when it does not (or may be a constant)."""
    literal = position.value
    equal = value in (literal, literal.strip("%"))
    if equal and _distinctive(value):
        return "distinctive"
    if not equal and len(value) >= _MIN_CONTAINED and _distinctive(value) and value in literal:
        return "contained"
    if equal and _odd_one_out(position, positions, statement):
        return "odd-one-out"
    return None


def _distinctive(value: str) -> bool:
    """Whether *value* is unlikely to equal a constant written in the code.

    >>> [_distinctive(v) for v in ("ON_HOLD", "42", "1200", "true", "O'Brien", "3f2b9c1e-aaaa-bbbb-cccc-0123456789ab")]
    [False, False, True, False, True, True]
    """
    text = value.strip()
    if len(text) < _MIN_DISTINCTIVE or text.lower() in ("true", "false", "null", "none"):
        return False
    if _NUMBER.match(text):
        return abs(float(text)) >= 1000
    return not _ENUM_WORD.match(text)


def _odd_one_out(position: _Position, positions: list[_Position], statement: Statement) -> bool:
    # a string compared with a column where everything else the statement compares is bound
    if not (position.string and position.column is not None and position.clause in _COMPARISONS):
        return False
    if not statement.params:
        return False
    others = [p for p in positions if p is not position and p.clause in _COMPARISONS and p.column is not None]
    return not others


def _failure(statement: Statement, found: _Inlined, ctx: ProbeContext) -> Result:
    column = str(found.position.column) if found.position.column else None
    where = f" ({column})" if column else f" ({found.position.clause.upper()})" if found.position.clause else ""
    evidence = {
        **statement_evidence(statement, ctx),
        "clause": found.position.clause,
        "column": column,
        "literal": _shown(found.position.value, ctx),
        "why": found.why,
        "protocol": statement.protocol,
    }
    message = f"a request value is written into the SQL text instead of bound as a parameter{where}"
    return ctx.result(PROBE, RULE, CATEGORY, Outcome.FAIL, message, Severity.HIGH, evidence)


def _shown(value: str, ctx: ProbeContext) -> str:
    # enum words and ids tell the story and are not PHI; free text may be
    return ctx.redactor.text(value) if _ENUM_WORD.match(value) or _ID_LIKE.match(value) else MASK


def _unparsed(statement: Statement, facts: StatementFacts, ctx: ProbeContext) -> Result:
    evidence = {**statement_evidence(statement, ctx), "parse_error": facts.parse_error}
    return ctx.result(
        PROBE, f"{PROBE}.unparsed", CATEGORY, Outcome.INCONCLUSIVE, "a statement could not be parsed", evidence=evidence
    )
