"""``probity contract diff`` without a network: pairs of small OpenAPI documents, each kind of difference,
the cosmetic differences that must never be reported, the probe heuristic, the contract file's errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from probity.cli import main
from probity.contracts.diff import diff_documents
from probity.contracts.diff_render import render_json, render_markdown, render_table
from probity.contracts.differences import (
    Difference,
    DiffReport,
    Direction,
    Implemented,
    Kind,
    Severity,
    severity_of,
)
from probity.contracts.live import parse_headers, read_contract
from probity.contracts.normalize import shape
from probity.contracts.probe import Answer, answer_signature, dummy_value, judge
from probity.core.errors import ConfigError

Doc = dict[str, Any]
OP = "GET /things/{thing_id}"


def _doc(paths: Doc, schemas: Doc | None = None, servers: str | None = None) -> Doc:
    document: Doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths}
    if schemas:
        document["components"] = {"schemas": schemas}
    if servers is not None:
        document["servers"] = [{"url": servers}]
    return document


def _json(schema: Any) -> Doc:
    return {"content": {"application/json": {"schema": schema}}}


def _get(response_schema: Any = None, *, parameters: list[Doc] | None = None, status: str = "200") -> Doc:
    response = {"description": "ok", **(_json(response_schema) if response_schema is not None else {})}
    operation: Doc = {"responses": {status: response}}
    if parameters is not None:
        operation["parameters"] = parameters
    return operation


def _post(body_schema: Any, *, required: bool = True) -> Doc:
    return {"requestBody": {"required": required, **_json(body_schema)}, "responses": {"201": {"description": "made"}}}


def _path_param(name: str = "thing_id") -> Doc:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def _response_pair(contract_schema: Any, live_schema: Any, **schemas: Doc) -> tuple[Doc, Doc]:
    param = [_path_param()]
    contract = _doc({"/things/{thing_id}": {"get": _get(contract_schema, parameters=param)}}, schemas.get("contract"))
    live = _doc({"/things/{thing_id}": {"get": _get(live_schema, parameters=param)}}, schemas.get("live"))
    return contract, live


def _request_pair(contract_schema: Any, live_schema: Any) -> tuple[Doc, Doc]:
    return _doc({"/things": {"post": _post(contract_schema)}}), _doc({"/things": {"post": _post(live_schema)}})


def _found(contract: Doc, live: Doc) -> list[tuple[Kind, str, Severity]]:
    return [(item.kind, item.location, item.severity) for item in diff_documents(contract, live).differences]


def _obj(properties: Doc, required: list[str] | None = None, **more: Any) -> Doc:
    schema: Doc = {"type": "object", "properties": properties, **more}
    if required:
        schema["required"] = required
    return schema


BODY = "responses.200.application/json"
REQUEST = "requestBody.application/json"


# Operations -------------------------------------------------------------------------------------------------


def test_identical_documents_have_no_differences() -> None:
    contract, live = _response_pair(_obj({"id": {"type": "string"}}), _obj({"id": {"type": "string"}}))
    report = diff_documents(contract, live)
    assert report.differences == () and report.exit_code == 0
    assert [(result.operation, result.implemented) for result in report.operations] == [(OP, Implemented.YES)]


def test_a_documented_operation_missing_is_an_error_and_an_undocumented_one_a_warning() -> None:
    contract = _doc({"/a": {"get": _get()}, "/b": {"delete": _get()}})
    live = _doc({"/a": {"get": _get()}, "/c": {"put": _get()}})
    report = diff_documents(contract, live)
    rows = [(result.operation, result.documented, result.implemented) for result in report.operations]
    assert rows == [
        ("GET /a", True, Implemented.YES),
        ("DELETE /b", True, Implemented.NO),
        ("PUT /c", False, Implemented.YES),
    ]
    assert _found(contract, live) == [
        (Kind.OPERATION_MISSING, "", Severity.ERROR),
        (Kind.OPERATION_UNDOCUMENTED, "", Severity.WARNING),
    ]
    assert report.exit_code == 1


def test_the_same_path_with_another_method_is_another_operation() -> None:
    contract, live = _doc({"/a": {"get": _get()}}), _doc({"/a": {"post": _get()}})
    kinds = [kind for kind, _, _ in _found(contract, live)]
    assert kinds == [Kind.OPERATION_MISSING, Kind.OPERATION_UNDOCUMENTED]


def test_path_parameter_names_are_normalised_and_the_rename_is_a_note() -> None:
    contract = _doc({"/p/{patient_id}": {"get": _get(parameters=[_path_param("patient_id")])}})
    live = _doc({"/p/{id}": {"get": _get(parameters=[_path_param("id")])}})
    report = diff_documents(contract, live)
    assert _found(contract, live) == [(Kind.PATH_PARAMETER_RENAMED, "path", Severity.INFO)]
    assert report.operations[0].operation == "GET /p/{patient_id}" and report.exit_code == 0


def test_a_renamed_path_parameter_is_still_compared_by_its_schema() -> None:
    contract = _doc({"/p/{patient_id}": {"get": _get(parameters=[_path_param("patient_id")])}})
    live_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    live = _doc({"/p/{id}": {"get": _get(parameters=[live_param])}})
    assert (Kind.TYPE, "parameters.path.patient_id", Severity.ERROR) in _found(contract, live)


def test_the_contract_server_path_lines_up_with_full_live_paths() -> None:
    contract = _doc({"/patients": {"get": _get()}}, servers="/api/v1")
    live = _doc({"/api/v1/patients": {"get": _get()}})
    report = diff_documents(contract, live)
    assert report.differences == ()
    assert report.operations[0].operation == "GET /api/v1/patients"


def test_an_absolute_server_url_counts_by_its_path() -> None:
    contract = _doc({"/patients": {"get": _get()}}, servers="https://clinic.example/api/v1/")
    live = _doc({"/patients": {"get": _get()}}, servers="/api/v1")
    assert diff_documents(contract, live).differences == ()


def test_base_paths_that_do_not_line_up_are_compared_below_them_with_a_note() -> None:
    contract = _doc({"/patients": {"get": _get()}}, servers="/api/v1")
    live = _doc({"/patients": {"get": _get()}})  # served behind a proxy at /api/v1, its document does not say so
    report = diff_documents(contract, live)
    assert [(item.kind, item.severity) for item in report.differences] == [(Kind.BASE_PATH, Severity.INFO)]
    assert report.operations[0].implemented is Implemented.YES


def test_security_differences_count_only_when_the_live_document_describes_security() -> None:
    bearer = {"components": {"securitySchemes": {"b": {"type": "http", "scheme": "bearer"}}}}
    contract = {**_doc({"/a": {"get": {**_get(), "security": [{"b": []}]}}}), **bearer}
    silent = _doc({"/a": {"get": _get()}})
    public = {**_doc({"/a": {"get": {**_get(), "security": []}}}), **bearer}
    assert _found(contract, silent) == []
    assert _found(contract, public) == [(Kind.SECURITY, "security", Severity.ERROR)]
    assert _found(public, contract) == [(Kind.SECURITY, "security", Severity.WARNING)]


# Parameters -------------------------------------------------------------------------------------------------


def _query(name: str, schema: Doc | None = None, *, required: bool = False) -> Doc:
    return {"name": name, "in": "query", "required": required, "schema": schema or {"type": "string"}}


def _param_pair(contract_params: list[Doc], live_params: list[Doc]) -> tuple[Doc, Doc]:
    return _doc({"/a": {"get": _get(parameters=contract_params)}}), _doc({"/a": {"get": _get(parameters=live_params)}})


@pytest.mark.parametrize(
    ("contract_params", "live_params", "expected"),
    [
        ([_query("q")], [], (Kind.PARAMETER_MISSING, "parameters.query.q", Severity.ERROR)),
        ([], [_query("q")], (Kind.PARAMETER_UNDOCUMENTED, "parameters.query.q", Severity.WARNING)),
        ([], [_query("q", required=True)], (Kind.PARAMETER_UNDOCUMENTED, "parameters.query.q", Severity.ERROR)),
        ([_query("q")], [_query("q", required=True)], (Kind.PARAMETER_REQUIRED, "parameters.query.q", Severity.ERROR)),
        (
            [_query("q", required=True)],
            [_query("q")],
            (Kind.PARAMETER_REQUIRED, "parameters.query.q", Severity.WARNING),
        ),
        (
            [_query("limit", {"type": "integer", "maximum": 100})],
            [_query("limit", {"type": "integer", "maximum": 50})],
            (Kind.CONSTRAINT, "parameters.query.limit", Severity.ERROR),
        ),
        (
            [_query("limit", {"type": "integer", "maximum": 100})],
            [_query("limit", {"type": "integer"})],
            (Kind.CONSTRAINT, "parameters.query.limit", Severity.WARNING),
        ),
        (
            [_query("limit", {"type": "integer", "default": 20})],
            [_query("limit", {"type": "integer", "default": 50})],
            (Kind.DEFAULT, "parameters.query.limit", Severity.INFO),
        ),
    ],
    ids=[
        "missing",
        "undocumented-optional",
        "undocumented-required",
        "now-required",
        "now-optional",
        "tighter-bound",
        "bound-dropped",
        "default",
    ],
)
def test_parameter_differences(
    contract_params: list[Doc], live_params: list[Doc], expected: tuple[Kind, str, Severity]
) -> None:
    assert _found(*_param_pair(contract_params, live_params)) == [expected]


def test_parameters_of_the_path_item_count_and_header_names_ignore_case() -> None:
    header = {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}}
    contract = _doc({"/a": {"parameters": [header], "get": _get()}})
    live = _doc({"/a": {"get": _get(parameters=[{**header, "name": "x-request-id"}])}})
    assert _found(contract, live) == []


def test_optional_query_parameters_written_as_nullable_are_the_same() -> None:
    nullable = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert _found(*_param_pair([_query("q")], [_query("q", nullable)])) == []


def test_authorization_accept_and_content_type_headers_are_ignored() -> None:
    header = {"name": "Authorization", "in": "header", "required": True, "schema": {"type": "string"}}
    assert _found(*_param_pair([], [header])) == []


# Request bodies ---------------------------------------------------------------------------------------------


def test_request_body_presence_and_required() -> None:
    with_body = _doc({"/a": {"post": _post({"type": "object"})}})
    without = _doc({"/a": {"post": {"responses": {"201": {"description": "made"}}}}})
    optional = _doc({"/a": {"post": _post({"type": "object"}, required=False)}})
    assert _found(with_body, without) == [(Kind.REQUEST_BODY_MISSING, "requestBody", Severity.ERROR)]
    assert _found(without, with_body) == [(Kind.REQUEST_BODY_UNDOCUMENTED, "requestBody", Severity.ERROR)]
    assert _found(with_body, optional) == [(Kind.REQUEST_BODY_REQUIRED, "requestBody", Severity.WARNING)]
    assert _found(optional, with_body) == [(Kind.REQUEST_BODY_REQUIRED, "requestBody", Severity.ERROR)]


def test_request_media_types() -> None:
    contract = _doc({"/a": {"post": _post({"type": "object"})}})
    form = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {"type": "object"}}}}}
    live = _doc({"/a": {"post": {**form, "responses": {"201": {"description": "made"}}}}})
    assert _found(contract, live) == [
        (Kind.MEDIA_TYPE_MISSING, REQUEST, Severity.ERROR),
        (Kind.MEDIA_TYPE_UNDOCUMENTED, "requestBody.multipart/form-data", Severity.WARNING),
    ]


@pytest.mark.parametrize(
    ("contract_schema", "live_schema", "expected"),
    [
        (
            _obj({"name": {"type": "string"}, "note": {"type": "string"}}, additionalProperties=False),
            _obj({"name": {"type": "string"}}, additionalProperties=False),
            (Kind.PROPERTY_MISSING, f"{REQUEST}.note", Severity.ERROR),  # the backend refuses a documented field
        ),
        (
            _obj({"name": {"type": "string"}, "note": {"type": "string"}}),
            _obj({"name": {"type": "string"}}),
            (Kind.PROPERTY_MISSING, f"{REQUEST}.note", Severity.WARNING),  # ... or may ignore it
        ),
        (
            _obj({"name": {"type": "string"}}),
            _obj({"name": {"type": "string"}, "ssn": {"type": "string"}}, ["ssn"]),
            (Kind.PROPERTY_UNDOCUMENTED, f"{REQUEST}.ssn", Severity.ERROR),
        ),
        (
            _obj({"name": {"type": "string"}}),
            _obj({"name": {"type": "string"}}, ["name"]),
            (Kind.REQUIRED, f"{REQUEST}.name", Severity.ERROR),
        ),
        (
            _obj({"name": {"type": "string"}}, additionalProperties=False),
            _obj({"name": {"type": "string"}}),
            (Kind.ADDITIONAL_PROPERTIES, REQUEST, Severity.WARNING),
        ),
        (
            _obj({"name": {"type": "string"}}),
            _obj({"name": {"type": "string"}}, additionalProperties=False),
            (Kind.ADDITIONAL_PROPERTIES, REQUEST, Severity.ERROR),
        ),
        (
            _obj({"tags": {"type": "object"}}),
            _obj({"tags": {"type": "object", "additionalProperties": False, "patternProperties": {"^[a-z]+$": {}}}}),
            (Kind.ADDITIONAL_PROPERTIES, f"{REQUEST}.tags", Severity.ERROR),
        ),
        (
            _obj({"status": {"type": "string", "enum": ["open", "done"]}}),
            _obj({"status": {"type": "string", "enum": ["open"]}}),
            (Kind.ENUM, f"{REQUEST}.status", Severity.ERROR),
        ),
        (
            _obj({"n": {"type": "integer"}}),
            _obj({"n": {"type": "number"}}),
            (Kind.TYPE, f"{REQUEST}.n", Severity.WARNING),  # the backend accepts more
        ),
        (
            _obj({"n": {"type": ["integer", "null"]}}),
            _obj({"n": {"type": "integer"}}),
            (Kind.NULLABLE, f"{REQUEST}.n", Severity.ERROR),  # the backend refuses a documented null
        ),
    ],
    ids=[
        "closed-live-refuses-field",
        "open-live-ignores-field",
        "live-requires-undocumented",
        "live-requires-optional",
        "live-opens-object",
        "live-closes-object",
        "live-restricts-keys",
        "enum-dropped",
        "number-for-integer",
        "null-refused",
    ],
)
def test_request_schema_differences(
    contract_schema: Doc, live_schema: Doc, expected: tuple[Kind, str, Severity]
) -> None:
    assert _found(*_request_pair(contract_schema, live_schema)) == [expected]


# Responses --------------------------------------------------------------------------------------------------


def test_status_codes_missing_and_undocumented() -> None:
    contract = _doc({"/a": {"post": {"responses": {"201": {"description": "made"}, "409": {"description": "x"}}}}})
    live = _doc({"/a": {"post": {"responses": {"200": {"description": "OK"}, "422": {"description": "bad"}}}}})
    assert _found(contract, live) == [
        (Kind.STATUS_MISSING, "responses.201", Severity.ERROR),
        (Kind.STATUS_MISSING, "responses.409", Severity.WARNING),
        (Kind.STATUS_UNDOCUMENTED, "responses.200", Severity.WARNING),
        (Kind.STATUS_UNDOCUMENTED, "responses.422", Severity.WARNING),
    ]


def test_a_documented_response_body_missing_is_an_error_for_success() -> None:
    contract = _doc({"/a": {"get": _get({"type": "object"})}})
    live = _doc({"/a": {"get": _get()}})
    assert _found(contract, live) == [(Kind.MEDIA_TYPE_MISSING, BODY, Severity.ERROR)]


@pytest.mark.parametrize(
    ("contract_schema", "live_schema", "expected"),
    [
        ({"type": "string"}, {"type": "integer"}, (Kind.TYPE, BODY, Severity.ERROR)),
        ({"type": "integer"}, {"type": "number"}, (Kind.TYPE, BODY, Severity.ERROR)),  # may answer 1.5
        ({"type": "number"}, {"type": "integer"}, (Kind.TYPE, BODY, Severity.WARNING)),
        ({"type": "string"}, {"type": ["string", "null"]}, (Kind.NULLABLE, BODY, Severity.ERROR)),
        ({"type": ["string", "null"]}, {"type": "string"}, (Kind.NULLABLE, BODY, Severity.INFO)),
        (
            {"type": "string", "format": "date"},
            {"type": "string", "format": "date-time"},
            (Kind.FORMAT, BODY, Severity.ERROR),
        ),
        ({"type": "string", "format": "uuid"}, {"type": "string"}, (Kind.FORMAT, BODY, Severity.WARNING)),
        ({"type": "integer", "format": "int64"}, {"type": "integer"}, (Kind.FORMAT, BODY, Severity.INFO)),
        ({"type": "string", "enum": ["a"]}, {"type": "string", "enum": ["a", "b"]}, (Kind.ENUM, BODY, Severity.ERROR)),
        (
            {"type": "string", "enum": ["a", "b"]},
            {"type": "string", "enum": ["a"]},
            (Kind.ENUM, BODY, Severity.WARNING),
        ),
        ({"type": "string", "enum": ["a"]}, {"type": "string"}, (Kind.ENUM, BODY, Severity.ERROR)),
        (
            {"type": "string", "maxLength": 10},
            {"type": "string", "maxLength": 20},
            (Kind.CONSTRAINT, BODY, Severity.WARNING),
        ),
        (
            {"type": "string", "pattern": "^a"},
            {"type": "string", "pattern": "^b"},
            (Kind.CONSTRAINT, BODY, Severity.WARNING),
        ),
        (
            {"type": "array", "items": {"type": "string"}},
            {"type": "array", "items": {"type": "integer"}},
            (Kind.TYPE, f"{BODY}[]", Severity.ERROR),
        ),
        ({"type": "object"}, {}, (Kind.TYPE, BODY, Severity.WARNING)),
        (
            {"oneOf": [{"type": "object", "properties": {"a": {"type": "string"}}}, {"type": "array"}]},
            {"type": "object"},
            (Kind.COMPOSITION, BODY, Severity.WARNING),
        ),
    ],
    ids=[
        "type-changed",
        "integer-to-number",
        "number-to-integer",
        "becomes-nullable",
        "no-longer-nullable",
        "format-changed",
        "format-dropped",
        "integer-width-vs-bounds",
        "enum-added",
        "enum-dropped",
        "enum-dropped-entirely",
        "longer-strings",
        "pattern-changed",
        "items-type",
        "no-live-schema",
        "composition",
    ],
)
def test_response_schema_differences(
    contract_schema: Doc, live_schema: Doc, expected: tuple[Kind, str, Severity]
) -> None:
    assert _found(*_response_pair(contract_schema, live_schema)) == [expected]


@pytest.mark.parametrize(
    ("contract_schema", "live_schema", "expected"),
    [
        (
            _obj({"id": {}, "name": {}}, ["id", "name"]),
            _obj({"id": {}}, ["id"]),
            (Kind.PROPERTY_MISSING, f"{BODY}.name", Severity.ERROR),
        ),
        (_obj({"id": {}, "nick": {}}), _obj({"id": {}}), (Kind.PROPERTY_MISSING, f"{BODY}.nick", Severity.WARNING)),
        (_obj({"id": {}}), _obj({"id": {}, "ssn": {}}), (Kind.PROPERTY_UNDOCUMENTED, f"{BODY}.ssn", Severity.WARNING)),
        (
            _obj({"id": {}}, additionalProperties=False),
            _obj({"id": {}, "ssn": {}}, additionalProperties=False),
            (Kind.PROPERTY_UNDOCUMENTED, f"{BODY}.ssn", Severity.ERROR),
        ),
        (_obj({"id": {}}, ["id"]), _obj({"id": {}}), (Kind.REQUIRED, f"{BODY}.id", Severity.ERROR)),
        (_obj({"id": {}}), _obj({"id": {}}, ["id"]), (Kind.REQUIRED, f"{BODY}.id", Severity.INFO)),
        (
            _obj({"id": {}}),
            _obj({"id": {}}, additionalProperties=False),
            (Kind.ADDITIONAL_PROPERTIES, BODY, Severity.INFO),
        ),
        (
            _obj({"id": {}}, additionalProperties=False),
            _obj({"id": {}}),
            (Kind.ADDITIONAL_PROPERTIES, BODY, Severity.WARNING),
        ),
        (
            _obj({"id": {}, "name": {}}, ["id"]),
            {"type": "object"},
            (Kind.PROPERTY_MISSING, BODY, Severity.WARNING),  # a free-form live object: one difference, not one each
        ),
    ],
    ids=[
        "required-property-missing",
        "optional-property-missing",
        "extra-property-open",
        "extra-property-closed",
        "no-longer-required",
        "newly-required",
        "live-closed",
        "live-open",
        "live-free-form",
    ],
)
def test_response_object_differences(
    contract_schema: Doc, live_schema: Doc, expected: tuple[Kind, str, Severity]
) -> None:
    assert _found(*_response_pair(contract_schema, live_schema)) == [expected]


def test_integer_width_against_bounds_is_only_noted() -> None:
    contract, live = _response_pair({"type": "integer", "format": "int32"}, {"type": "integer", "maximum": 100})
    assert _found(contract, live) == [(Kind.FORMAT, BODY, Severity.INFO), (Kind.CONSTRAINT, BODY, Severity.INFO)]
    assert diff_documents(contract, live).exit_code == 0


def test_a_named_schema_shared_by_operations_is_reported_once_under_its_name() -> None:
    error = {"$ref": "#/components/schemas/Error"}
    paths = {
        "/a": {
            "get": {
                "responses": {"401": {"description": "no", **_json(error)}, "404": {"description": "x", **_json(error)}}
            }
        },
        "/b": {"get": {"responses": {"401": {"description": "no", **_json(error)}}}},
    }
    contract = _doc(paths, {"Error": _obj({"code": {"type": "string"}})})
    live = _doc(copy.deepcopy(paths), {"Error": _obj({"code": {"type": "string"}, "trace": {"type": "string"}})})
    report = diff_documents(contract, live)
    assert all(not result.differences for result in report.operations)
    assert [(item.operation, item.kind, item.location) for item in report.shared] == [
        ("schema Error", Kind.PROPERTY_UNDOCUMENTED, "trace")
    ]
    assert set(report.shared_groups()) == {"schema Error"}


def test_nullability_of_a_named_schema_belongs_to_where_it_is_used() -> None:
    person = {"Person": _obj({"name": {"type": "string"}})}
    ref = {"$ref": "#/components/schemas/Person"}
    contract, live = _response_pair(
        _obj({"owner": ref}), _obj({"owner": {"anyOf": [ref, {"type": "null"}]}}), contract=person, live=person
    )
    assert _found(contract, live) == [(Kind.NULLABLE, f"{BODY}.owner", Severity.ERROR)]


def test_recursive_schemas_are_compared_without_end() -> None:
    node = {
        "Node": _obj(
            {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}
        )
    }
    live_node = copy.deepcopy(node)
    live_node["Node"]["properties"]["name"] = {"type": "integer"}
    ref = {"$ref": "#/components/schemas/Node"}
    contract, live = _response_pair(ref, ref, contract=node, live=live_node)
    report = diff_documents(contract, live)
    assert [(item.operation, item.kind, item.location) for item in report.shared] == [
        ("schema Node", Kind.TYPE, "name")
    ]
    inline = diff_documents(
        *_response_pair({"$ref": "#/components/schemas/Node"}, _obj({"name": {"type": "string"}}), contract=node)
    )
    assert inline.exit_code == 0  # inline on one side: compared in place, finitely


# Equivalences that must not be reported ---------------------------------------------------------------------

EQUIVALENT = [
    ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": ["string", "null"]}),
    ({"oneOf": [{"type": "null"}, {"type": "integer", "minimum": 1}]}, {"type": ["integer", "null"], "minimum": 1}),
    ({"type": "string", "nullable": True}, {"type": ["string", "null"]}),
    ({"type": "string", "title": "Name", "description": "x", "example": "Ada", "examples": ["A"]}, {"type": "string"}),
    ({"type": "string", "readOnly": True, "deprecated": False, "x-phi": True}, {"type": "string"}),
    (
        {"type": ["string", "null"], "enum": ["a", "b", None]},
        {"anyOf": [{"type": "string", "enum": ["b", "a"]}, {"type": "null"}]},
    ),
    ({"const": "x"}, {"type": "string", "enum": ["x"]}),
    ({"allOf": [{"$ref": "#/components/schemas/Id"}], "description": "The id"}, {"type": "string", "format": "uuid"}),
    ({"$ref": "#/components/schemas/Id"}, {"type": "string", "format": "uuid", "title": "Id"}),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, {"type": ["integer", "string"]}),
    ({"type": "number", "minimum": 0, "exclusiveMinimum": True}, {"type": "number", "exclusiveMinimum": 0}),
    (
        _obj({"a": {"type": "string"}, "b": {"type": "string"}}, ["a", "b"]),
        _obj({"b": {"type": "string"}, "a": {"type": "string"}}, ["b", "a"]),
    ),
    (
        {"allOf": [_obj({"a": {"type": "string"}}, ["a"]), _obj({"b": {"type": "integer"}}, ["b"])]},
        _obj({"a": {"type": "string"}, "b": {"type": "integer"}}, ["a", "b"]),
    ),
    ({"type": "object", "additionalProperties": True}, {"type": "object", "additionalProperties": {}}),
    (
        {"type": "array", "items": {"type": "string"}, "description": "x"},
        {"type": "array", "items": {"type": "string", "title": "S"}},
    ),
]


@pytest.mark.parametrize(
    ("contract_schema", "live_schema"), EQUIVALENT, ids=[str(index) for index in range(len(EQUIVALENT))]
)
def test_cosmetic_differences_are_not_reported(contract_schema: Doc, live_schema: Doc) -> None:
    ids = {"Id": {"type": "string", "format": "uuid"}}
    contract, live = _response_pair(contract_schema, live_schema, contract=ids, live=ids)
    assert diff_documents(contract, live).differences == ()
    assert diff_documents(live, contract).differences == ()


def test_media_type_parameters_and_integer_status_keys_are_not_reported() -> None:
    contract = _doc({"/a": {"get": {"responses": {"200": {"description": "ok", **_json({"type": "string"})}}}}})
    live_content = {"content": {"application/json; charset=utf-8": {"schema": {"type": "string"}}}}
    live = _doc({"/a": {"get": {"responses": {200: {"description": "OK", **live_content}}}}})
    assert diff_documents(contract, live).differences == ()


def test_references_to_responses_parameters_and_bodies_are_followed() -> None:
    contract = _doc({"/a/{id}": {"post": {**_post({"type": "object"}), "parameters": [_path_param("id")]}}})
    live = _doc(
        {
            "/a/{id}": {
                "post": {
                    "parameters": [{"$ref": "#/components/parameters/Id"}],
                    "requestBody": {"$ref": "#/components/requestBodies/Thing"},
                    "responses": {"201": {"$ref": "#/components/responses/Made"}},
                }
            }
        }
    )
    live["components"] = {
        "parameters": {"Id": _path_param("id")},
        "requestBodies": {"Thing": {"required": True, **_json({"type": "object"})}},
        "responses": {"Made": {"description": "made"}},
    }
    assert diff_documents(contract, live).differences == ()


def test_shape_reads_3_0_and_3_1_nullability_alike() -> None:
    assert shape({"type": "string", "nullable": True}, {}) == shape({"type": ["null", "string"]}, {})


# Severities, report, rendering -------------------------------------------------------------------------------


def test_severity_depends_on_direction_and_side() -> None:
    assert severity_of(Kind.ENUM, Direction.WIDER, request=False) is Severity.ERROR
    assert severity_of(Kind.ENUM, Direction.WIDER, request=True) is Severity.WARNING
    assert severity_of(Kind.ENUM, Direction.NARROWER, request=True) is Severity.ERROR
    assert severity_of(Kind.DEFAULT, Direction.CHANGED, request=True) is Severity.INFO


def _sample_report() -> DiffReport:
    contract = _doc({"/a": {"get": _get({"type": "string"})}, "/b": {"post": _get()}})
    live = _doc({"/a": {"get": _get({"type": "integer"})}, "/c|d": {"get": _get()}})
    return diff_documents(contract, live, contract_name="api.yaml", live_name="http://x/openapi.json")


def test_json_output_has_every_difference_with_both_sides() -> None:
    data = json.loads(render_json(_sample_report()))
    assert data["exit_code"] == 1 and data["counts"] == {"error": 2, "warning": 1, "info": 0}
    first = data["operations"][0]["differences"][0]
    assert first == {
        "operation": "GET /a",
        "kind": "type",
        "location": BODY,
        "severity": "error",
        "contract": ["string"],
        "live": ["integer"],
        "message": "type differs: contract ['string'], live ['integer']",
    }


def test_markdown_output_escapes_nothing_it_should_not_and_lists_details() -> None:
    text = render_markdown(_sample_report())
    assert "| `GET /a` | yes | yes | 1 error |" in text
    assert "| `GET /c|d` | no | yes | 1 warning |" in text
    assert "- **error** (type) `responses.200.application/json`: type differs" in text


def test_table_output_has_the_four_columns_and_the_summary() -> None:
    console = Console(width=200, record=True, color_system=None)
    console.print(render_table(_sample_report()))
    text = console.export_text()
    for word in ("Operation", "Documented", "Implemented", "Differences", "POST /b", "2 errors, 1 warning, 0 notes"):
        assert word in text


def test_the_summary_line_counts_operations_and_severities() -> None:
    assert _sample_report().summary() == (
        "2 documented, 2 implemented, 1 missing, 1 undocumented; 2 errors, 1 warning, 0 notes"
    )


# The probe heuristic ----------------------------------------------------------------------------------------

UNKNOWN_404 = (Answer(404, '404 {"code": "not_found", "message": "No such resource"}'),)


@pytest.mark.parametrize(
    ("documented", "sent", "answer", "unknown", "expected"),
    [
        ("GET", "GET", Answer(401, '401 {"code": "unauthenticated"}'), UNKNOWN_404, Implemented.LIKELY),
        ("GET", "GET", Answer(422, "422 {}"), UNKNOWN_404, Implemented.LIKELY),
        ("GET", "GET", Answer(200, "200 []"), UNKNOWN_404, Implemented.LIKELY),
        ("GET", "GET", Answer(500, "500 oops"), UNKNOWN_404, Implemented.LIKELY),
        ("GET", "GET", UNKNOWN_404[0], UNKNOWN_404, Implemented.LIKELY_NOT),
        (
            "GET",
            "GET",
            Answer(404, '404 {"code": "not_found", "message": "Patient not found"}'),
            UNKNOWN_404,
            Implemented.LIKELY,
        ),
        ("GET", "GET", Answer(404, '404 {"detail": "Not Found"}'), (Answer(404, "404 other"),), Implemented.LIKELY_NOT),
        ("GET", "GET", Answer(404, "404 Cannot GET {path}"), (Answer(404, "404 other"),), Implemented.LIKELY_NOT),
        ("GET", "GET", Answer(405, "405 {}"), UNKNOWN_404, Implemented.LIKELY_NOT),
        ("GET", "GET", Answer(503, "503 busy"), UNKNOWN_404, Implemented.UNKNOWN),
        ("GET", "GET", Answer(401, "401 {}"), (Answer(401, "401 {}"),), Implemented.UNKNOWN),
        ("POST", "OPTIONS", Answer(405, "405 {}", frozenset({"GET", "POST"})), UNKNOWN_404, Implemented.LIKELY),
        ("POST", "OPTIONS", Answer(204, "204 ", frozenset({"GET"})), UNKNOWN_404, Implemented.NOT_PROBED),
        ("DELETE", "OPTIONS", Answer(405, "405 {}"), UNKNOWN_404, Implemented.NOT_PROBED),
        ("DELETE", "OPTIONS", UNKNOWN_404[0], UNKNOWN_404, Implemented.LIKELY_NOT),
    ],
    ids=[
        "401-route-exists",
        "422-route-exists",
        "200",
        "500-route-failed",
        "same-as-unknown-path",
        "api-not-found-envelope",
        "framework-not-found",
        "express-cannot-get",
        "405-path-without-method",
        "gateway",
        "every-path-401",
        "options-allow-lists-method",
        "options-allow-without-method",
        "options-without-allow",
        "options-path-unknown",
    ],
)
def test_probe_heuristic(
    documented: str, sent: str, answer: Answer, unknown: tuple[Answer, ...], expected: Implemented
) -> None:
    assert judge(documented, sent, answer, unknown).implemented is expected


def test_answer_signatures_ignore_the_path_and_volatile_fields() -> None:
    one = answer_signature(404, '{"error": "no /a/1", "timestamp": 1, "requestId": "x"}', "/a/1")
    other = answer_signature(404, '{"error": "no /b/2", "timestamp": 2, "requestId": "y"}', "/b/2")
    assert one == other


def test_dummy_path_values_fit_their_schema() -> None:
    document = {"components": {"schemas": {"Kind": {"type": "string", "enum": ["a", "b"]}}}}
    assert dummy_value({"$ref": "#/components/schemas/Kind"}, document) == "a"
    assert dummy_value({"type": "integer", "exclusiveMinimum": 0, "maximum": 5}, {}) == "1"
    assert dummy_value({"type": "string", "minLength": 20}, {}) == "probity-probexxxxxxx"
    assert dummy_value({"type": "boolean"}, {}) == "true"
    first, second = dummy_value({"type": "string", "format": "uuid"}, {}), dummy_value({"format": "uuid"}, {})
    assert first != second


# The contract file and options ------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "api.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_invalid_contract_names_the_line_at_fault(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "openapi: 3.1.0\ninfo:\n  title: t\n  version: '1'\npaths:\n  /a:\n    get:\n      responses: 7\n"
    )
    with pytest.raises(ConfigError) as raised:
        read_contract(path)
    assert raised.value.line == 8
    assert str(raised.value) == f'{path}:8: not valid OpenAPI at paths./a.get.responses: 7 is not of type "object"'


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        (b"openapi: 3.1.0\npaths: {\n", "not YAML", 3),
        (b"- a\n- b\n", "not an OpenAPI document", 1),
        (b"openapi: '9.9'\ninfo: {title: t, version: '1'}\npaths: {}\n", "not a known OpenAPI version", 1),
        (b"openapi: 3.1.0\n\xff\n", "not UTF-8", None),
    ],
    ids=["yaml", "not-openapi", "version", "utf8"],
)
def test_malformed_contracts_are_config_errors(tmp_path: Path, content: bytes, message: str, line: int | None) -> None:
    path = tmp_path / "api.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as raised:
        read_contract(path)
    assert raised.value.line == line and raised.value.path == path


def test_headers_need_a_colon() -> None:
    with pytest.raises(ConfigError, match="Name: value"):
        parse_headers(["Authorization Bearer x"])


def test_cli_configuration_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a: [\n")
    assert main(["contract", "diff", str(path), "--base-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"probity: error: {path}:5: not YAML") and "Traceback" not in err
    assert main(["contract", "diff", str(path), "--base-url", "localhost:8000"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err


def test_probe_and_openapi_url_exclude_each_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["contract", "diff", "x.yaml", "--base-url", "http://h", "--probe", "--openapi-url", "http://h/o"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_difference_line_reads_as_one_line() -> None:
    item = Difference("GET /a", Kind.TYPE, "responses.200", Severity.ERROR, "string", "integer", "type differs")
    assert item.line() == "[error] responses.200: type differs"
