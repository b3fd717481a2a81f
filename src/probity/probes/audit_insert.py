"""audit_insert: a successful PHI operation writes its audit row, in its own transaction, and the row lands.

The probe applies to a request that succeeded (2xx) and that is a PHI operation: the contract says so
(``x-phi``), the policy lists it (``phi.operations``), or one of its statements reads or writes a PHI table.
The trace must then hold an INSERT into the policy's audit table whose row

- names the caller: the actor column equals the caller's ``audit.actor_attribute`` and the tenant column the
  caller's ``audit.tenant_attribute`` (``audit_insert.wrong_actor``, ``audit_insert.wrong_tenant``);
- says what was done to what: a non-empty action and resource type (``audit_insert.incomplete``), and the
  resource id of the object the operation addressed (``audit_insert.wrong_resource``): the ``id`` of the object
  the response returns (a read, an update, a create), else the last path parameter (a DELETE answering 204);
  a list operation may record NULL (or its parent's id);
- sits in the transaction of every PHI statement the request ran (``audit_insert.other_transaction``, when the
  policy's ``audit.same_transaction`` holds): they commit or vanish together;
- landed (``audit_insert.rolled_back``, critical): its transaction ended in COMMIT without an error that
  aborted it, no ROLLBACK TO SAVEPOINT undid it, and a read-back of the audit table, when one is available,
  finds the row. A rolled-back insert does not count.

No audit INSERT at all is ``audit_insert.missing``. When several rows were inserted, the one closest to
correct is judged. PASS (``audit_insert.recorded``) when every rule holds; INCONCLUSIVE when no SQL was
observed (for any successful request: without SQL, whether it touched a PHI table is unknown), when the policy
names no audit table (``audit_insert.no_policy``), or when a rule needs what is unknown (the caller's
attributes, a value computed in SQL, the end of a transaction not in the trace); NOT_APPLICABLE for failed
requests and for operations neither declared PHI nor touching a PHI table.

How transactions are read (``probity.probes._transactions``): per session, BEGIN … COMMIT/ROLLBACK in log
order, a COMMIT after a failed statement is a rollback, ROLLBACK TO SAVEPOINT undoes what followed it, real
virtual transaction ids (not ``…/0``) must agree; values a row takes from ``current_setting('x')`` are
resolved from the ``SET``/``set_config`` statements before it.

>>> from probity.core.policy import Policy
>>> from probity.core.principals import Principal, TokenSpec
>>> from probity.core.trace import Attribution, Exchange, RequestTrace, Statement
>>> from probity.probes.base import OperationFacts, ProbeContext
>>> from probity.sql import catalog_from_ddl
>>> catalog = catalog_from_ddl("CREATE TABLE visits (id int PRIMARY KEY, org int);"
...     "CREATE TABLE audit (org int, actor int, action text, kind text, object int)")
>>> policy = Policy.model_validate({
...     "tenancy": {"scopes": [{"name": "o", "column": "org", "attribute": "org", "tables": ["visits"]}]},
...     "phi": {"tables": ["visits"]}, "audit": {"table": "audit", "actor_attribute": "uid", "tenant_attribute": "org",
...     "columns": {"actor": "actor", "tenant": "org", "action": "action", "resource_type": "kind",
...                 "resource_id": "object"}}})
>>> ann = Principal(name="ann", tenant="a", role="r", attributes={"uid": "7", "org": "1"}, token=TokenSpec(env="T"))
>>> ctx = ProbeContext(policy, catalog, catalog.tag(policy), OperationFacts("GET /visits/{id}"), ann)
>>> def trace(*statements):
...     exchange = Exchange("GET", "http://api/visits/42", "GET /visits/{id}", 200)
...     return RequestTrace(exchange, tuple(Statement(t, p, "s1") for t, p in statements), Attribution.FENCE)
>>> read = ("SELECT id FROM visits WHERE id = $1 AND org = $2", ("42", "1"))
>>> insert = ("INSERT INTO audit VALUES ($1, $2, 'visit.read', 'visit', $3)", ("1", "7", "42"))
>>> [(r.rule, r.outcome.value) for r in audit_insert(trace(("BEGIN", ()), read, ("COMMIT", ())), ctx)]
[('audit_insert.missing', 'fail')]
>>> [(r.rule, r.outcome.value) for r in audit_insert(trace(("BEGIN", ()), read, insert, ("COMMIT", ())), ctx)]
[('audit_insert.recorded', 'pass')]
>>> [(r.rule, r.outcome.value) for r in audit_insert(trace(("BEGIN", ()), read, insert, ("ROLLBACK", ())), ctx)]
[('audit_insert.rolled_back', 'fail')]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.policy import AuditPolicy
from probity.core.redact import Redactor
from probity.core.trace import RequestTrace, Statement
from probity.probes._transactions import Transactions
from probity.probes.base import ProbeContext, facts_of, statement_evidence, unobserved
from probity.sql import Kind, StatementFacts, Value, ValueKind, Write

__all__ = ["audit_insert"]

PROBE = "audit_insert"
CATEGORY = Category.AUDIT

MISSING = f"{PROBE}.missing"
WRONG_ACTOR = f"{PROBE}.wrong_actor"
WRONG_TENANT = f"{PROBE}.wrong_tenant"
WRONG_RESOURCE = f"{PROBE}.wrong_resource"
INCOMPLETE = f"{PROBE}.incomplete"
OTHER_TRANSACTION = f"{PROBE}.other_transaction"
ROLLED_BACK = f"{PROBE}.rolled_back"
RECORDED = f"{PROBE}.recorded"
NOT_APPLICABLE = f"{PROBE}.not_applicable"
NO_POLICY = f"{PROBE}.no_policy"

_SEVERITY = {
    MISSING: Severity.HIGH,
    WRONG_ACTOR: Severity.HIGH,
    WRONG_TENANT: Severity.HIGH,
    WRONG_RESOURCE: Severity.HIGH,
    INCOMPLETE: Severity.HIGH,
    OTHER_TRANSACTION: Severity.HIGH,
    ROLLED_BACK: Severity.CRITICAL,
}
_DATA = (Kind.SELECT, Kind.INSERT, Kind.UPDATE, Kind.DELETE)


def audit_insert(trace: RequestTrace, ctx: ProbeContext) -> Iterator[Result]:
    """Judge one request: see the module's docstring for the rules."""
    status = trace.exchange.status
    if not 200 <= status < 300:
        yield _result(ctx, NOT_APPLICABLE, Outcome.NOT_APPLICABLE, "the request did not succeed", {"status": status})
        return
    if not trace.conclusive:
        yield from unobserved(PROBE, CATEGORY, trace, ctx)
        return
    facts = facts_of(trace, ctx)
    declared = ctx.operation.phi or ctx.operation.label in ctx.policy.phi.operations
    phi = [i for i, (statement, f) in enumerate(facts) if statement.error is None and _touches_phi(f, ctx)]
    if not declared and not phi:
        message = "the operation is not declared PHI and touched no PHI table"
        yield _result(ctx, NOT_APPLICABLE, Outcome.NOT_APPLICABLE, message)
        return
    if ctx.policy.audit is None:
        yield _result(ctx, NO_POLICY, Outcome.INCONCLUSIVE, "the policy names no audit table")
        return
    yield from _judge(_Request(trace, ctx, ctx.policy.audit, facts, phi, Transactions.read(facts)))


# -- the request as the rules see it --------------------------------------------------------------------------


@dataclass
class _Request:
    trace: RequestTrace
    ctx: ProbeContext
    audit: AuditPolicy
    facts: Sequence[tuple[Statement, StatementFacts]]
    phi: list[int]  # indexes of the PHI statements that ran
    transactions: Transactions


@dataclass(frozen=True)
class _Cell:
    """A column's value in an inserted row: known (a string, or None for NULL) or not computable here."""

    known: bool
    value: str | None = None
    sql: str = ""


@dataclass(frozen=True)
class _Row:
    index: int  # the statement's index in the trace
    write: Write
    row: int
    cells: Mapping[str, _Cell]  # by role: actor, tenant, action, resource_type, resource_id


@dataclass(frozen=True)
class _Finding:
    rule: str
    outcome: Outcome
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _judge(request: _Request) -> Iterator[Result]:
    ctx = request.ctx
    rows = [row for index, (_, f) in enumerate(request.facts) for row in _audit_rows(request, index, f)]
    unparsed = _unparsed(request)
    if not rows:
        evidence = {"audit_table": request.audit.table, "phi_statements": _shown(request, request.phi)}
        if unparsed:
            message = "no audit INSERT was read, but some statements could not be parsed"
            yield _result(ctx, MISSING, Outcome.INCONCLUSIVE, message, {**evidence, "unparsed": unparsed})
        else:
            message = "a PHI operation succeeded without inserting an audit row"
            yield _result(ctx, MISSING, Outcome.FAIL, message, evidence)
        return
    judged = [(row, _findings(request, row)) for row in rows]
    row, findings = min(judged, key=lambda pair: _badness(pair[1]))
    common: dict[str, Any] = {
        "audit_statement": statement_evidence(request.trace.statements[row.index], ctx),
        "row": _row_view(row, ctx.redactor),
    }
    if unparsed:
        common["unparsed"] = unparsed
    if len(rows) > 1:
        common["audit_rows_seen"] = len(rows)
    if not findings:
        yield _result(ctx, RECORDED, Outcome.PASS, "the PHI operation's audit row was recorded", common)
        return
    for finding in findings:
        yield _result(ctx, finding.rule, finding.outcome, finding.message, {**common, **finding.evidence})


def _badness(findings: list[_Finding]) -> tuple[int, int]:
    failed = [f for f in findings if f.outcome is Outcome.FAIL]
    return sum(_SEVERITY[f.rule].rank for f in failed), len(findings) - len(failed)


def _findings(request: _Request, row: _Row) -> list[_Finding]:
    found = [
        _identity(request, row, "actor", WRONG_ACTOR, request.audit.actor_attribute),
        _identity(request, row, "tenant", WRONG_TENANT, request.audit.tenant_attribute),
        _complete(row, request.ctx.redactor),
        _resource(request, row),
        _same_transaction(request, row),
        _landed(request, row),
    ]
    return [finding for finding in found if finding is not None]


def _result(
    ctx: ProbeContext, rule: str, outcome: Outcome, message: str, evidence: dict[str, Any] | None = None
) -> Result:
    return ctx.result(PROBE, rule, CATEGORY, outcome, message, _SEVERITY.get(rule, Severity.INFO), evidence)


# -- the rules ------------------------------------------------------------------------------------------------


def _identity(request: _Request, row: _Row, role: str, rule: str, attribute: str) -> _Finding | None:
    expected = request.ctx.attribute(attribute)
    cell = row.cells[role]
    recorded = _cell_view(cell, request.ctx.redactor)
    evidence = {"attribute": attribute, "expected": expected, "recorded": recorded}
    if expected is None:
        return _Finding(rule, Outcome.INCONCLUSIVE, f"the caller's {role} attribute is unknown", evidence)
    if not cell.known:
        return _Finding(rule, Outcome.INCONCLUSIVE, f"the audit row's {role} is computed in SQL", evidence)
    if cell.value is None or not _same(cell.value, expected):
        return _Finding(rule, Outcome.FAIL, f"the audit row's {role} is not the caller's", evidence)
    return None


def _complete(row: _Row, redactor: Redactor) -> _Finding | None:
    cells = {role: row.cells[role] for role in ("action", "resource_type")}
    empty = sorted(role for role, cell in cells.items() if cell.known and not (cell.value or "").strip())
    unknown = sorted(role for role, cell in cells.items() if not cell.known)
    evidence = {role: _cell_view(cell, redactor) for role, cell in cells.items()}
    if empty:
        message = "the audit row does not say what was done to what"
        return _Finding(INCOMPLETE, Outcome.FAIL, message, {**evidence, "empty": empty})
    if unknown:
        message = "the audit row's action or resource type is computed in SQL"
        return _Finding(INCOMPLETE, Outcome.INCONCLUSIVE, message, evidence)
    return None


def _resource(request: _Request, row: _Row) -> _Finding | None:
    expected = _expected_resource(request)
    cell = row.cells["resource_id"]
    recorded = _cell_view(cell, request.ctx.redactor)
    evidence = {"recorded": recorded, "expected": sorted(expected.ids), "basis": expected.basis}
    if expected.basis == "unknown":
        return None  # nothing addresses an object: no id to compare with
    if not cell.known:
        return _Finding(
            WRONG_RESOURCE, Outcome.INCONCLUSIVE, "the audit row's resource id is computed in SQL", evidence
        )
    if cell.value is None:
        if expected.null_ok:
            return None
        return _Finding(WRONG_RESOURCE, Outcome.FAIL, "the audit row names no resource", evidence)
    if any(_same(cell.value, wanted) for wanted in expected.ids):
        return None
    return _Finding(WRONG_RESOURCE, Outcome.FAIL, "the audit row names another resource than the operation's", evidence)


def _same_transaction(request: _Request, row: _Row) -> _Finding | None:
    if not request.audit.same_transaction or not request.phi:
        return None
    transactions = request.transactions
    outside = [i for i in request.phi if not transactions.same(i, row.index)]
    if not outside:
        return None
    evidence = {
        "audit_transaction": transactions.describe(row.index, request.trace.statements),
        "phi_outside": _shown(request, outside[:3]),
        "phi_outside_count": len(outside),
    }
    message = "the audit row was inserted outside the PHI statements' transaction"
    return _Finding(OTHER_TRANSACTION, Outcome.FAIL, message, evidence)


def _landed(request: _Request, row: _Row) -> _Finding | None:
    fate = request.transactions.fate(row.index)
    evidence: dict[str, Any] = {
        "transaction": request.transactions.describe(row.index, request.trace.statements),
        "fate": fate,
    }
    if fate in ("rolled back", "failed", "undone"):
        return _Finding(ROLLED_BACK, Outcome.FAIL, "the audit row was rolled back", evidence)
    found = _read_back(request, row, evidence)
    if found == 0:
        return _Finding(ROLLED_BACK, Outcome.FAIL, "the audit row was not found in the audit table", evidence)
    if fate == "unknown" and found is None:
        message = "the end of the audit row's transaction was not observed"
        return _Finding(ROLLED_BACK, Outcome.INCONCLUSIVE, message, evidence)
    return None


def _read_back(request: _Request, row: _Row, evidence: dict[str, Any]) -> int | None:
    """How many audit rows hold this row's values (None when there is no read-back); notes it in *evidence*."""
    readback = request.ctx.readback
    if readback is None:
        evidence["readback"] = "unavailable"
        return None
    columns = request.audit.columns
    names = {
        "actor": columns.actor,
        "tenant": columns.tenant,
        "action": columns.action,
        "resource_id": columns.resource_id,
    }
    where = {names[role]: cell.value for role, cell in row.cells.items() if role in names and cell.known}
    try:
        count = readback.count(request.audit.table, where)
    except Exception as exc:  # the target's database is not ours to trust: a failed read-back is no verdict
        evidence["readback"] = f"failed: {exc!r}"
        return None
    evidence["readback"] = {"where": sorted(where), "count": count}
    return count


# -- what the operation addressed -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Expected:
    ids: frozenset[str]
    null_ok: bool
    basis: str  # response id, path parameter, list, unknown


def _expected_resource(request: _Request) -> _Expected:
    ctx = request.ctx
    path = _path_values(ctx.operation.label, request.trace.exchange.url)
    if path is None:  # the URL does not fit the template: any generated input may be the addressed object
        path, basis = list(ctx.inputs), "generated input"
    else:
        basis = "path parameter"
    response = ctx.response
    listing = ctx.operation.paginated or isinstance(response, list)
    listing = listing or (isinstance(response, dict) and isinstance(response.get("items"), list))
    if listing:  # one row for the list: NULL, or the parent the path names
        return _Expected(frozenset(path), True, "list")
    returned = response.get("id") if isinstance(response, dict) else None
    if isinstance(returned, str | int) and not isinstance(returned, bool):
        return _Expected(frozenset({str(returned)}), False, "response id")
    if path:
        return _Expected(frozenset(path if basis == "generated input" else path[-1:]), False, basis)
    return _Expected(frozenset(), True, "unknown")


def _path_values(label: str, url: str) -> list[str] | None:
    """The path parameters' values, read by laying the template over the URL's last segments (None if it
    does not fit).

    >>> _path_values("GET /a/{x}/b/{y}", "http://h/api/v1/a/1/b/2?q=3"), _path_values("GET /a/{x}", "http://h/b/1")
    (['1', '2'], None)
    """
    template = [part for part in label.split(" ", 1)[-1].split("/") if part]
    wanted = [i for i, part in enumerate(template) if part.startswith("{") and part.endswith("}")]
    segments = [unquote(part) for part in urlsplit(url).path.split("/") if part]
    tail = segments[len(segments) - len(template) :] if len(segments) >= len(template) else []
    if len(tail) != len(template) or any(tail[i] != part for i, part in enumerate(template) if i not in wanted):
        return None
    return [tail[i] for i in wanted]


# -- the audit rows the trace inserted ------------------------------------------------------------------------


def _audit_rows(request: _Request, index: int, facts: StatementFacts) -> Iterator[_Row]:
    tagged = request.ctx.tagged
    for write in facts.writes:
        if write.kind is Kind.INSERT and tagged.is_audit(write.table):
            for number in range(max(len(write.rows), 1)):
                yield _Row(index, write, number, _cells(request, index, write, number))


def _cells(request: _Request, index: int, write: Write, row: int) -> dict[str, _Cell]:
    columns = request.audit.columns
    roles = {
        "actor": columns.actor,
        "tenant": columns.tenant,
        "action": columns.action,
        "resource_type": columns.resource_type,
        "resource_id": columns.resource_id,
    }
    return {role: _cell(request, index, write, row, column) for role, column in roles.items()}


def _cell(request: _Request, index: int, write: Write, row: int, column: str) -> _Cell:
    statement = request.trace.statements[index]
    name = column.lower()
    if name not in write.columns and column not in write.columns:
        return _default(request, write.table, column)
    value = write.value(name if name in write.columns else column, row)
    if value is None:
        return _Cell(False, sql="?")
    if value.kind is ValueKind.DEFAULT:
        return _default(request, write.table, column)
    if value.kind is ValueKind.NULL:
        return _Cell(True, None, value.sql)
    if value.kind in (ValueKind.PARAM, ValueKind.LITERAL):
        in_range = value.kind is ValueKind.LITERAL or (value.param or 0) <= len(statement.params)
        return _Cell(True, value.resolve(statement.params), value.sql) if in_range else _Cell(False, sql=value.sql)
    setting = _setting_name(value)
    found, resolved = request.transactions.setting(index, setting) if setting else (False, None)
    return _Cell(True, resolved, value.sql) if found else _Cell(False, sql=value.sql)


def _default(request: _Request, table: str, column: str) -> _Cell:
    found = request.ctx.catalog.table(table)
    described = found.column(column) if found else None
    if described is not None and not described.has_default:
        return _Cell(True, None, "DEFAULT")
    return _Cell(False, sql="DEFAULT")


def _setting_name(value: Value) -> str | None:
    """The setting ``current_setting('name')`` reads, when *value* is such a call."""
    if value.kind is not ValueKind.FUNCTION or value.function != "current_setting":
        return None
    try:
        call = sqlglot.parse_one(value.sql, dialect="postgres")
    except SqlglotError:
        return None
    arguments = call.expressions if isinstance(call, exp.Anonymous) else [call.this]
    first = arguments[0] if arguments else None
    return first.name.lower() if isinstance(first, exp.Literal) and first.is_string else None


# -- small helpers --------------------------------------------------------------------------------------------


def _touches_phi(facts: StatementFacts, ctx: ProbeContext) -> bool:
    if facts.kind not in _DATA:
        return False
    tables = {ref.table for ref in facts.tables} | {write.table for write in facts.writes}
    return any(ctx.tagged.is_phi(table) and not ctx.tagged.is_audit(table) for table in tables)


def _unparsed(request: _Request) -> list[dict[str, Any]]:
    return [
        {"error": f.parse_error, **statement_evidence(statement, request.ctx)}
        for statement, f in request.facts
        if f.parse_error is not None
    ]


def _shown(request: _Request, indexes: Sequence[int]) -> list[dict[str, Any]]:
    return [statement_evidence(request.trace.statements[i], request.ctx) for i in indexes]


def _same(recorded: str, expected: str) -> bool:
    # ids as text: PostgreSQL prints uuids in lower case, a principal file may not
    return recorded.strip().lower() == expected.strip().lower()


def _cell_view(cell: _Cell, redactor: Redactor) -> dict[str, Any]:
    if not cell.known:
        return {"computed": redactor.text(cell.sql)}
    return {"value": None if cell.value is None else redactor.text(cell.value), "sql": redactor.text(cell.sql)}


def _row_view(row: _Row, redactor: Redactor) -> dict[str, Any]:
    cells = {role: _cell_view(cell, redactor) for role, cell in row.cells.items()}
    return {"table": row.write.table, "row": row.row, **cells}
