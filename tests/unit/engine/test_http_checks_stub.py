"""Cross-tenant and function-level checks end to end against a tiny two-tenant stub backend, correct or with one
planted flaw: each flaw fails under its own operation and nothing else fails."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from http_stub import StubServer

from probity.core.findings import Outcome, Result, Severity
from probity.core.principals import Principals
from probity.core.redact import Redactor
from probity.engine.auth import TokenBroker
from probity.engine.cross_tenant import cross_tenant_access
from probity.engine.function_level import function_level_authorization


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


NOTE = {"type": "object", "properties": {"id": {"type": "string"}, "text": {"type": "string"}}}
PAGE = {"type": "object", "properties": {"items": {"type": "array", "items": NOTE}}}
PATCH_BODY = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 100}}}
ID = [{"name": "note_id", "in": "path", "required": True, "schema": {"type": "string"}}]
CONTRACT: dict[str, Any] = {
    "openapi": "3.1.0",
    "servers": [{"url": "/api"}],
    "security": [{"bearer": []}],
    "paths": {
        "/login": {"post": {"security": [], "responses": {"200": _json({"type": "object"})}}},
        "/notes": {"get": {"x-roles": ["ADMIN", "USER"], "responses": {"200": _json(PAGE)}}},
        "/notes/{note_id}": {
            "parameters": ID,
            "get": {"x-roles": ["ADMIN", "USER"], "responses": {"200": _json(NOTE)}},
            "patch": {
                "x-roles": ["ADMIN", "USER"],
                "requestBody": {"content": {"application/json": {"schema": PATCH_BODY}}},
                "responses": {"200": _json(NOTE)},
            },
            "delete": {"x-roles": ["ADMIN"], "responses": {"204": {"description": "gone"}}},
        },
        "/notes/{note_id}/comments": {
            "parameters": ID,
            "get": {"x-roles": ["ADMIN", "USER"], "responses": {"200": _json({"type": "array", "items": NOTE})}},
        },
        "/tags": {"get": {"x-roles": ["ADMIN", "USER"], "responses": {"200": _json(PAGE)}}},
        "/tags/{tag_id}": {"get": {"x-roles": ["ADMIN", "USER"], "responses": {"200": _json(NOTE)}}},
    },
}
PRINCIPALS = Principals.model_validate(
    {
        "principals": [
            {
                "name": f"{tenant}_{role.lower()}",
                "tenant": tenant,
                "role": role,
                "token": {"login": {"operation": "POST /login", "body": {"who": f"{tenant}:{role}"}}},
            }
            for tenant in ("a", "b")
            for role in ("ADMIN", "USER")
        ]
    }
)
NOTES = {f"{t}-note-{n}": {"tenant": t, "text": f"private text of tenant {t}, {n}"} for t in "ab" for n in range(4)}
COMMENTS = {"a-note-3": ["a-comment-1"], "b-note-2": ["b-comment-1"]}  # only some notes have comments
TAGS = {"tag-shared-1": "a tag both tenants see"}


class Backend:
    """Notes belong to a tenant; tags are global. *flaw* plants one defect."""

    def __init__(self, flaw: str = "") -> None:
        self.flaw = flaw
        self.notes = copy.deepcopy(NOTES)

    def __call__(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if (method, path) == ("POST", "/api/login"):
            return 200, {"access_token": body["who"]}
        tenant, _, role = headers.get("authorization", "").removeprefix("Bearer ").partition(":")
        route = re.fullmatch(r"/api/(notes|tags)(?:/([^/?]+))?(/comments)?(?:\?.*)?", path)
        if not tenant or route is None:
            return (401, None) if not tenant else (404, None)
        kind, item, comments = route.groups()
        if kind == "tags" and item:
            return 200, {"id": item, "text": TAGS.get(item, "")}
        if kind == "tags":
            return 200, {"items": [{"id": k, "text": v} for k, v in TAGS.items()]}
        return self._notes(method, tenant, role, item, bool(comments), body)

    def _flawed(self, method: str, comments: bool) -> bool:
        """Whether the planted flaw lets another tenant through here."""
        return (self.flaw, method, comments) in {("read", "GET", False), ("write", "PATCH", False)}

    def _notes(
        self, method: str, tenant: str, role: str, item: str | None, comments: bool, body: Any
    ) -> tuple[int, Any]:
        if item is None:
            leak = self.flaw == "list"
            rows = [{"id": k, "text": v["text"]} for k, v in self.notes.items() if v["tenant"] == tenant or leak]
            return 200, {"items": rows}
        if method == "DELETE" and role != "ADMIN" and self.flaw != "role":
            return 403, {"code": "insufficient_role"}
        note = self.notes.get(item)
        if note is None or not (note["tenant"] == tenant or self._flawed(method, comments)):
            return 404, {"code": "not_found", "message": f"no note {item}"}
        if comments:
            return 200, [{"id": c, "text": "a comment"} for c in COMMENTS.get(item, [])]
        if method == "PATCH":
            note.update(body or {})
        return (204, None) if method == "DELETE" else (200, {"id": item, "text": note["text"]})


def _check(stub: StubServer, flaw: str, check: Any) -> list[Result]:
    stub.handler = Backend(flaw)
    broker = TokenBroker(stub.origin + "/api", PRINCIPALS)
    return list(check(CONTRACT, stub.origin, PRINCIPALS, broker, Redactor(), write_allowed=True, never_send=()))


def _failed(results: list[Result]) -> set[tuple[str, str]]:
    return {(r.rule, r.operation) for r in results if r.failed}


def test_a_correct_backend_passes_and_shared_objects_are_not_leaks(stub: StubServer) -> None:
    results = _check(stub, "", cross_tenant_access)
    assert _failed(results) == set()
    passed = {(r.rule.split(".")[-1], r.operation) for r in results if r.outcome is Outcome.PASS}
    assert passed >= {
        ("read", "GET /notes/{note_id}"),
        ("write", "PATCH /notes/{note_id}"),
        ("write", "DELETE /notes/{note_id}"),
        ("list", "GET /notes"),
        ("list", "GET /tags"),  # both tenants list the same tag, and both may read it: shared, not leaked
        ("read", "GET /notes/{note_id}/comments"),
        ("list", "GET /notes/{note_id}/comments"),  # found by scanning parents for one with comments
    }
    tag_read = [r for r in results if r.operation == "GET /tags/{tag_id}"]
    assert {r.outcome for r in tag_read} == {Outcome.INCONCLUSIVE}  # no object only one tenant owns


@pytest.mark.parametrize(
    ("flaw", "rule", "operation", "severity"),
    [
        ("read", "cross_tenant_access.read", "GET /notes/{note_id}", Severity.CRITICAL),
        ("write", "cross_tenant_access.write", "PATCH /notes/{note_id}", Severity.CRITICAL),
        ("list", "cross_tenant_access.list", "GET /notes", Severity.CRITICAL),
    ],
)
def test_each_flaw_fails_under_its_operation(
    stub: StubServer, flaw: str, rule: str, operation: str, severity: Severity
) -> None:
    results = _check(stub, flaw, cross_tenant_access)
    failed = [r for r in results if r.failed]
    assert {(r.rule, r.operation) for r in failed} == {(rule, operation)}
    assert {r.severity for r in failed} == {severity}
    assert {r.evidence.get("owner") for r in failed} == {"a_admin", "b_admin"}  # both directions


def test_a_leaked_read_names_the_fields_that_came_back(stub: StubServer) -> None:
    failed = [r for r in _check(stub, "read", cross_tenant_access) if r.failed]
    assert failed and all(r.evidence["leaked_fields"] == ["text"] for r in failed)  # the id was in the request


def test_a_landed_write_is_seen_by_reading_back_as_the_owner(stub: StubServer) -> None:
    results = _check(stub, "write", cross_tenant_access)
    landed = next(r for r in results if r.failed)
    assert landed.message == "another tenant's write landed on the object"
    assert landed.evidence["changed"] is True and landed.evidence["read_back_with"] == "GET /notes/{note_id}"
    assert str(landed.evidence["sent"]["text"]).startswith("probity-")  # the marker the owner then read back


def test_a_read_only_run_sends_no_write(stub: StubServer) -> None:
    stub.handler = Backend("write")
    broker = TokenBroker(stub.origin + "/api", PRINCIPALS)
    results = cross_tenant_access(
        CONTRACT, stub.origin, PRINCIPALS, broker, Redactor(), write_allowed=False, never_send=()
    )
    writes = [r for r in results if r.rule == "cross_tenant_access.write"]
    assert writes and {(r.outcome, r.message) for r in writes} == {
        (Outcome.INCONCLUSIVE, "read-only run: writes are not sent to this host")
    }
    assert not any(method in ("PATCH", "DELETE") for method, _ in stub.requests)


def test_never_send_is_honoured_by_relative_label(stub: StubServer) -> None:
    stub.handler = Backend("write")
    broker = TokenBroker(stub.origin + "/api", PRINCIPALS)
    never = ("PATCH /notes/{note_id}",)
    results = cross_tenant_access(
        CONTRACT, stub.origin, PRINCIPALS, broker, Redactor(), write_allowed=True, never_send=never
    )
    assert _failed(results) == set()
    assert not any(method == "PATCH" for method, _ in stub.requests)


def test_function_level_passes_when_roles_are_refused(stub: StubServer) -> None:
    results = _check(stub, "", function_level_authorization)
    delete = [r for r in results if r.operation == "DELETE /notes/{note_id}"]
    assert [(r.outcome, r.message) for r in delete] == [(Outcome.PASS, "role USER was refused")]
    assert delete[0].evidence["observations"][0]["random_ids"] is False  # a note the caller's tenant owns
    assert _failed(results) == set()
    assert {r.outcome for r in results if r.operation == "POST /login"} == {Outcome.NOT_APPLICABLE}


def test_function_level_fails_when_a_refused_role_is_served(stub: StubServer) -> None:
    results = _check(stub, "role", function_level_authorization)
    failed = [r for r in results if r.failed]
    assert [(r.operation, r.severity) for r in failed] == [("DELETE /notes/{note_id}", Severity.CRITICAL)]
    assert failed[0].evidence["principal"] == "a_user"


def test_never_send_also_keeps_reads_and_harvesting_lists_unsent(stub: StubServer) -> None:
    stub.handler = Backend("read")
    broker = TokenBroker(stub.origin + "/api", PRINCIPALS)
    never = ("GET /notes",)
    results = cross_tenant_access(
        CONTRACT, stub.origin, PRINCIPALS, broker, Redactor(), write_allowed=True, never_send=never
    )
    assert not any(path.startswith("/api/notes?") or path == "/api/notes" for _, path in stub.requests)
    assert _failed(results) == set()  # nothing to find the notes by
    listing = [r for r in results if r.operation == "GET /notes"]
    assert {(r.outcome, r.message) for r in listing} == {
        (Outcome.INCONCLUSIVE, "not sent: the policy excludes this operation")
    }
