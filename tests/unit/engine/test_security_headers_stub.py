"""The security-headers check against a real HTTP server whose answers carry, or lack, the required headers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from probity.core.findings import Outcome, Result
from probity.core.policy import SecurityHeadersPolicy
from probity.core.principals import Principals
from probity.core.redact import Redactor
from probity.engine.auth import TokenBroker
from probity.engine.security_headers import security_headers

GOOD = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store, private"}
OK = {"200": {"description": "ok"}}
CONTRACT: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/items": {"get": {"responses": OK}, "post": {"responses": OK}},
        "/items/{item_id}": {
            "parameters": [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"responses": OK},
        },
        "/signup": {"post": {"security": [], "responses": OK}},
    },
}


class _Backend(BaseHTTPRequestHandler):
    missing: dict[str, str] = {}  # path prefix -> the header this backend forgets there
    seen: list[tuple[str, str]] = []

    def _answer(self) -> None:
        type(self).seen.append((self.command, self.path))
        self.send_response(401)
        forgotten = next((h for prefix, h in self.missing.items() if self.path.startswith(prefix)), None)
        for name, value in GOOD.items():
            if name != forgotten:
                self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[str]:
    _Backend.missing, _Backend.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


PRINCIPALS = Principals.model_validate(
    {"principals": [{"name": "a_admin", "tenant": "a", "role": "ADMIN", "token": {"env": "PROBITY_TEST_TOKEN"}}]}
)


def _run(
    origin: str, *, write_allowed: bool = True, principal: str | None = None, redactor: Redactor | None = None
) -> dict[str, Result]:
    principals = PRINCIPALS
    broker = TokenBroker(origin, principals)
    results = security_headers(
        CONTRACT,
        origin,
        principals,
        broker,
        redactor or Redactor(),
        policy=SecurityHeadersPolicy(),
        write_allowed=write_allowed,
        principal=principal,
    )
    return {r.operation: r for r in results}


def test_a_backend_that_sets_every_header_passes(origin: str) -> None:
    results = _run(origin)
    assert results["GET /items"].outcome is Outcome.PASS
    assert results["GET /items/{item_id}"].outcome is Outcome.PASS
    assert results["POST /items"].outcome is Outcome.PASS
    assert results["GET /items"].controls  # the check is mapped to a control


def test_a_missing_header_fails_where_it_is_missing(origin: str) -> None:
    _Backend.missing = {"/items/": "Cache-Control"}
    results = _run(origin)
    failing = {op for op, r in results.items() if r.outcome is Outcome.FAIL}
    assert failing == {"GET /items/{item_id}"}
    assert results["GET /items/{item_id}"].evidence["missing"] == ["Cache-Control: no-store"]


def test_a_public_write_is_never_sent(origin: str) -> None:
    results = _run(origin)
    assert results["POST /signup"].outcome is Outcome.NOT_APPLICABLE
    assert ("POST", "/signup") not in _Backend.seen


def test_read_only_runs_leave_writes_inconclusive(origin: str) -> None:
    results = _run(origin, write_allowed=False)
    assert results["POST /items"].outcome is Outcome.INCONCLUSIVE
    assert [method for method, _ in _Backend.seen] == ["GET", "GET"]


def test_an_unreachable_backend_is_inconclusive_not_a_pass() -> None:
    results = _run("http://127.0.0.1:9")
    assert {r.outcome for r in results.values() if r.operation != "POST /signup"} == {Outcome.INCONCLUSIVE}


def test_a_parameterless_get_is_also_sent_as_the_principal(origin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBITY_TEST_TOKEN", "tok-very-secret-value")
    _Backend.missing = {"/items": "X-Content-Type-Options"}
    redactor = Redactor()
    results = _run(origin, principal="a_admin", redactor=redactor)
    assert results["GET /items"].outcome is Outcome.FAIL
    assert _Backend.seen.count(("GET", "/items")) == 2  # once without credentials, once as the principal
    assert "tok-very-secret-value" not in repr(results)
