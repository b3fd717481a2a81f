"""Session revocation over HTTP: a credential whose session was ended (logout) must stop working.

For each session-ending operation, one principal per tenant logs in afresh, shows that its new credential works
on a harmless authenticated GET, ends the session with it, and sends the same GET again: the answer must be 401.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.principals import Principal, Principals
from probity.core.redact import Redactor
from probity.engine.auth import TokenBroker
from probity.engine.http_probe import Exchange, Observe, Prober, Verdict, summarize
from probity.engine.openapi_ops import Operation, OperationIndex, request_body, resolve

__all__ = ["CHECK", "RULE", "follow_up_get", "session_revocation"]

CHECK = "session_revocation"
RULE = f"{CHECK}.reused_after_end"
_I, _P, _F = Outcome.INCONCLUSIVE, Outcome.PASS, Outcome.FAIL


def session_revocation(
    contract: dict[str, Any],
    api_root: str,
    principals: Principals,
    broker: TokenBroker,
    redactor: Redactor,
    *,
    session_ending: tuple[str, ...],
    observe: Observe | None = None,
) -> list[Result]:
    """End a fresh session of one principal per tenant with each of *session_ending*, then reuse its credential.

    Session-ending operations are never fuzzed, so the ending request goes through *observe* (the run's SQL
    observer) when given: the probes see the statements a logout runs too.
    """
    index = OperationIndex(contract)
    results: list[Result] = []
    with requests.Session() as session:
        prober = Prober(index, api_root, broker, redactor, session, observe=observe)
        for label in session_ending:
            op = index.labelled(label)
            if op is None:
                results.append(_result(label, Verdict(_I, "the operation is not in the contract", {})))
                continue
            results += [_result(op.label, _revoke(prober, op, principals, tenant)) for tenant in principals.tenants]
    return results


def follow_up_get(index: OperationIndex, role: str) -> Operation | None:
    """The GET used to try a credential: authenticated, open to *role*, needing no parameter, answering JSON;
    the shortest path first, so the choice is the same on every run.

    >>> json = {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}}
    >>> index = OperationIndex({"paths": {
    ...     "/health": {"get": {"security": [], "responses": json}},
    ...     "/me/profile": {"get": {"responses": json}},
    ...     "/me": {"get": {"responses": json}},
    ...     "/admin": {"get": {"x-roles": ["ADMIN"], "responses": json}},
    ...     "/items/{id}": {"get": {"responses": json}}}})
    >>> follow_up_get(index, "USER").path
    '/me'
    """
    usable = [op for op in index.all if _harmless(index.contract, op, role)]
    return min(usable, key=lambda op: (len(op.path), op.path), default=None)


def _harmless(contract: Mapping[str, Any], op: Operation, role: str) -> bool:
    plain = op.method == "GET" and not op.public and not op.path_params and not op.required_query()
    return plain and op.allows(role) and _answers_json(contract, op)


def _answers_json(contract: Mapping[str, Any], op: Operation) -> bool:
    responses = op.spec.get("responses") or {}
    ok = [resolve(contract, value) for code, value in responses.items() if str(code).startswith("2")]
    return any(media.endswith("json") for response in ok for media in response.get("content") or {})


def _revoke(prober: Prober, op: Operation, principals: Principals, tenant: str) -> Verdict:
    principal = next((p for p in principals.of_tenant(tenant) if op.allows(p.role)), None)
    if principal is None:
        return Verdict(_I, "no principal of the tenant may call the operation", {"tenant": tenant})
    bindings = {name: principal.attributes.get(name, "") for name in op.path_params}
    if not all(bindings.values()):
        return Verdict(_I, "the operation's path parameters are not among the principal's attributes", {})
    follow = follow_up_get(prober.index, principal.role)
    if follow is None:
        return Verdict(_I, "no authenticated GET without required parameters to reuse the credential on", {})
    return _end_and_reuse(prober, op, follow, principal, bindings)


def _end_and_reuse(
    prober: Prober, op: Operation, follow: Operation, principal: Principal, bindings: dict[str, str]
) -> Verdict:
    credential = prober.remember(prober.broker.fresh(principal.name))
    before = prober.send(follow, principal.name, {}, credential=credential)
    if not before.ok:
        return Verdict(_I, "the fresh credential did not work before the session ended", prober.evidence(before))
    body = request_body(prober.index.contract, op)
    ended = prober.send(op, principal.name, bindings, body=body, credential=credential, observed=True)
    if not ended.ok:
        return Verdict(_I, "the session-ending operation itself failed", prober.evidence(ended))
    after = prober.send(follow, principal.name, {}, credential=credential)
    return _judge(after, prober.evidence(after, ended_with=op.label, ended_status=ended.status))


def _judge(after: Exchange, evidence: dict[str, Any]) -> Verdict:
    if after.status == 401:
        return Verdict(_P, "the ended session's credential was rejected", evidence)
    if after.ok:
        return Verdict(_F, "the ended session's credential still works", evidence, Severity.CRITICAL)
    if after.status == 403:
        return Verdict(_F, "the ended session's credential was answered 403 instead of 401", evidence, Severity.MEDIUM)
    return Verdict(_I, "the ended session's credential was answered neither 401 nor success", evidence)


def _result(operation: str, verdict: Verdict) -> Result:
    return summarize(CHECK, RULE, Category.AUTHN, operation, [verdict])
