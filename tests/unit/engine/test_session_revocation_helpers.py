"""Session revocation: which GET reuses the credential, how answers are judged, and the check end to end against
a stub backend whose logout does or does not end the session."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from http_stub import StubServer

from probity.core.findings import Outcome, Severity
from probity.core.principals import Principals
from probity.core.redact import Redactor
from probity.engine.auth import TokenBroker
from probity.engine.http_probe import Exchange
from probity.engine.openapi_ops import OperationIndex
from probity.engine.session_revocation import CHECK, RULE, _judge, follow_up_get, session_revocation

OK_JSON = {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}}


def _index(paths: dict[str, Any]) -> OperationIndex:
    return OperationIndex({"openapi": "3.1.0", "security": [{"bearer": []}], "paths": paths})


def test_the_follow_up_get_is_chosen_deterministically() -> None:
    paths = {
        "/zz": {"get": {"responses": OK_JSON}},
        "/aa": {"get": {"responses": OK_JSON}},
        "/health": {"get": {"security": [], "responses": OK_JSON}},
        "/me": {"post": {"responses": OK_JSON}},
        "/x/{id}": {"get": {"responses": OK_JSON}},
        "/q": {"get": {"parameters": [{"name": "q", "in": "query", "required": True}], "responses": OK_JSON}},
        "/ev": {"get": {"responses": {"200": {"content": {"text/event-stream": {}}}}}},
        "/a": {"get": {"x-roles": ["ADMIN"], "responses": OK_JSON}},
    }
    index = _index(paths)
    chosen = follow_up_get(index, "USER")
    assert chosen is not None and chosen.path == "/aa"
    admin = follow_up_get(index, "ADMIN")
    assert admin is not None and admin.path == "/a"
    assert follow_up_get(_index({"/health": {"get": {"security": [], "responses": OK_JSON}}}), "USER") is None


@pytest.mark.parametrize(
    ("status", "outcome", "severity"),
    [
        (401, Outcome.PASS, Severity.INFO),
        (200, Outcome.FAIL, Severity.CRITICAL),
        (403, Outcome.FAIL, Severity.MEDIUM),
        (500, Outcome.INCONCLUSIVE, Severity.INFO),
        (None, Outcome.INCONCLUSIVE, Severity.INFO),
    ],
)
def test_judge(status: int | None, outcome: Outcome, severity: Severity) -> None:
    verdict = _judge(Exchange("p", "GET", "u", status), {})
    assert (verdict.outcome, verdict.severity) == (outcome, severity)


# -- end to end against a stub backend ------------------------------------------------------------------------

CONTRACT = {
    "openapi": "3.1.0",
    "servers": [{"url": "/api"}],
    "security": [{"bearer": []}],
    "paths": {
        "/login": {"post": {"security": [], "responses": OK_JSON}},
        "/logout": {"post": {"x-roles": ["USER"], "responses": {"204": {"description": "ended"}}}},
        "/me": {"get": {"x-roles": ["USER"], "responses": OK_JSON}},
    },
}
PRINCIPALS = Principals.model_validate(
    {
        "principals": [
            {
                "name": name,
                "tenant": tenant,
                "role": "USER",
                "token": {"login": {"operation": "POST /login", "body": {"user": name}, "token_field": "token"}},
            }
            for name, tenant in [("ann", "a"), ("bob", "b")]
        ]
    }
)


class _Sessions:
    """A backend whose logout ends the session, unless it is broken; or whose logout fails."""

    def __init__(self, *, revokes: bool = True, logout_status: int = 204) -> None:
        self.live: set[str] = set()
        self.revokes = revokes
        self.logout_status = logout_status

    def __call__(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if (method, path) == ("POST", "/api/login"):
            token = uuid.uuid4().hex
            self.live.add(token)
            return 200, {"token": token}
        if token not in self.live:
            return 401, {"code": "unauthenticated"}
        if (method, path) == ("POST", "/api/logout"):
            if self.revokes and self.logout_status < 300:
                self.live.discard(token)
            return self.logout_status, None
        return (200, {"me": "x"}) if (method, path) == ("GET", "/api/me") else (404, None)


def _run(stub: StubServer, backend: _Sessions, ending: tuple[str, ...] = ("POST /logout",)) -> list[Any]:
    stub.handler = backend
    broker = TokenBroker(stub.origin + "/api", PRINCIPALS)
    return session_revocation(CONTRACT, stub.origin, PRINCIPALS, broker, Redactor(), session_ending=ending)


def test_a_revoked_session_passes(stub: StubServer) -> None:
    results = _run(stub, _Sessions())
    assert [(r.outcome, r.operation) for r in results] == [(Outcome.PASS, "POST /logout")] * 2
    assert {r.check for r in results} == {CHECK} and {r.rule for r in results} == {RULE}
    assert [r.evidence["observations"][0]["principal"] for r in results] == ["ann", "bob"]
    assert ("GET", "/api/me") in stub.requests


def test_a_session_that_survives_logout_is_critical(stub: StubServer) -> None:
    results = _run(stub, _Sessions(revokes=False))
    assert [(r.outcome, r.severity) for r in results] == [(Outcome.FAIL, Severity.CRITICAL)] * 2
    assert results[0].evidence["status"] == 200
    assert "HIPAA 164.312(d)" in results[0].controls


def test_tokens_never_reach_evidence(stub: StubServer) -> None:
    backend = _Sessions(revokes=False)
    results = _run(stub, backend)
    assert backend.live and not any(token in repr(r.evidence) for r in results for token in backend.live)


def test_a_failed_logout_is_inconclusive(stub: StubServer) -> None:
    results = _run(stub, _Sessions(logout_status=500))
    assert {(r.outcome, r.message) for r in results} == {
        (Outcome.INCONCLUSIVE, "the session-ending operation itself failed")
    }


def test_an_operation_missing_from_the_contract_is_inconclusive(stub: StubServer) -> None:
    results = _run(stub, _Sessions(), ending=("POST /auth/logout",))
    assert [(r.outcome, r.operation) for r in results] == [(Outcome.INCONCLUSIVE, "POST /auth/logout")]
