"""Security headers over HTTP: every answer, errors included, carries the headers the policy requires.

PHI must not land in shared caches (``Cache-Control: no-store``) and a JSON answer must not be sniffed into
something a browser runs (``X-Content-Type-Options: nosniff``); on https roots the policy can also require
HSTS. Each operation is sent once without credentials (the answer is usually a 401, which must carry the headers
too) and, for a parameterless GET, once as the run's principal. A state-changing operation is only sent where
writes are allowed, and never when it is public (it would act on the target).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.policy import SecurityHeadersPolicy
from probity.core.principals import Principals
from probity.core.redact import Redactor
from probity.engine.auth import TokenBroker
from probity.engine.http_probe import Verdict, summarize
from probity.engine.openapi_ops import Operation, OperationIndex, example_value, fill_path, request_base

__all__ = ["CHECK", "RULE", "missing_headers", "required_headers", "security_headers"]

CHECK = "security_headers"
RULE = f"{CHECK}.missing"
_TIMEOUT = 15.0


def security_headers(
    contract: dict[str, Any],
    api_root: str,
    principals: Principals,
    broker: TokenBroker,
    redactor: Redactor,
    *,
    policy: SecurityHeadersPolicy,
    write_allowed: bool,
    principal: str | None,
) -> list[Result]:
    """One result per operation of *contract*: do its answers carry every required header?"""
    index = OperationIndex(contract)
    sender = _Sender(index, api_root, broker, redactor, required_headers(policy, api_root))
    with sender.session:
        return [_judge(op, sender, write_allowed, principal) for op in index.all]


def required_headers(policy: SecurityHeadersPolicy, api_root: str) -> dict[str, str]:
    """The headers to require at *api_root*: HSTS and the like only on https.

    >>> sorted(required_headers(SecurityHeadersPolicy(), "http://127.0.0.1:8000"))
    ['Cache-Control', 'X-Content-Type-Options']
    >>> "Strict-Transport-Security" in required_headers(SecurityHeadersPolicy(), "https://api.example")
    True
    """
    https = api_root.lower().startswith("https://")
    return {**policy.required, **(policy.https_only if https else {})}


def missing_headers(headers: Mapping[str, str], required: Mapping[str, str]) -> list[str]:
    """``Name: token`` for each required header absent from *headers* or lacking its token (case-insensitive).

    >>> missing_headers({"cache-control": "private, no-store"}, {"Cache-Control": "no-store", "X-Frame": "deny"})
    ['X-Frame: deny']
    """
    lowered = {name.lower(): value.lower() for name, value in headers.items()}
    return [
        f"{name}: {token}" for name, token in required.items() if token.lower() not in lowered.get(name.lower(), "")
    ]


class _Sender:
    def __init__(
        self, index: OperationIndex, api_root: str, broker: TokenBroker, redactor: Redactor, required: dict[str, str]
    ) -> None:
        self.index, self.broker, self.redactor, self.required = index, broker, redactor, required
        self.base = request_base(index.contract, api_root)
        self.session = requests.Session()

    def verdict(self, op: Operation, principal: str | None) -> Verdict:
        headers = self.broker.credential(principal).as_headers() if principal else {}
        if principal:
            self.redactor.add_secret(next(iter(headers.values()), "").split(" ")[-1])
        try:
            response = self.session.request(op.method, self._url(op), headers=headers, timeout=_TIMEOUT)
        except requests.RequestException as exc:
            return Verdict(Outcome.INCONCLUSIVE, f"the backend did not answer ({type(exc).__name__})", {})
        return self._judge(op, principal, response)

    def _url(self, op: Operation) -> str:
        bindings = {name: str(example_value(self.index.contract, _schema(op, name))) for name in op.path_params}
        return self.base + fill_path(op.path, bindings)

    def _judge(self, op: Operation, principal: str | None, response: requests.Response) -> Verdict:
        missing = missing_headers(response.headers, self.required)
        evidence = {
            "request": {"method": op.method, "url": self.redactor.text(response.url)},
            "status": response.status_code,
            "principal": principal or "(no credentials)",
            "missing": missing,
        }
        if missing:
            message = f"an answer ({response.status_code}) lacks required headers: {', '.join(missing)}"
            return Verdict(Outcome.FAIL, message, evidence, Severity.MEDIUM)
        return Verdict(Outcome.PASS, "every answer carries the required headers", evidence)


def _schema(op: Operation, name: str) -> Any:
    found = next((p for p in op.parameters if p.get("in") == "path" and p.get("name") == name), None)
    return (found or {}).get("schema") or {"type": "string"}


def _judge(op: Operation, sender: _Sender, write_allowed: bool, principal: str | None) -> Result:
    if op.writes and op.public:
        verdicts = [Verdict(Outcome.NOT_APPLICABLE, "not sent: a public state-changing operation would act", {})]
    elif op.writes and not write_allowed:
        verdicts = [Verdict(Outcome.INCONCLUSIVE, "not sent: read-only run", {})]
    else:
        verdicts = [sender.verdict(op, None)]
        if principal and op.method == "GET" and not op.path_params and not op.public:
            verdicts.append(sender.verdict(op, principal))
    return summarize(CHECK, RULE, Category.ROBUSTNESS, op.label, verdicts)
