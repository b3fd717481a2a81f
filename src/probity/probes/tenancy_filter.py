"""Tenancy filter: every statement on a tenant-scoped table is confined to the caller's tenant, in SQL.

A policy scope says "rows of these tables belong to the caller whose ``attribute`` equals the row's
``column``" (``accounts.tenant_id`` = the caller's ``tenant_id``). For each statement of a request
with a caller, every reference to a scoped table must be constrained, for every row it reads, updates or
deletes, to the caller's value:

* a predicate on the tenant column that holds for every row (``TableRef.predicates``: top-level WHERE, inner
  join ON, a conjunct common to all OR branches, an enclosing query's filter) — ``=``, ``IN``, ``= ANY`` or
  ``IS NOT DISTINCT FROM`` — whose value resolves (bound parameter or literal) to the caller's value;
* or equality to another reference's tenant column that is itself so constrained
  (``m.tenant_id = t.tenant_id AND t.tenant_id = $1``);
* or ``current_setting('app.x')`` where ``app.x`` was set earlier in the session (its transaction, for
  ``SET LOCAL`` / ``set_config(…, true)``) to the caller's value;
* or row-level security: the table has RLS and policies whose USING (WITH CHECK for INSERT) compares the
  tenant column with such a setting.

An INSERT into a scoped table must write the caller's value into the tenant column (a table whose tenant
column is its own primary key — the tenant rows themselves, user accounts — is not judged on INSERT: a new
row is a new tenant). Rules, one result per failing reference:

* ``tenancy_filter.wrong_value`` (CRITICAL): the tenant predicate or inserted tenant value is another value;
* ``tenancy_filter.under_or`` (CRITICAL): the tenant column is only compared under an OR, which can let
  every tenant's rows through;
* ``tenancy_filter.unscoped_lookup`` (``policy.tenancy.unscoped_lookup``, default LOW): no tenant predicate,
  but the statement reads or writes one row by a unique key (the fetch-by-id-then-check-in-code pattern),
  raised to ``tenancy_filter.cross_tenant_read`` / ``cross_tenant_write`` (CRITICAL) when the read-back shows
  the row belongs to another tenant and the response was 2xx (a read) or the statement's transaction
  committed (a write);
* ``tenancy_filter.missing`` (HIGH): no tenant predicate at all;
* ``tenancy_filter.insert_value`` (HIGH): an INSERT leaves the tenant column unset, DEFAULT or NULL.

INCONCLUSIVE: the SQL could not be observed (``.unobserved``), a statement could not be parsed
(``.unparsed``), a tenant value could not be resolved (``.unresolved``), the caller lacks the scope's
attribute (``.no_attribute``). NOT_APPLICABLE: the request has no caller identity, the policy exempts the
table for the operation (``.exempt``, with the exemption's reason), or no scoped table was touched. One PASS
per request when every scoped reference held. Transaction control and SET statements are not judged.

>>> from probity.core.catalog import Catalog, Column, Table
>>> from probity.core.policy import Policy
>>> from probity.core.principals import Principal
>>> from probity.core.trace import Attribution, Exchange, RequestTrace, Statement
>>> from probity.probes.base import OperationFacts, ProbeContext
>>> policy = Policy.model_validate({"tenancy": {"scopes": [
...     {"name": "org", "column": "org_id", "attribute": "org_id", "tables": ["notes"]}]}})
>>> catalog = Catalog((Table("notes", columns=(Column("id", "UUID"), Column("org_id", "UUID")), primary_key=("id",)),))
>>> me = Principal.model_validate({"name": "ann", "tenant": "a", "role": "STAFF", "attributes": {"org_id": "A"},
...     "token": {"env": "TOKEN"}})
>>> ctx = ProbeContext(policy, catalog, catalog.tag(policy), OperationFacts("GET /notes"), principal=me)
>>> def judge(sql, *params):
...     trace = RequestTrace(Exchange("GET", "/notes", "GET /notes", 200), (Statement(sql, params),),
...         Attribution.FENCE)
...     return [(r.rule, r.outcome.value) for r in tenancy_filter(trace, ctx)]
>>> judge("SELECT id FROM notes n WHERE n.org_id = $1", "A")
[('tenancy_filter.scoped', 'pass')]
>>> judge("SELECT id FROM notes n WHERE n.org_id = $1 OR n.id = $2", "A", "7")
[('tenancy_filter.under_or', 'fail')]
>>> judge("SELECT id FROM notes n WHERE n.id = $1", "7")
[('tenancy_filter.unscoped_lookup', 'fail')]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from probity.core.catalog import RlsPolicy, split_name
from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.policy import Policy, TenancyExemption, TenantScope
from probity.core.redact import MASK
from probity.core.trace import RequestTrace, Statement
from probity.probes.base import ProbeContext, facts_of, statement_evidence, unobserved
from probity.sql import Kind, Predicate, StatementFacts, TableRef, Value, ValueKind, Write, statement_facts

__all__ = ["tenancy_filter"]

PROBE = "tenancy_filter"
CATEGORY = Category.TENANCY
_EQUAL = ("=", "IS NOT DISTINCT FROM")
_CONSTRAINING = (*_EQUAL, "IN", "= ANY")
_NOT_JUDGED = (Kind.TRANSACTION, Kind.SET)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ID_LIKE = re.compile(r"^[0-9a-fA-F-]{8,36}$|^\d{1,19}$")


class _State(Enum):
    """What one tenant predicate (or inserted tenant value) proves."""

    OK = "the caller's value"
    WRONG = "another value"
    UNKNOWN = "a value that could not be resolved"
    MISSING = "no value"  # INSERT: the column is not written, or DEFAULT/NULL
    NONE = "no constraint"  # not a tenant constraint at all (another operator, a join on another column)


@dataclass(frozen=True)
class _Judged:
    """The judgement of one reference to a scoped table: held (no result), a result, or exempted."""

    table: str
    result: Result | None = None
    exemption: TenancyExemption | None = None
    skipped: bool = False  # not judged (an INSERT of a new tenant row)


def tenancy_filter(trace: RequestTrace, ctx: ProbeContext) -> Iterator[Result]:
    """Judge every reference to a tenant-scoped table in the request's statements (see the module doc)."""
    if ctx.principal is None:
        yield ctx.result(PROBE, f"{PROBE}.no_caller", CATEGORY, Outcome.NOT_APPLICABLE, "no caller identity")
        return
    inconclusive = list(unobserved(PROBE, CATEGORY, trace, ctx))
    if inconclusive:
        yield from inconclusive
        return
    request = _Request(trace, ctx, facts_of(trace, ctx))
    judged = [judged for index in range(len(request.statements)) for judged in request.judge(index)]
    yield from _conclude(judged, ctx)


def _conclude(judged: list[_Judged], ctx: ProbeContext) -> Iterator[Result]:
    exempted = {j.table: j.exemption for j in judged if j.exemption is not None}
    for table, exemption in exempted.items():
        reason: dict[str, Any] = {"table": table, "reason": exemption.reason}
        yield ctx.result(
            PROBE, f"{PROBE}.exempt", CATEGORY, Outcome.NOT_APPLICABLE, _exempt_message(table), evidence=reason
        )
    results = [j.result for j in judged if j.result is not None]
    yield from results
    held = [j.table for j in judged if j.result is None and j.exemption is None and not j.skipped]
    if results:
        return
    if held:
        evidence = {"references": len(held), "tables": sorted(set(held))}
        message = "every statement is confined to the caller's tenant"
        yield ctx.result(PROBE, f"{PROBE}.scoped", CATEGORY, Outcome.PASS, message, evidence=evidence)
    elif not exempted:
        message = "no tenant-scoped table was touched"
        yield ctx.result(PROBE, f"{PROBE}.no_scoped_table", CATEGORY, Outcome.NOT_APPLICABLE, message)


def _exempt_message(table: str) -> str:
    return f"the policy exempts {table} for this operation"


# -- one request -----------------------------------------------------------------------------------------


@dataclass
class _Request:
    """A request's statements, with what judging one of them needs from the others (sessions, commits)."""

    trace: RequestTrace
    ctx: ProbeContext
    statements: Sequence[tuple[Statement, StatementFacts]]
    _callers: dict[str, str | None] = field(default_factory=dict)  # asked for every reference, often

    def judge(self, index: int) -> list[_Judged]:
        statement, facts = self.statements[index]
        if facts.kind in _NOT_JUDGED:
            return []
        if facts.parse_error:
            return [_Judged("?", self._unparsed(statement, facts))]
        plan = self.plan(facts)
        if not plan.refs:
            return []
        if self._all_held(plan, statement.params):
            return list(plan.held)
        refs = [facts.tables[position] for position in plan.refs]
        return _Statement(self, index, statement, facts).judge(refs)

    def plan(self, facts: StatementFacts) -> _Plan:
        """What judging *facts* needs that does not depend on the values, worked out once per text."""
        plan = facts.planned(self.ctx.tagged, PROBE, lambda: _plan(facts, self))
        return plan if plan.catalog is self.ctx.catalog else _plan(facts, self)

    def _all_held(self, plan: _Plan, params: Sequence[str | None]) -> bool:
        """Whether the bound values alone confine every reference of the plan (a sure yes; no means look
        again the long way, with settings, row-level security and what each failure is)."""
        callers = [self.caller(table) for table in plan.tables]
        if None in callers or any(self.exemption(table) is not None for table in plan.tables):
            return False
        held = [False] * len(plan.checks)
        for number, (check, caller) in enumerate(zip(plan.checks, callers, strict=True)):
            if check is None:
                return False
            if check.inserted is not None:
                if not check.skipped and not _resolve_to(check.inserted, params, self.caller(check.written)):
                    return False
            else:
                held[number] = any(_resolve_to(group, params, caller) for group in check.groups)
        return self._joined(plan, held, callers)

    def _joined(self, plan: _Plan, held: list[bool], callers: list[str | None]) -> bool:
        """Whether every reader is held once equality to a held reader of the same tenant counts."""
        unheld = [n for n, check in enumerate(plan.checks) if not held[n] and check and check.inserted is None]
        while unheld:
            joined = [n for n in unheld if self._partnered(plan.checks[n], held, callers[n])]
            if not joined:
                return False
            for number in joined:
                held[number] = True
            unheld = [n for n in unheld if not held[n]]
        return True

    def _partnered(self, check: _Check | None, held: list[bool], caller: str | None) -> bool:
        partners = check.partners if check is not None else ()
        return any(any(held[k] for k in others) and _same(self.caller(table), caller) for table, others in partners)

    def tenant_column(self, ref: TableRef) -> str | None:
        column = self.ctx.tagged.tenant_column(ref.table)
        if column is None:
            return None
        # public.accounts is the catalog's accounts; audit.accounts is another table of the same name
        elsewhere = ref.schema is not None and not ref.known and self.ctx.catalog.table(ref.table) is not None
        return None if elsewhere else column

    def scope(self, table: str) -> TenantScope | None:
        scopes = _memo(self.ctx.policy).scopes
        if table not in scopes:
            key = split_name(table)[1]
            every = self.ctx.policy.tenancy.scopes
            scopes[table] = next((s for s in every if key in {split_name(t)[1] for t in s.tables}), None)
        return scopes[table]

    def caller(self, table: str) -> str | None:
        if table not in self._callers:
            scope = self.scope(table)
            self._callers[table] = self.ctx.attribute(scope.attribute) if scope is not None else None
        return self._callers[table]

    def exemption(self, table: str) -> TenancyExemption | None:
        label = self.ctx.operation.label
        exemptions = _memo(self.ctx.policy).exemptions
        if (label, table) not in exemptions:
            key = split_name(table)[1]
            every = self.ctx.policy.tenancy.exempt
            found = (e for e in every if e.operation == label and key in {split_name(t)[1] for t in e.tables})
            exemptions[(label, table)] = next(found, None)
        return exemptions[(label, table)]

    def _unparsed(self, statement: Statement, facts: StatementFacts) -> Result:
        evidence = {**statement_evidence(statement, self.ctx), "parse_error": facts.parse_error}
        return self.ctx.result(
            PROBE, f"{PROBE}.unparsed", CATEGORY, Outcome.INCONCLUSIVE, "a statement could not be parsed",
            evidence=evidence,
        )  # fmt: skip

    # -- sessions: settings in force, commits ------------------------------------------------------------

    def settings(self, index: int) -> dict[str, str | None]:
        """The custom settings in force in the session of statement *index* when it ran."""
        return self._settings_in_force[index]

    @cached_property
    def _settings_in_force(self) -> list[dict[str, str | None]]:
        # one pass over the request, not one per statement asked about: a long request stays linear
        sessions: dict[str, _SessionSettings] = {}
        found: list[dict[str, str | None]] = []
        for statement, facts in self.statements:
            state = sessions.setdefault(statement.session_id, _SessionSettings())
            found.append(state.in_force())
            state.run(statement, facts)
        return found

    def committed(self, index: int) -> bool | None:
        """Whether statement *index*'s effect committed: True, False, or None when the trace does not say."""
        statement = self.statements[index][0]
        if statement.error:
            return False
        same = [(k, s, f) for k, (s, f) in enumerate(self.statements) if s.session_id == statement.session_id]
        before = [_verb(f) for k, _, f in same if k < index and _verb(f) in ("begin", "commit", "rollback")]
        if not before or before[-1] != "begin":
            return True  # autocommit: the statement was its own transaction
        for _, later, facts in (entry for entry in same if entry[0] > index):
            verb = _verb(facts)
            if verb == "commit":
                return later.error is None
            if verb == "rollback" or later.error:
                return False
            if verb == "savepoint-rollback":
                return None
        return None


@dataclass
class _SessionSettings:
    """The custom settings of one session as its statements run: committed, set in the open transaction, and
    set locally to it."""

    committed: dict[str, str | None] = field(default_factory=dict)
    pending: dict[str, str | None] = field(default_factory=dict)
    local: dict[str, str | None] = field(default_factory=dict)
    in_transaction: bool = False

    def in_force(self) -> dict[str, str | None]:
        return {**self.committed, **self.pending, **self.local}

    def run(self, statement: Statement, facts: StatementFacts) -> None:
        verb = _verb(facts)
        if verb == "begin":
            self.in_transaction, self.pending, self.local = True, {}, {}
        elif verb in ("commit", "rollback"):
            self.committed.update(self.pending if verb == "commit" else {})
            self.in_transaction, self.pending, self.local = False, {}, {}
        if statement.error:
            return
        for setting in facts.settings:
            value = setting.value.resolve(statement.params)
            if not self.in_transaction:
                if not setting.local:  # SET LOCAL outside a transaction does nothing
                    self.committed[setting.name] = value
            else:
                (self.local if setting.local else self.pending)[setting.name] = value


def _verb(facts: StatementFacts) -> str | None:
    """begin, commit, rollback or savepoint-rollback for transaction control (read from the shape); else None."""
    if facts.kind is not Kind.TRANSACTION:
        return None
    words = facts.shape.upper().replace(";", " ").split()
    first = words[0] if words else ""
    if first in ("BEGIN", "START"):
        return "begin"
    if first in ("COMMIT", "END"):
        return "commit"
    if first in ("ROLLBACK", "ABORT"):
        return "savepoint-rollback" if len(words) > 1 and words[1] == "TO" else "rollback"
    return None


@dataclass
class _PolicyMemo:
    """What a policy says of a table (its scope) and of a table in an operation (an exemption), by name:
    asked for every reference of every request, and the same for the whole run."""

    policy: Policy
    scopes: dict[str, TenantScope | None] = field(default_factory=dict)
    exemptions: dict[tuple[str, str], TenancyExemption | None] = field(default_factory=dict)


_MEMOS: dict[int, _PolicyMemo] = {}  # by policy id; the policy is kept so its id is not reused


def _memo(policy: Policy) -> _PolicyMemo:
    memo = _MEMOS.get(id(policy))
    if memo is None or memo.policy is not policy:
        if len(_MEMOS) >= 8:  # a run has one policy; a test session many: stay small
            _MEMOS.clear()
        memo = _MEMOS[id(policy)] = _PolicyMemo(policy)
    return memo


# -- plans: per text, what does not depend on the values -----------------------------------------------


@dataclass(frozen=True)
class _Check:
    """How one reference is held by bound values alone: a reader by one *group* of values all equal to the
    caller's (``=``: one value, ``IN``: every item) or by equality to a held reader of a *partner* table
    (positions in the plan); an INSERT target by the tenant values of its rows (*inserted*, of table
    *written*), unless it is *skipped* (a new tenant row)."""

    groups: tuple[tuple[Value, ...], ...] = ()
    partners: tuple[tuple[str, tuple[int, ...]], ...] = ()
    inserted: tuple[Value, ...] | None = None
    written: str = ""
    skipped: bool = False


@dataclass(frozen=True)
class _Plan:
    """A statement's references to scoped tables (positions in ``facts.tables``), their tables, how each is
    held by values alone (None: only the long way), and the judgement when all are."""

    catalog: Any
    refs: tuple[int, ...]
    tables: tuple[str, ...]
    checks: tuple[_Check | None, ...]
    held: tuple[_Judged, ...]


def _plan(facts: StatementFacts, request: _Request) -> _Plan:
    refs = tuple(n for n, ref in enumerate(facts.tables) if request.tenant_column(ref) is not None)
    inserts = {(w.scope, w.alias): w for w in facts.writes if w.kind is Kind.INSERT}
    readers = [n for n in refs if (facts.tables[n].scope, facts.tables[n].alias) not in inserts]
    checks: list[_Check | None] = []
    held: list[_Judged] = []
    for n in refs:
        ref = facts.tables[n]
        column = (request.tenant_column(ref) or "").lower()
        write = inserts.get((ref.scope, ref.alias))
        check = _reader_check(facts, ref, column, readers, refs, request) if write is None else None
        if write is not None:
            check = _insert_check(ref, write, column, request)
        checks.append(check)
        held.append(_held_judged(ref.table, check is not None and check.skipped))
    tables = tuple(facts.tables[n].table for n in refs)
    return _Plan(request.ctx.catalog, refs, tables, tuple(checks), tuple(held))


_HELD: dict[tuple[str, bool], _Judged] = {}  # a held reference's judgement, by table: shared by every plan


def _held_judged(table: str, skipped: bool) -> _Judged:
    if len(_HELD) >= 4096:  # table names come from statements: stay bounded
        _HELD.clear()
    return _HELD.setdefault((table, skipped), _Judged(table, skipped=skipped))


def _reader_check(
    facts: StatementFacts, ref: TableRef, column: str, readers: list[int], refs: tuple[int, ...], request: _Request
) -> _Check:
    groups: list[tuple[Value, ...]] = []
    partners: list[tuple[str, tuple[int, ...]]] = []
    for predicate in ref.predicates:
        if predicate.column.lower() != column or predicate.op not in _CONSTRAINING:
            continue
        value = predicate.value
        if predicate.op in _EQUAL and value.kind in (ValueKind.PARAM, ValueKind.LITERAL):
            groups.append((value,))
        elif (
            predicate.op in ("IN", "= ANY")
            and value.kind is ValueKind.LIST
            and value.items
            and all(_bound(item) for item in value.items)
        ):
            groups.append(value.items)  # IN (…), = ANY(ARRAY[…]): every item the caller's
        elif predicate.op in _EQUAL and value.kind is ValueKind.COLUMN and value.column is not None:
            other = value.column
            tenant = (request.ctx.tagged.tenant_column(other.table or "") or "").lower()
            if other.table is not None and tenant == other.column.lower():
                same = tuple(
                    refs.index(k)
                    for k in readers
                    if facts.tables[k] is not ref and facts.tables[k].table == other.table
                )
                partners.append((other.table, same))
    return _Check(tuple(groups), tuple(partners))


def _insert_check(ref: TableRef, write: Write, column: str, request: _Request) -> _Check | None:
    table = request.ctx.catalog.table(ref.table)
    if table is not None and [c.lower() for c in table.primary_key] == [column]:
        return _Check(inserted=(), skipped=True)
    name = next((c for c in write.columns if c.lower() == column), None)
    if name is None or not write.rows:
        return None
    values = [write.value(name, row) for row in range(len(write.rows))]
    bound = [value for value in values if value is not None and _bound(value)]
    return _Check(inserted=tuple(bound), written=write.table) if len(bound) == len(values) else None


def _bound(value: Value) -> bool:
    return value.kind in (ValueKind.PARAM, ValueKind.LITERAL)


def _resolve_to(values: tuple[Value, ...], params: Sequence[str | None], caller: str | None) -> bool:
    """Whether every value (a bound parameter or a literal) is the caller's."""
    for value in values:
        resolved = value.resolve(params)
        if resolved is None or caller is None or not _same(resolved, caller):
            return False
    return True


# -- one statement ---------------------------------------------------------------------------------------


@dataclass
class _Statement:
    request: _Request
    index: int
    statement: Statement
    facts: StatementFacts

    @property
    def ctx(self) -> ProbeContext:
        return self.request.ctx

    @property
    def params(self) -> tuple[str | None, ...]:
        return self.statement.params

    @cached_property
    def settings(self) -> dict[str, str | None]:
        return self.request.settings(self.index)

    @cached_property
    def inserts(self) -> dict[tuple[int, str], Write]:
        return {(w.scope, w.alias): w for w in self.facts.writes if w.kind is Kind.INSERT}

    @cached_property
    def changes(self) -> dict[tuple[int, str], Write]:
        return {(w.scope, w.alias): w for w in self.facts.writes if w.kind in (Kind.UPDATE, Kind.DELETE)}

    def judge(self, refs: list[TableRef]) -> list[_Judged]:
        held = self._held()
        found: list[_Judged] = []
        for ref in refs:
            exemption = self.request.exemption(ref.table)
            if exemption is not None:
                found.append(_Judged(ref.table, exemption=exemption))
            elif self.request.caller(ref.table) is None:
                found.append(_Judged(ref.table, self._no_attribute(ref)))
            elif (ref.scope, ref.alias) in self.inserts:
                found.append(self._judge_insert(ref, self.inserts[(ref.scope, ref.alias)], held))
            else:
                found.append(_Judged(ref.table, None if id(ref) in held else self._judge_unheld(ref)))
        return found

    # -- which references are confined -------------------------------------------------------------------

    def _held(self) -> set[int]:
        """Ids of the references confined to the caller: directly, by RLS, or by equality to a confined one."""
        readers = [ref for ref in self.facts.tables if self._column(ref) and (ref.scope, ref.alias) not in self.inserts]
        held = {id(ref) for ref in readers if _State.OK in self._states(ref) or self._rls(ref)}
        changed = True
        while changed:
            changed = False
            for ref in readers:
                if id(ref) not in held and self._joined_to_held(ref, held):
                    held.add(id(ref))
                    changed = True
        return held

    def _column(self, ref: TableRef) -> str | None:
        return self.request.tenant_column(ref)

    def _tenant_predicates(self, ref: TableRef) -> list[Predicate]:
        column = (self._column(ref) or "").lower()
        return [p for p in ref.predicates if p.column.lower() == column and p.op in _CONSTRAINING]

    def _states(self, ref: TableRef) -> list[_State]:
        caller = self.request.caller(ref.table)
        return [self._predicate_state(p, caller) for p in self._tenant_predicates(ref)]

    def _predicate_state(self, predicate: Predicate, caller: str | None) -> _State:
        value = predicate.value
        if predicate.op in _EQUAL:
            return self._value_state(value, caller)
        if value.kind is ValueKind.LIST:  # IN (…), = ANY(ARRAY[…])
            return _all(self._value_state(item, caller) for item in value.items)
        if predicate.op == "= ANY" and value.kind is ValueKind.PARAM:
            items = _array_items(value.resolve(self.params))
            return _State.UNKNOWN if items is None else _all(_compare(item, caller) for item in items)
        return _State.UNKNOWN if predicate.op in ("IN", "= ANY") else _State.NONE

    def _value_state(self, value: Value, caller: str | None) -> _State:
        if value.kind in (ValueKind.PARAM, ValueKind.LITERAL):
            resolved = value.resolve(self.params)
            return _State.UNKNOWN if resolved is None else _compare(resolved, caller)
        setting = _setting_read(value)
        if setting is not None:
            return _compare(self.settings[setting], caller) if self.settings.get(setting) else _State.UNKNOWN
        return _State.NONE if value.kind is ValueKind.COLUMN else _State.UNKNOWN

    def _joined_to_held(self, ref: TableRef, held: set[int]) -> bool:
        caller = self.request.caller(ref.table)
        for predicate in self._tenant_predicates(ref):
            other = predicate.value.column
            if predicate.op not in _EQUAL or predicate.value.kind is not ValueKind.COLUMN or other is None:
                continue
            if other.table is None or not _same(self.request.caller(other.table), caller):
                continue
            if (self.ctx.tagged.tenant_column(other.table) or "").lower() != other.column.lower():
                continue
            if any(id(r) in held for r in self.facts.tables if r is not ref and r.table == other.table):
                return True
        return False

    # -- row-level security ------------------------------------------------------------------------------

    def _rls(self, ref: TableRef, command: str | None = None) -> bool:
        """Whether the table's row-level security confines *command* on it to the caller's tenant."""
        table = self.ctx.catalog.table(ref.table)
        if table is None or not table.row_security:
            return False
        command = command or self._command(ref)
        applicable = [p for p in table.policies if p.command.upper() in ("ALL", command)]
        caller, column = self.request.caller(ref.table), self._column(ref) or ""

        def bound(policy: RlsPolicy) -> bool:
            condition = (policy.check or policy.using) if command == "INSERT" else policy.using
            return condition is not None and self._condition_binds(table.name, table.schema, condition, column, caller)

        if any(bound(p) for p in applicable if not p.permissive):
            return True
        permissive = [p for p in applicable if p.permissive]
        return bool(permissive) and all(bound(p) for p in permissive)

    def _command(self, ref: TableRef) -> str:
        write = self.changes.get((ref.scope, ref.alias))
        return write.kind.value.upper() if write is not None else "SELECT"

    def _condition_binds(self, name: str, schema: str, condition: str, column: str, caller: str | None) -> bool:
        # the policy's condition read as the WHERE of a query on its table, by the same SQL layer
        facts = statement_facts(f"SELECT 1 FROM {_quoted(schema)}.{_quoted(name)} WHERE {condition}", self.ctx.catalog)
        if facts.parse_error or not facts.tables:
            return False
        predicates = [p for p in facts.tables[0].predicates if p.column.lower() == column.lower() and p.op in _EQUAL]
        for predicate in predicates:
            setting = _setting_read(predicate.value)
            if setting is not None and _compare(self.settings.get(setting), caller) is _State.OK:
                return True
        return False

    # -- failures ----------------------------------------------------------------------------------------

    def _judge_unheld(self, ref: TableRef) -> Result:
        states = self._states(ref)
        column = self._column(ref) or ""
        if _State.WRONG in states:
            return self._fail(ref, "wrong_value", f"{ref.table} is filtered by a tenant value that is not the caller's")
        if _State.UNKNOWN in states:
            return self._result(
                ref, "unresolved", Outcome.INCONCLUSIVE, f"the tenant value on {ref.table} could not be resolved"
            )
        if any(p.column.lower() == column.lower() for p in ref.or_predicates):
            message = f"the tenant predicate on {ref.table} sits under an OR, so other tenants' rows can match"
            return self._fail(ref, "under_or", message)
        key = self._lookup_key(ref)
        if key is not None:
            return self._unscoped_lookup(ref, key)
        return self._fail(
            ref, "missing", f"{ref.table} is {self._action(ref)} without a filter on the caller's tenant", Severity.HIGH
        )

    def _action(self, ref: TableRef) -> str:
        return {"UPDATE": "updated", "DELETE": "deleted"}.get(self._command(ref), "read")

    def _lookup_key(self, ref: TableRef) -> dict[str, str | None] | None:
        """The unique key the statement reads *ref* by (column → value), when it does."""
        equal: dict[str, str | None] = {}
        for predicate in ref.predicates:
            value = predicate.value
            if predicate.op == "IN" and value.kind is ValueKind.LIST and len(value.items) == 1:
                value = value.items[0]
            elif predicate.op not in _EQUAL:
                continue
            if value.kind in (ValueKind.PARAM, ValueKind.LITERAL):
                equal.setdefault(predicate.column.lower(), value.resolve(self.params))
        for key in self.ctx.catalog.unique_keys(ref.table):
            if key and all(column.lower() in equal for column in key):
                return {column: equal[column.lower()] for column in key}
        return None

    def _unscoped_lookup(self, ref: TableRef, key: dict[str, str | None]) -> Result:
        owners, read_back = self._foreign_owners(ref, key)
        write = self._command(ref) != "SELECT"
        extra: dict[str, Any] = {"key": {c: _shown(v) for c, v in key.items()}, "read_back": read_back}
        if owners:
            extra["owner"] = [_shown(owner) for owner in owners]
            if write and self.request.committed(self.index):
                message = f"another tenant's {ref.table} row was {self._action(ref)} and the change committed"
                return self._fail(ref, "cross_tenant_write", message, evidence=extra)
            if not write and 200 <= self.request.trace.exchange.status < 300 and not self.statement.error:
                message = f"another tenant's {ref.table} row was read and the request succeeded"
                return self._fail(ref, "cross_tenant_read", message, evidence=extra)
        message = f"{ref.table} is {self._action(ref)} by a unique key without a tenant predicate"
        return self._fail(ref, "unscoped_lookup", message, self.ctx.policy.tenancy.unscoped_lookup, extra)

    def _foreign_owners(self, ref: TableRef, key: dict[str, str | None]) -> tuple[list[str], str]:
        """The tenant values, other than the caller's, of the rows with *key*, and how the read-back went."""
        readback, column = self.ctx.readback, self._column(ref) or ""
        if readback is None:
            return [], "not available"
        if any(value is None for value in key.values()):
            return [], "key not resolved"
        try:
            rows = readback.rows(ref.table, [column], key)
        except Exception as exc:  # a read-back failure must not lose the finding it would have raised
            return [], f"failed: {type(exc).__name__}"
        caller = self.request.caller(ref.table)
        owners = {row.get(column) for row in rows}
        found = sorted(owner for owner in owners if owner is not None and not _same(owner, caller))
        return found, "another tenant's row" if found else "no other tenant's row" if rows else "no row"

    def _judge_insert(self, ref: TableRef, write: Write, held: set[int]) -> _Judged:
        column = self._column(ref) or ""
        table = self.ctx.catalog.table(ref.table)
        if table is not None and [c.lower() for c in table.primary_key] == [column.lower()]:
            return _Judged(ref.table, skipped=True)  # the table's rows are tenants themselves: a new one is new
        states = self._inserted_states(write, column, held)
        if all(state is _State.OK for state in states) or self._rls(ref, "INSERT"):
            return _Judged(ref.table)
        if _State.WRONG in states:
            message = f"a {ref.table} row is inserted with a tenant value that is not the caller's"
            return _Judged(ref.table, self._fail(ref, "wrong_value", message))
        if _State.MISSING in states:
            message = f"a {ref.table} row is inserted without the caller's tenant value"
            return _Judged(ref.table, self._fail(ref, "insert_value", message, Severity.HIGH))
        message = f"the tenant value inserted into {ref.table} could not be resolved"
        return _Judged(ref.table, self._result(ref, "unresolved", Outcome.INCONCLUSIVE, message))

    def _inserted_states(self, write: Write, column: str, held: set[int]) -> list[_State]:
        name = next((c for c in write.columns if c.lower() == column.lower()), None)
        if name is None or not write.rows:
            return [_State.MISSING]
        caller = self.request.caller(write.table)
        return [self._inserted_state(write.value(name, row), caller, held) for row in range(len(write.rows))]

    def _inserted_state(self, value: Value | None, caller: str | None, held: set[int]) -> _State:
        if value is None or value.kind in (ValueKind.NULL, ValueKind.DEFAULT):
            return _State.MISSING
        if value.kind in (ValueKind.PARAM, ValueKind.LITERAL) and value.resolve(self.params) is None:
            return _State.MISSING
        if value.kind is ValueKind.COLUMN and value.column is not None:  # INSERT … SELECT from a confined source
            source = value.column
            confined = (self.ctx.tagged.tenant_column(source.table or "") or "").lower() == source.column.lower()
            sources = [r for r in self.facts.tables if r.table == source.table and id(r) in held]
            return (
                _State.OK
                if confined and sources and _same(self.request.caller(source.table or ""), caller)
                else _State.UNKNOWN
            )
        state = self._value_state(value, caller)
        return _State.UNKNOWN if state is _State.NONE else state

    # -- results -----------------------------------------------------------------------------------------

    def _fail(
        self, ref: TableRef, rule: str, message: str, severity: Severity = Severity.CRITICAL,
        evidence: dict[str, Any] | None = None,
    ) -> Result:  # fmt: skip
        return self._result(ref, rule, Outcome.FAIL, message, severity, evidence)

    def _result(
        self, ref: TableRef, rule: str, outcome: Outcome, message: str, severity: Severity = Severity.INFO,
        evidence: dict[str, Any] | None = None,
    ) -> Result:  # fmt: skip
        column = self._column(ref) or ""
        scope = self.request.scope(ref.table)
        about = {
            **statement_evidence(self.statement, self.ctx),
            "table": ref.table,
            "alias": ref.alias,
            "tenant_column": column,
            "attribute": scope.attribute if scope else None,
            "caller": _shown(self.request.caller(ref.table)),
            "predicates": [_described(p) for p in ref.predicates if p.column.lower() == column.lower()],
            "or_predicates": [_described(p) for p in ref.or_predicates if p.column.lower() == column.lower()],
            **(evidence or {}),
        }
        return self.ctx.result(PROBE, f"{PROBE}.{rule}", CATEGORY, outcome, message, severity, about)

    def _no_attribute(self, ref: TableRef) -> Result:
        message = f"the caller has no value for the attribute that scopes {ref.table}"
        return self._result(ref, "no_attribute", Outcome.INCONCLUSIVE, message)


# -- values ----------------------------------------------------------------------------------------------


def _compare(value: str | None, caller: str | None) -> _State:
    if value is None or caller is None:
        return _State.UNKNOWN
    return _State.OK if _same(value, caller) else _State.WRONG


def _same(left: str | None, right: str | None) -> bool:
    """Equal as the database compares them: exactly, or as uuids (case-insensitively).

    >>> _same("5CADBCE9-673F-5B44-8793-4FADBBCF5307", "5cadbce9-673f-5b44-8793-4fadbbcf5307"), _same("A", "a")
    (True, False)
    """
    if left is None or right is None:
        return False
    left, right = left.strip(), right.strip()
    return left == right or (bool(_UUID.match(left)) and left.lower() == right.lower())


def _all(states: Iterable[_State]) -> _State:
    found = list(states)
    if found and all(state is _State.OK for state in found):
        return _State.OK
    return _State.WRONG if _State.WRONG in found else _State.UNKNOWN


def _array_items(text: str | None) -> list[str] | None:
    """The elements of a PostgreSQL array literal as the log prints a bound array (``{a,"b"}``).

    >>> _array_items('{"5cadbce9-673f-5b44-8793-4fadbbcf5307",x}'), _array_items("x")
    (['5cadbce9-673f-5b44-8793-4fadbbcf5307', 'x'], None)
    """
    if text is None or not (text.startswith("{") and text.endswith("}")):
        return None
    inner = text[1:-1]
    return [item.strip().strip('"') for item in inner.split(",")] if inner else []


def _setting_read(value: Value) -> str | None:
    """The custom setting a value reads through ``current_setting('name')`` (casts and NULLIF around it too).

    >>> _setting_read(Value(ValueKind.FUNCTION, "NULLIF(CURRENT_SETTING('app.org', TRUE), '')", function="nullif"))
    'app.org'
    """
    if value.kind is not ValueKind.FUNCTION:
        return None
    try:
        tree = sqlglot.parse_one(value.sql, dialect="postgres")
    except SqlglotError:
        return None
    calls = [call for call in tree.find_all(exp.Anonymous) if call.name.lower() == "current_setting"]
    arguments = calls[0].expressions if len(calls) == 1 else []
    first = arguments[0] if arguments else None
    return first.name.lower() if isinstance(first, exp.Literal) and first.is_string else None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _described(predicate: Predicate) -> str:
    return f"{predicate.column} {predicate.op} {predicate.value.sql} ({predicate.origin.value})"


def _shown(value: str | None) -> str | None:
    # tenant values and keys that are ids tell the story; anything else (an email key) may be personal
    return value if value is None or _ID_LIKE.match(value) else MASK
