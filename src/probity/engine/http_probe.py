"""What the HTTP-level checks share: sending a contract's operations as principals, finding the ids a principal's
tenant owns through its own list operations, redacted evidence, and folding many observations into one result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from probity.core.compliance import controls_for
from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.principals import Principal, Principals
from probity.core.redact import Redactor
from probity.engine.auth import Credential, TokenBroker
from probity.engine.openapi_ops import (
    Operation,
    OperationIndex,
    distinctive_values,
    example_value,
    fill_path,
    item_ids,
    list_key,
    path_prefix,
    request_base,
)

__all__ = ["PARENTS_SCANNED", "Exchange", "Harvester", "Observe", "Prober", "Verdict", "leaked_fields", "summarize"]

# Sends one request through the SQL observer (session, request, operation label, principal, inputs): the
# observer ties the statements the request ran to it and runs every probe on them.
Observe = Callable[[requests.Session, requests.Request, str, str | None, tuple[str, ...]], requests.Response]

_EXCERPT = 300
PARENTS_SCANNED = 30  # parent objects tried when looking for a nested object


@dataclass(frozen=True)
class Exchange:
    """One request and what came back. ``status`` is None when the backend did not answer."""

    principal: str
    method: str
    url: str
    status: int | None
    body: Any = field(default=None, repr=False)
    text: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return self.status in (403, 404)


class Prober:
    """Sends a contract's operations as principals over one session, with their credentials."""

    def __init__(
        self,
        index: OperationIndex,
        api_root: str,
        broker: TokenBroker,
        redactor: Redactor,
        session: requests.Session,
        timeout: float = 15.0,
        observe: Observe | None = None,
    ) -> None:
        self.observe = observe
        self.index = index
        self.base = request_base(index.contract, api_root)
        self.broker = broker
        self.redactor = redactor
        self.session = session
        self.timeout = timeout

    def credential(self, principal: str) -> Credential:
        return self.remember(self.broker.credential(principal))

    def remember(self, credential: Credential) -> Credential:
        """Make sure *credential*'s token never reaches evidence."""
        self.redactor.add_secret(credential.value.split(" ")[-1])
        return credential

    def send(
        self,
        op: Operation,
        principal: str,
        bindings: Mapping[str, str],
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        credential: Credential | None = None,
        observed: bool = False,
    ) -> Exchange:
        """Send *op* as *principal*; *observed* sends it through the SQL observer, when there is one."""
        url = self.base + fill_path(op.path, bindings)
        headers = (credential or self.credential(principal)).as_headers()
        params = {**self._required_query(op), **(query or {})}
        try:
            if observed and self.observe is not None:
                request = requests.Request(op.method, url, headers=headers, params=params or None, json=body)
                response = self.observe(self.session, request, op.label, principal, tuple(bindings.values()))
            else:
                response = self.session.request(
                    op.method, url, headers=headers, params=params or None, json=body, timeout=self.timeout
                )
        except requests.RequestException:
            return Exchange(principal, op.method, url, None)
        return Exchange(principal, op.method, response.url, response.status_code, _json(response), response.text)

    def _required_query(self, op: Operation) -> dict[str, Any]:
        return {p["name"]: example_value(self.index.contract, p.get("schema") or {}) for p in op.required_query()}

    def evidence(self, exchange: Exchange, **extra: Any) -> dict[str, Any]:
        """The redacted record of *exchange*: request, status, who sent it, a short body excerpt."""
        return {
            "request": {"method": exchange.method, "url": self.redactor.text(exchange.url)},
            "status": exchange.status,
            "principal": exchange.principal,
            "body": self.redactor.body(exchange.text)[:_EXCERPT],
            **extra,
        }


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class Harvester:
    """Finds ids a principal's tenant owns: from the principal's attributes (a path parameter named like one),
    else from the collection GET in front of the parameter, listed by the principal or, when its role may not
    list, by another principal of its tenant. Lists are fetched once; every id a principal saw is remembered.
    """

    def __init__(
        self, prober: Prober, principals: Principals, limit_param: str = "limit", never_send: tuple[str, ...] = ()
    ) -> None:
        self.prober = prober
        self.index = prober.index
        self.principals = principals
        self.limit_param = limit_param
        self.never_send = never_send
        self.seen: dict[str, set[str]] = {}
        self._lists: dict[tuple[str, str], Exchange] = {}

    def bindings(self, op: Operation, principal: Principal, count: int) -> list[dict[str, str]]:
        """Up to *count* value sets for *op*'s path parameters, all owned by *principal*'s tenant (parents of a
        nested object are scanned until enough are found)."""
        found: list[dict[str, str]] = [{}]
        params = op.path_params
        for position, param in enumerate(params):
            wanted = count if position == len(params) - 1 else PARENTS_SCANNED
            found = self._extend(found, param, op.path, principal, wanted)
        return found[:count] if params else []

    def _extend(
        self, partial: list[dict[str, str]], param: str, path: str, principal: Principal, wanted: int
    ) -> list[dict[str, str]]:
        extended: list[dict[str, str]] = []
        for bound in partial[:PARENTS_SCANNED]:
            extended += [{**bound, param: value} for value in self._values(param, path, bound, principal)[:wanted]]
            if len(extended) >= wanted:
                break
        return extended

    def _values(self, param: str, path: str, bound: Mapping[str, str], principal: Principal) -> list[str]:
        if param in principal.attributes:
            return [principal.attributes[param]]
        collection = self.index.list_at(path_prefix(path, param))
        if collection is None or self.index.named(collection, self.never_send):
            return []
        return self.list_ids(collection, principal, bound) or []

    def list_ids(self, collection: Operation, principal: Principal, bound: Mapping[str, str]) -> list[str] | None:
        """The ids on the first (largest) page of *collection* as listed for *principal*'s tenant; None when the
        list could not be read."""
        exchange = self.listing(collection, principal, bound)
        if exchange is None or not exchange.ok:
            return None
        return item_ids(exchange.body, list_key(self.index.contract, collection) or "")

    def listing(self, collection: Operation, principal: Principal, bound: Mapping[str, str]) -> Exchange | None:
        """The answer to *collection* for *principal*'s tenant, fetched once (None: nobody of it may list)."""
        lister = self.lister(collection, principal)
        if lister is None:
            return None
        key = (lister.name, fill_path(collection.path, bound))
        if key not in self._lists:
            self._lists[key] = self._fetch(collection, lister, bound)
        return self._lists[key]

    def lister(self, collection: Operation, principal: Principal) -> Principal | None:
        """*principal* when its role may call *collection*, else the first principal of its tenant who may."""
        if collection.allows(principal.role):
            return principal
        return next((p for p in self.principals.of_tenant(principal.tenant) if collection.allows(p.role)), None)

    def _fetch(self, collection: Operation, lister: Principal, bound: Mapping[str, str]) -> Exchange:
        exchange = self.prober.send(collection, lister.name, bound, query=self._page(collection))
        if exchange.ok:
            ids = item_ids(exchange.body, list_key(self.index.contract, collection) or "")
            self.seen.setdefault(lister.name, set()).update(ids)
        return exchange

    def _page(self, collection: Operation) -> dict[str, Any]:
        """The largest page the contract allows, when the list takes a page-size parameter with a maximum."""
        param = collection.query_param(self.limit_param)
        maximum = ((param or {}).get("schema") or {}).get("maximum")
        return {self.limit_param: int(maximum)} if isinstance(maximum, int | float) else {}

    def seen_by_tenant(self, tenant: str) -> set[str]:
        """Every id any principal of *tenant* saw in a list."""
        return set().union(*(self.seen.get(p.name, set()) for p in self.principals.of_tenant(tenant)))


@dataclass(frozen=True)
class Verdict:
    """One observation of a check, before it is folded with the others about the same operation."""

    outcome: Outcome
    message: str
    evidence: dict[str, Any]
    severity: Severity = Severity.INFO


@dataclass(frozen=True)
class _Identity:
    check: str
    rule: str
    category: Category
    operation: str


def summarize(check: str, rule: str, category: Category, operation: str, verdicts: Sequence[Verdict]) -> Result:
    """One result from several observations: the worst failure, else a pass (with every pass's evidence), else
    the first reason the check could not conclude.

    >>> v = [Verdict(Outcome.PASS, "held", {"id": 1}), Verdict(Outcome.INCONCLUSIVE, "owner refused", {})]
    >>> r = summarize("c", "c.r", Category.TENANCY, "GET /x/{id}", v)
    >>> r.outcome.value, r.message, r.evidence
    ('pass', 'held', {'observations': [{'id': 1}]})
    """
    who = _Identity(check, rule, category, operation)
    failures = sorted((v for v in verdicts if v.outcome is Outcome.FAIL), key=lambda v: -v.severity.rank)
    if failures:
        return _result(who, failures[0], failures[0].evidence)
    passes = [v for v in verdicts if v.outcome is Outcome.PASS]
    if passes:
        return _result(who, passes[0], {"observations": [v.evidence for v in passes]})
    first = verdicts[0] if verdicts else Verdict(Outcome.INCONCLUSIVE, "nothing could be observed", {})
    return _result(who, first, first.evidence)


def _result(who: _Identity, verdict: Verdict, evidence: dict[str, Any]) -> Result:
    return Result(
        check=who.check,
        rule=who.rule,
        category=who.category,
        outcome=verdict.outcome,
        operation=who.operation,
        message=verdict.message,
        severity=verdict.severity,
        controls=controls_for(who.check),
        evidence=evidence,
    )


def leaked_fields(owner_body: Any, other: Exchange, sent: Iterable[str]) -> list[str]:
    """The fields of the owner's object whose distinctive values appear in *other*'s answer (values the request
    itself carried, like the ids in its path, do not count).

    >>> e = Exchange("b", "GET", "u", 404, None, '{"message": "no such thing 7f3c2a10-1111"}')
    >>> leaked_fields({"id": "7f3c2a10-1111", "name": "Theodora Quill"}, e, sent=[])
    ['id']
    >>> leaked_fields({"id": "7f3c2a10-1111"}, e, sent=["7f3c2a10-1111"])
    []
    """
    values = distinctive_values(owner_body, exclude=sent)
    return sorted({where for value, where in values.items() if value in other.text})
