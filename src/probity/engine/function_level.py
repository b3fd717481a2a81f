"""Function-level authorization over HTTP: every operation, called by each role its ``x-roles`` leave out.

An authenticated caller whose role may not call an operation must get 403 — not 401 (it is authenticated), not
a success. Path parameters are filled with ids the caller's own tenant owns, so a 404 cannot stand in for the
role check; only when no such id can be found is a random id used, and then 404 is accepted and noted.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import requests

from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.principals import Principal, Principals
from probity.core.redact import Redactor
from probity.engine.auth import TokenBroker
from probity.engine.http_probe import Exchange, Harvester, Prober, Verdict, summarize
from probity.engine.openapi_ops import Operation, OperationIndex, request_body

__all__ = ["CHECK", "RULE", "function_level_authorization", "random_bindings", "refused_roles"]

CHECK = "function_level_authorization"
RULE = f"{CHECK}.role_refused"
_I, _P, _F, _NA = Outcome.INCONCLUSIVE, Outcome.PASS, Outcome.FAIL, Outcome.NOT_APPLICABLE


def function_level_authorization(
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
    """Call every role-restricted operation of *contract* as a principal of each role it refuses."""
    index = OperationIndex(contract)
    with requests.Session() as session:
        prober = Prober(index, api_root, broker, redactor, session)
        run = _Run(prober, Harvester(prober, principals, limit_param, never_send), write_allowed, never_send)
        return [result for op in index.all for result in run.check(op)]


def refused_roles(op: Operation, principals: Principals) -> tuple[str, ...]:
    """The roles among *principals* that *op*'s ``x-roles`` leave out, in the principals' order.

    >>> from probity.core.principals import Principals
    >>> p = Principals.model_validate({"principals": [
    ...     {"name": n, "tenant": "t", "role": n.upper(), "token": {"env": "X"}}
    ...     for n in ("admin", "staff", "viewer")]})
    >>> refused_roles(Operation("DELETE", "/x/{id}", {}, roles=("ADMIN",)), p)
    ('STAFF', 'VIEWER')
    """
    roles = dict.fromkeys(p.role for p in principals.principals)
    return tuple(role for role in roles if op.roles and role not in op.roles)


def random_bindings(op: Operation) -> dict[str, str]:
    """A random, well-formed value for each path parameter of *op* (a uuid, or digits for integers).

    >>> params = ({"name": "n", "in": "path", "schema": {"type": "integer"}},)
    >>> sorted(random_bindings(Operation("GET", "/a/{id}/b/{n}", {}, params)))
    ['id', 'n']
    """
    schemas = {p.get("name"): p.get("schema") or {} for p in op.parameters if p.get("in") == "path"}
    return {name: _random_value(schemas.get(name, {})) for name in op.path_params}


def _random_value(schema: Mapping[str, Any]) -> str:
    return str(uuid.uuid4().int % 10**9) if schema.get("type") == "integer" else str(uuid.uuid4())


class _Run:
    def __init__(self, prober: Prober, harvester: Harvester, write_allowed: bool, never_send: tuple[str, ...]) -> None:
        self.prober = prober
        self.harvester = harvester
        self.principals = harvester.principals
        self.write_allowed = write_allowed
        self.never_send = never_send

    def check(self, op: Operation) -> list[Result]:
        if op.public:
            return [self._result(op, Verdict(_NA, "public operation: no role is refused", {}))]
        if op.roles is None:
            return [self._result(op, Verdict(_NA, "the contract names no roles for the operation", {}))]
        refused = refused_roles(op, self.principals)
        if not refused:
            # Every role the principals hold may call it: nothing to refuse here (a role none holds is untested).
            return [
                self._result(op, Verdict(_NA, "every role among the principals may call it", {"roles": list(op.roles)}))
            ]
        return [self._result(op, self._as_role(op, role)) for role in refused]

    def _result(self, op: Operation, verdict: Verdict) -> Result:
        return summarize(CHECK, RULE, Category.AUTHN, op.label, [verdict])

    def _as_role(self, op: Operation, role: str) -> Verdict:
        caller = next(p for p in self.principals.principals if p.role == role)
        unsent = self._unsent(op)
        if unsent:
            return Verdict(_I, f"{unsent} (role {role})", {"principal": caller.name})
        bound, random = self._bindings(op, caller)
        body = request_body(self.prober.index.contract, op, marker=f"probity-{uuid.uuid4().hex[:12]}")
        answer = self.prober.send(op, caller.name, bound, body=body)
        evidence = self.prober.evidence(answer, role=role, ids=bound, random_ids=random)
        return _judge(op, role, answer, random, evidence)

    def _unsent(self, op: Operation) -> str:
        """Why *op* may not be sent in this run ("" when it may)."""
        if self.prober.index.named(op, self.never_send):
            return "not sent: the policy excludes this operation"
        if op.writes and not self.write_allowed:
            return "read-only run: writes are not sent to this host"
        return ""

    def _bindings(self, op: Operation, caller: Principal) -> tuple[dict[str, str], bool]:
        """Ids the caller's own tenant owns for *op*'s path, else random ones (the flag says which)."""
        if not op.path_params:
            return {}, False
        found = self.harvester.bindings(op, caller, 1)
        return (found[0], False) if found else (random_bindings(op), True)


def _judge(op: Operation, role: str, answer: Exchange, random: bool, evidence: dict[str, Any]) -> Verdict:
    if answer.status == 403:
        return Verdict(_P, f"role {role} was refused", evidence)
    if answer.status == 404 and random:
        return Verdict(_P, f"role {role} was refused (404 on a random id: role check not isolated)", evidence)
    if answer.ok:
        severity = Severity.CRITICAL if op.writes else Severity.HIGH
        return Verdict(_F, f"role {role} was served though the operation refuses it", evidence, severity)
    if answer.status == 401:
        return Verdict(_F, f"role {role} was answered 401 instead of 403", evidence, Severity.MEDIUM)
    if answer.status == 404:
        message = f"role {role} was answered 404 instead of 403 for its own tenant's object"
        return Verdict(_F, message, evidence, Severity.LOW)
    return Verdict(_I, f"role {role} was answered neither 403 nor success", evidence)
