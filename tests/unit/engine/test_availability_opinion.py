"""Schemathesis's ``ensure_resource_availability`` gets a second opinion: a 404 right after a POST is a finding
only when a GET of the resource, as the same caller, does not find it either.

A stub backend whose PATCH answers 404 for an unknown *owner* its body names (as a correct API may) must not
fail; one that loses what it just created must."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from http_stub import StubServer

from probity.core.findings import Outcome
from probity.core.principals import Principals
from probity.core.redact import Redactor
from probity.engine.auth import TokenBroker
from probity.engine.contract_run import PassOutcome, run_contract_pass
from probity.engine.plan import Pass, RunPlan

CHECK = "ensure_resource_availability"
ITEM = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
OWNER = {
    "type": "object",
    "properties": {"owner": {"type": "string", "format": "uuid"}},
    "required": ["owner"],
    "additionalProperties": False,
}
ID = [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}]
FOLLOW = {"parameters": {"item_id": "$response.body#/id"}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "ok", "content": {"application/json": {"schema": schema}}}


CONTRACT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "items", "version": "1"},
    "security": [{"bearer": []}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/items": {
            "post": {
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "201": {
                        **_json(ITEM),
                        "links": {
                            "Patch": {"operationId": "patchItem", **FOLLOW},
                            "Get": {"operationId": "getItem", **FOLLOW},
                        },
                    }
                },
            }
        },
        "/items/{item_id}": {
            "parameters": ID,
            "get": {"operationId": "getItem", "responses": {"200": _json(ITEM), "404": _json({"type": "object"})}},
            "patch": {
                "operationId": "patchItem",
                "requestBody": {"required": True, "content": {"application/json": {"schema": OWNER}}},
                "responses": {"200": _json(ITEM), "404": _json({"type": "object"})},
            },
        },
    },
}
ADMINS = [{"name": f"{t}_admin", "tenant": t, "role": "ADMIN", "token": {"env": "ITEMS_TOKEN"}} for t in "ab"]
PRINCIPALS = Principals.model_validate({"principals": ADMINS})


class Items:
    """Items created by POST; a PATCH names an owner no one has, so it is 404 ``owner_not_found`` every time."""

    def __init__(self, *, keeps_created: bool) -> None:
        self.keeps_created = keeps_created
        self.ids: set[str] = set()

    def __call__(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "POST" and path == "/items":
            self.ids.add(item := str(uuid.uuid4()))
            return 201, {"id": item}
        item = path.rsplit("/", 1)[-1]
        if item not in self.ids or not self.keeps_created:
            return 404, {"code": "item_not_found"}
        if method == "PATCH":
            return 404, {"code": "owner_not_found"}
        return 200, {"id": item}


def _pass(stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> PassOutcome:
    monkeypatch.setenv("ITEMS_TOKEN", "token-of-the-test")
    plan = RunPlan(api_root=stub.origin, passes=(), seed=1, max_examples=15, phases=("stateful",))
    run_pass = Pass(role="ADMIN", pinned="a_admin", peers=("a_admin", "b_admin"))
    broker = TokenBroker(stub.origin, PRINCIPALS)
    return run_contract_pass(CONTRACT, plan, run_pass, broker, Redactor(), observer=None)


def _outcomes(outcome: PassOutcome) -> set[tuple[str, Outcome]]:
    return {(r.operation, r.outcome) for r in outcome.results if r.check.endswith(CHECK)}


def test_a_404_about_another_resource_is_dismissed_when_a_get_finds_the_created_one(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.handler = Items(keeps_created=True)
    outcome = _pass(stub, monkeypatch)
    assert outcome.dismissed.get(CHECK, 0) >= 1, outcome
    assert ("PATCH /items/{item_id}", Outcome.PASS) in _outcomes(outcome), outcome.results
    assert all(result != Outcome.FAIL for _, result in _outcomes(outcome)), outcome.results
    assert ("GET", "/items/") in {(m, p[: len("/items/")]) for m, p in stub.requests if m == "GET"}


def test_a_created_resource_that_is_gone_still_fails(stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    stub.handler = Items(keeps_created=False)
    outcome = _pass(stub, monkeypatch)
    assert ("PATCH /items/{item_id}", Outcome.FAIL) in _outcomes(outcome) or (
        "GET /items/{item_id}",
        Outcome.FAIL,
    ) in _outcomes(outcome), outcome.results
    assert CHECK not in outcome.dismissed
