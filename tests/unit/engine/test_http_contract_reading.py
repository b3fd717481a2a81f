"""Reading a contract for the HTTP-level checks: operations, labels, collections, bodies, distinctive values."""

from __future__ import annotations

import re
from typing import Any

import pytest

from probity.engine.openapi_ops import (
    NIL_UUID,
    Operation,
    OperationIndex,
    distinctive_values,
    fill_path,
    item_ids,
    list_key,
    path_prefix,
    request_base,
    request_body,
    resource_path,
)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


ITEM = {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}
PAGE = {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}}}


def _contract(prefix: str = "") -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "security": [{"bearer": []}],
        "components": {"schemas": {"Item": ITEM, "Page": PAGE}},
        "paths": {
            f"{prefix}/health": {"get": {"security": [], "responses": {"200": _json({"type": "object"})}}},
            f"{prefix}/things": {
                "get": {
                    "x-roles": ["ADMIN", "USER"],
                    "responses": {"200": _json({"$ref": "#/components/schemas/Page"})},
                },
                "post": {"x-roles": ["ADMIN"], "responses": {"201": _json(ITEM)}},
            },
            f"{prefix}/things/{{thing_id}}": {
                "parameters": [{"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"x-roles": ["ADMIN", "USER"], "responses": {"200": _json(ITEM)}},
                "delete": {"x-roles": ["ADMIN"], "responses": {"204": {"description": "gone"}}},
            },
            f"{prefix}/things/{{thing_id}}/parts": {
                "get": {"responses": {"200": _json({"type": "array", "items": ITEM})}},
            },
            f"{prefix}/search": {
                "get": {
                    "parameters": [{"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": _json(PAGE)},
                }
            },
            f"{prefix}/open": {"get": {"x-roles": [], "responses": {"200": _json({"type": "object"})}}},
        },
    }


def test_operations_carry_labels_roles_and_shared_parameters() -> None:
    index = OperationIndex(_contract())
    labels = [op.label for op in index.all]
    assert labels[:4] == ["GET /health", "GET /things", "POST /things", "GET /things/{thing_id}"]
    delete = index.find("delete", "/things/{thing_id}")
    assert delete is not None
    assert delete.roles == ("ADMIN",) and delete.writes and delete.path_params == ("thing_id",)
    assert [p["name"] for p in delete.parameters] == ["thing_id"]  # from the path item
    assert delete.allows("ADMIN") and not delete.allows("USER")


@pytest.mark.parametrize(
    ("label", "public"), [("GET /health", True), ("GET /open", True), ("GET /things", False), ("GET /search", False)]
)
def test_public_means_no_security_or_no_roles(label: str, public: bool) -> None:
    op = OperationIndex(_contract()).labelled(label)
    assert op is not None and op.public is public


def test_policy_labels_name_operations_of_a_contract_spelled_from_the_origin() -> None:
    index = OperationIndex(_contract("/api/v1"))
    assert index.prefix == "/api/v1"
    delete = index.find("DELETE", "/api/v1/things/{thing_id}")
    assert delete is not None
    assert index.named(delete, ["DELETE /things/{thing_id}"])
    assert index.named(delete, ["DELETE  /api/v1/things/{thing_id}"])
    assert not index.named(delete, ["GET /things/{thing_id}", "DELETE /things"])
    assert index.labelled("POST /things") is index.find("POST", "/api/v1/things")


def test_no_prefix_when_paths_share_no_leading_segment() -> None:
    index = OperationIndex(_contract())
    assert index.prefix == ""
    assert index.labelled("GET /api/v1/things") is None


def test_lists_are_gets_answering_objects_with_ids_and_needing_no_query() -> None:
    index = OperationIndex(_contract())
    assert index.list_at("/things") is index.find("GET", "/things")
    assert index.list_at("/things/{thing_id}/parts") is not None  # a bare array
    assert index.list_at("/search") is None  # needs q
    assert index.list_at("/things/{thing_id}") is None  # one object
    assert index.list_at("/nowhere") is None


def test_the_read_by_id_of_a_collection() -> None:
    index = OperationIndex(_contract())
    things = index.find("GET", "/things")
    parts = index.find("GET", "/things/{thing_id}/parts")
    assert things is not None and parts is not None
    found = index.by_id(things)
    assert found is not None and found[0].label == "GET /things/{thing_id}" and found[1] == "thing_id"
    assert index.by_id(parts) is None


def test_list_key() -> None:
    contract = _contract()
    index = OperationIndex(contract)
    keys = {op.label: list_key(contract, op) for op in index.all if op.method == "GET"}
    assert keys == {
        "GET /health": None,
        "GET /things": "items",
        "GET /things/{thing_id}": None,
        "GET /things/{thing_id}/parts": "",
        "GET /search": "items",
        "GET /open": None,
    }


def test_item_ids_ignore_what_is_not_a_listed_object() -> None:
    assert item_ids([{"id": "a"}, {"id": None}, "x"], "") == ["a"]
    assert item_ids({"items": "nope"}, "items") == []
    assert item_ids(None, "items") == []


@pytest.mark.parametrize(
    ("contract", "root", "expected"),
    [
        ({"servers": [{"url": "/api/v1"}], "paths": {"/x": {}}}, "http://h:1", "http://h:1/api/v1"),
        ({"servers": [{"url": "/api/v1"}], "paths": {"/x": {}}}, "http://h:1/api/v1", "http://h:1/api/v1"),
        ({"servers": [{"url": "https://prod.example/api/v1"}], "paths": {"/x": {}}}, "http://h:1", "http://h:1/api/v1"),
        ({"servers": [{"url": "/api/v1"}], "paths": {"/api/v1/x": {}}}, "http://h:1", "http://h:1"),
        ({"paths": {"/api/v1/x": {}}}, "http://h:1/", "http://h:1"),
        ({"servers": [{"url": "/{version}"}], "paths": {"/x": {}}}, "http://h:1", "http://h:1"),
    ],
)
def test_request_base(contract: dict[str, Any], root: str, expected: str) -> None:
    assert request_base(contract, root) == expected


def test_paths_around_parameters() -> None:
    assert path_prefix("/a/{x}/b/{y}/c", "y") == "/a/{x}/b"
    assert resource_path("/a/{x}/b/{y}/close") == "/a/{x}/b/{y}"
    assert resource_path("/a/b") is None
    assert fill_path("/a/{x}/b/{missing}", {"x": "1 2"}) == "/a/1%202/b/{missing}"


PHONE = r"^\+?[0-9][0-9 ()-]{5,18}[0-9]$"
BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "kind", "when", "who", "count", "phone", "tags", "nested"],
    "properties": {
        "name": {"type": "string", "minLength": 20, "maxLength": 25},
        "kind": {"$ref": "#/components/schemas/Kind"},
        "when": {"type": "string", "format": "date-time"},
        "who": {"anyOf": [{"type": "null"}, {"type": "string", "format": "uuid"}]},
        "count": {"type": "integer", "minimum": 5.0, "maximum": 480},
        "phone": {"type": "string", "pattern": PHONE},
        "tags": {"type": "array", "minItems": 2, "items": {"type": "string", "maxLength": 3}},
        "nested": {"allOf": [{"type": "object", "required": ["flag"], "properties": {"flag": {"type": "boolean"}}}]},
        "optional_text": {"type": ["string", "null"], "maxLength": 50},
    },
}


def _body_contract(schema: dict[str, Any]) -> dict[str, Any]:
    return {"components": {"schemas": {"Kind": {"type": "string", "enum": ["LOW", "HIGH"]}, "Body": schema}}}


def _op(method: str, ref: str = "#/components/schemas/Body") -> Operation:
    spec = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}}
    return Operation(method, "/things/{thing_id}", spec)


def test_request_body_fills_required_fields_with_values_the_schema_accepts() -> None:
    body = request_body(_body_contract(BODY), _op("POST"), marker="probity-marker")
    assert set(body) == set(BODY["required"])  # nothing optional, no marker outside PATCH
    assert 20 <= len(body["name"]) <= 25
    assert body["kind"] == "LOW"
    assert body["when"] == "2030-01-15T10:00:00Z"
    assert body["who"] == NIL_UUID
    assert body["count"] == 5 and isinstance(body["count"], int)
    assert re.search(PHONE, body["phone"])
    assert len(body["tags"]) == 2 and all(len(tag) <= 3 for tag in body["tags"])
    assert body["nested"] == {"flag": False}


def test_a_patch_sets_one_optional_free_text_field_to_the_marker() -> None:
    schema = {
        "type": "object",
        "properties": {
            "status": {"anyOf": [{"$ref": "#/components/schemas/Kind"}, {"type": "null"}]},
            "starts": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "code": {"type": "string", "pattern": "^[0-9]+$"},
            "reason": {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]},
            "notes": {"type": "string"},
        },
    }
    assert request_body(_body_contract(schema), _op("PATCH"), marker="probity-1") == {"reason": "probity-1"}
    assert request_body(_body_contract(schema), _op("PATCH")) == {}


def test_a_patch_without_free_text_keeps_its_required_fields_only() -> None:
    schema = {"type": "object", "required": ["role"], "properties": {"role": {"$ref": "#/components/schemas/Kind"}}}
    assert request_body(_body_contract(schema), _op("PATCH"), marker="probity-1") == {"role": "LOW"}


def test_no_json_body_means_none() -> None:
    assert request_body({}, Operation("DELETE", "/x/{id}", {})) is None
    form = {"requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}}}
    assert request_body({}, Operation("POST", "/x", form)) is None


def test_distinctive_values_skip_what_could_match_by_chance() -> None:
    obj = {
        "id": "0b9c1d7e-aaaa-4bbb-8ccc-123456789abc",
        "status": "CHECKED_IN",
        "given_name": "Ann",
        "dob": "1941-05-17",
        "created_at": "2025-11-22T19:30:00Z",
        "count": 123456789,
        "restricted": False,
        "notes": "Allergic to penicillin",
        "children": [{"id": "child-000001"}, {"id": "0b9c1d7e-aaaa-4bbb-8ccc-123456789abc"}],
    }
    found = distinctive_values(obj, exclude=["child-000001"])
    assert found == {"0b9c1d7e-aaaa-4bbb-8ccc-123456789abc": "id", "Allergic to penicillin": "notes"}


def test_distinctive_values_of_nothing() -> None:
    assert distinctive_values(None) == {}
    assert distinctive_values("a long enough string") == {"a long enough string": ""}
