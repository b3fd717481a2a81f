"""Cross-tenant access over HTTP: one tenant's objects, asked for by another tenant's principal.

For every operation that names an object in its path, ids owned by tenant A are found through A's own list
operations (never ids tenant B also lists: those may be shared). A reads the object (the baseline), then a
principal of B — of the same role when there is one — asks for it: a read must be refused with 403/404 and carry
none of the object's distinctive values; a write must be refused and leave the object as the owner read it.
Every list of B must hold none of A's objects. Both directions of every pair of tenants are checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import requests

from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.principals import Principal, Principals
from probity.core.redact import Redactor
from probity.engine.auth import TokenBroker
from probity.engine.http_probe import PARENTS_SCANNED, Exchange, Harvester, Prober, Verdict, leaked_fields, summarize
from probity.engine.openapi_ops import Operation, OperationIndex, path_prefix, request_body, resource_path

__all__ = ["CHECK", "cross_tenant_access"]

CHECK = "cross_tenant_access"
_READS = 2  # objects tried per operation and direction
_WRITES = 2
_LIST_OVERLAP = 5  # shared list entries looked at more closely
_I, _P, _F = Outcome.INCONCLUSIVE, Outcome.PASS, Outcome.FAIL


def cross_tenant_access(
    contract: dict[str, Any],
    api_root: str,
    principals: Principals,
    broker: TokenBroker,
    redactor: Redactor,
    *,
    write_allowed: bool,
    never_send: tuple[str, ...],
    limit_param: str = "limit",
) -> list[Result]:
    """Check every object-naming operation and every list of *contract* across every pair of tenants."""
    index = OperationIndex(contract)
    with requests.Session() as session:
        prober = Prober(index, api_root, broker, redactor, session)
        run = _Run(prober, Harvester(prober, principals, limit_param, never_send), write_allowed, never_send)
        return [result for owner, other in _directions(principals) for result in run.check_all(owner, other)]


def _directions(principals: Principals) -> list[tuple[str, str]]:
    """Every ordered pair of distinct tenants.

    >>> from probity.core.principals import Principals
    >>> p = Principals.model_validate({"principals": [
    ...     {"name": n, "tenant": t, "role": "R", "token": {"env": "X"}} for n, t in [("a", "A"), ("b", "B")]]})
    >>> _directions(p)
    [('A', 'B'), ('B', 'A')]
    """
    return [(owner, other) for owner in principals.tenants for other in principals.tenants if owner != other]


def _pair(principals: Principals, op: Operation, owner: str, other: str) -> tuple[Principal, Principal] | None:
    """A principal of each tenant allowed to call *op*, of the same role when both tenants have one."""
    mine = [p for p in principals.of_tenant(owner) if op.allows(p.role)]
    theirs = [p for p in principals.of_tenant(other) if op.allows(p.role)]
    same = next(((m, t) for m in mine for t in theirs if m.role == t.role), None)
    return same or ((mine[0], theirs[0]) if mine and theirs else None)


class _Run:
    def __init__(self, prober: Prober, harvester: Harvester, write_allowed: bool, never_send: tuple[str, ...]) -> None:
        self.prober = prober
        self.harvester = harvester
        self.index = prober.index
        self.write_allowed = write_allowed
        self.never_send = never_send

    def check_all(self, owner: str, other: str) -> list[Result]:
        return [result for op in self.index.all for result in self.check(op, owner, other)]

    def check(self, op: Operation, owner: str, other: str) -> list[Result]:
        kinds = self._kinds(op)
        if not kinds:
            return []
        if self.index.named(op, self.never_send):
            why = Verdict(_I, "not sent: the policy excludes this operation", {"tenants": [owner, other]})
            return [self._result(kind, op, [why]) for kind in kinds]
        pair = _pair(self.harvester.principals, op, owner, other)
        if pair is None:
            why = Verdict(_I, "no principal of both tenants may call the operation", {"tenants": [owner, other]})
            return [self._result(kind, op, [why]) for kind in kinds]
        return [self._result(kind, op, _CHECKS[kind](self, op, *pair)) for kind in kinds]

    def _kinds(self, op: Operation) -> list[str]:
        kinds = []
        if op.path_params and not op.public and (op.method == "GET" or op.writes):
            kinds.append("read" if op.method == "GET" else "write")
        if not op.public and self.index.list_at(op.path) is op:
            kinds.append("list")
        return kinds

    def _result(self, kind: str, op: Operation, verdicts: list[Verdict]) -> Result:
        return summarize(CHECK, f"{CHECK}.{kind}", Category.TENANCY, op.label, verdicts)

    def owned(self, op: Operation, owner: Principal, other: Principal, count: int) -> list[dict[str, str]]:
        """Value sets for *op*'s path owned by *owner*'s tenant and listed by none of *other*'s principals."""
        self.harvester.bindings(op, other, count)  # what the other tenant lists is shared or leaked, not owned
        foreign = self.harvester.seen_by_tenant(other.tenant)
        mine = self.harvester.bindings(op, owner, count * 3)
        return [bound for bound in mine if not foreign & set(bound.values())][:count]

    # -- reads ------------------------------------------------------------------------------------------------

    def read(self, op: Operation, owner: Principal, other: Principal) -> list[Verdict]:
        found = self.owned(op, owner, other, _READS)
        if not found:
            return [_no_object(owner)]
        return [self._read_one(op, owner, other, bound) for bound in found]

    def _read_one(self, op: Operation, owner: Principal, other: Principal, bound: dict[str, str]) -> Verdict:
        baseline = self.prober.send(op, owner.name, bound)
        if not baseline.ok:
            return Verdict(_I, "the owner could not read its own object", self.prober.evidence(baseline, ids=bound))
        answer = self.prober.send(op, other.name, bound)
        leaked = leaked_fields(baseline.body, answer, bound.values())
        evidence = self.prober.evidence(answer, owner=owner.name, ids=bound, leaked_fields=leaked)
        return _judge_read(answer, leaked, evidence)

    # -- writes -----------------------------------------------------------------------------------------------

    def write(self, op: Operation, owner: Principal, other: Principal) -> list[Verdict]:
        if not self.write_allowed:
            return [Verdict(_I, "read-only run: writes are not sent to this host", {"principal": other.name})]
        found = self.owned(op, owner, other, _WRITES)
        if not found:
            return [_no_object(owner)]
        return [self._write_one(op, owner, other, bound) for bound in found]

    def _write_one(self, op: Operation, owner: Principal, other: Principal, bound: dict[str, str]) -> Verdict:
        readback = self._readback(op)
        before = self.prober.send(readback, owner.name, bound) if readback else None
        if before is not None and not before.ok:
            return Verdict(_I, "the owner could not read its own object", self.prober.evidence(before, ids=bound))
        body = request_body(self.index.contract, op, marker=f"probity-{uuid.uuid4().hex[:12]}")
        answer = self.prober.send(op, other.name, bound, body=body)
        after = self.prober.send(readback, owner.name, bound) if readback else None
        changed = before is not None and after is not None and _state(before) != _state(after)
        evidence = self.prober.evidence(answer, owner=owner.name, ids=bound, sent=self.prober.redactor.json(body))
        evidence |= {"read_back_with": readback.label if readback else None, "changed": changed}
        return _judge_write(answer, changed, evidence)

    def _readback(self, op: Operation) -> Operation | None:
        """The GET that shows what a write to *op* would change: on the same path, else on its object's path,
        else the list the object is in."""
        paths = (op.path, resource_path(op.path) or op.path, path_prefix(op.path, op.path_params[-1]))
        return next((found for path in paths if (found := self.index.find("GET", path)) is not None), None)

    # -- lists ------------------------------------------------------------------------------------------------

    def listing(self, op: Operation, owner: Principal, other: Principal) -> list[Verdict]:
        mine, theirs = self._parents(op, owner, filled=True), self._parents(op, other)
        if mine is None or theirs is None:
            return [_no_object(owner)]
        owned = self.harvester.list_ids(op, owner, mine)
        answer = self.harvester.listing(op, other, theirs)
        if owned is None or answer is None or not answer.ok:
            return [Verdict(_I, "a list could not be read", {"principals": [owner.name, other.name]})]
        if not owned:
            return [Verdict(_I, "the owner's list is empty", {"principal": owner.name})]
        listed = self.harvester.list_ids(op, other, theirs) or []
        shared = [item for item in listed if item in set(owned)][:_LIST_OVERLAP]
        leaks = [item for item in shared if self._only_owner_reads(op, owner, other, mine, item)]
        evidence = self.prober.evidence(answer, owner=owner.name, leaked_ids=leaks, listed=len(listed))
        return [_judge_list(leaks, evidence)]

    def _parents(self, op: Operation, principal: Principal, *, filled: bool = False) -> dict[str, str] | None:
        """Values for a nested list's parents (the first whose list is not empty, when *filled*)."""
        if not op.path_params:
            return {}
        found = self.harvester.bindings(op, principal, PARENTS_SCANNED if filled else 1)
        usable = (bound for bound in found if not filled or self.harvester.list_ids(op, principal, bound))
        return next(usable, found[0] if found else None)

    def _only_owner_reads(
        self, op: Operation, owner: Principal, other: Principal, bound: Mapping[str, str], item: str
    ) -> bool:
        """Whether *item* is the owner's alone: the owner reads it by id and the other tenant is refused. With no
        read by id in the contract, an object both tenants list counts as the owner's."""
        found = self.index.by_id(op)
        if found is None:
            return True
        get, param = found
        target = {**bound, param: item}
        return self.prober.send(get, owner.name, target).ok and self.prober.send(get, other.name, target).refused


_CHECKS = {"read": _Run.read, "write": _Run.write, "list": _Run.listing}


def _state(exchange: Exchange) -> tuple[int | None, Any]:
    return exchange.status, exchange.body if exchange.body is not None else exchange.text


def _no_object(owner: Principal) -> Verdict:
    return Verdict(_I, "no object of the owner's tenant was found through its list operations", {"owner": owner.name})


def _judge_read(answer: Exchange, leaked: Iterable[str], evidence: dict[str, Any]) -> Verdict:
    if answer.ok:
        if leaked:
            return Verdict(_F, "another tenant's object was returned", evidence, Severity.CRITICAL)
        return Verdict(_F, "another tenant's object was answered with success", evidence, Severity.HIGH)
    if answer.refused:
        if leaked:
            return Verdict(_F, "the refusal carries data of another tenant's object", evidence, Severity.HIGH)
        return Verdict(_P, "another tenant's object was refused", evidence)
    return Verdict(_I, "answered neither with success nor with 403/404", evidence)


def _judge_write(answer: Exchange, changed: bool, evidence: dict[str, Any]) -> Verdict:
    if changed:
        return Verdict(_F, "another tenant's write landed on the object", evidence, Severity.CRITICAL)
    if answer.ok:
        return Verdict(_F, "another tenant's write was accepted", evidence, Severity.HIGH)
    if answer.refused:
        return Verdict(_P, "another tenant's write was refused and changed nothing", evidence)
    if answer.status in (400, 422):
        return Verdict(_I, "the request body was refused before authorization could be observed", evidence)
    return Verdict(_I, "answered neither with success nor with 403/404", evidence)


def _judge_list(leaks: list[str], evidence: dict[str, Any]) -> Verdict:
    if leaks:
        return Verdict(_F, "the list shows another tenant's objects", evidence, Severity.CRITICAL)
    return Verdict(_P, "the list shows no object of another tenant", evidence)
