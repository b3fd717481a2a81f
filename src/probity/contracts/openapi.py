"""The OpenAPI 3.1 document of a :class:`Reference`, and its YAML text.

The document is built in a fixed key order from the reference's own order, so the same reference always
gives the same bytes. Vendor extensions carry what the compliance policy reads: ``x-roles``, ``x-phi``,
``x-paginated`` and ``x-destructive`` on every operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from probity.contracts.model import Body, Operation, Parameter, Reference, Status
from probity.contracts.schemas import Scope, body_schema, component_schema, request_schemas, schema_ref

__all__ = ["BEARER_SCHEME", "OPENAPI_VERSION", "build_openapi", "to_yaml"]

OPENAPI_VERSION = "3.1.0"
BEARER_SCHEME = "bearerAuth"
_UNVERSIONED = "0.0.0"  # info.version is required; a reference without one has been reported already

Document = dict[str, Any]


@dataclass(frozen=True)
class _Context:
    reference: Reference
    known: frozenset[str]
    id_owners: dict[str, Operation]  # operation ID -> the first operation giving it

    def operation_id(self, operation: Operation) -> str | None:
        """The operation's ID unless an earlier operation took it (reported; OpenAPI wants them unique)."""
        owner = self.id_owners.get(operation.operation_id or "")
        return operation.operation_id if owner is operation else None

    @property
    def has_error_schema(self) -> bool:
        return "Error" in self.known


def build_openapi(reference: Reference) -> Document:
    r"""The OpenAPI 3.1 document for *reference*.

    >>> from probity.contracts.reference import parse_reference
    >>> reference, _ = parse_reference('''# Pets
    ... - **Version:** 2.0.0
    ... - **Base path:** `/api`
    ... ## GET /health
    ... - **Operation ID:** health
    ... - **Auth:** none
    ... - **PHI:** no
    ... - **Paginated:** no
    ... ### Responses
    ... | Status | Description |
    ... | --- | --- |
    ... | 204 | Alive |
    ... ''')
    >>> document = build_openapi(reference)
    >>> document["servers"], document["paths"]["/health"]["get"]["security"]
    ([{'url': '/api'}], [])
    """
    context = _Context(reference, frozenset(reference.schemas), _id_owners(reference))
    parts: Document = {
        "openapi": OPENAPI_VERSION,
        "info": _info(reference),
        "servers": [{"url": reference.base_path}] if reference.base_path else None,
        "security": [{BEARER_SCHEME: []}] if reference.authentication else None,
        "tags": [{"name": tag} for tag in _tags(reference)] or None,
        "paths": _paths(context),
        "components": _components(context) or None,
    }
    return _present(parts)


def _id_owners(reference: Reference) -> dict[str, Operation]:
    owners: dict[str, Operation] = {}
    for operation in reference.operations:
        if operation.operation_id is not None:
            owners.setdefault(operation.operation_id, operation)
    return owners


def _present(parts: Document) -> Document:
    """*parts* without the ``None`` values: the keys that are absent, keeping the order of the rest."""
    return {key: value for key, value in parts.items() if value is not None}


def _info(reference: Reference) -> Document:
    return _present(
        {
            "title": reference.title,
            "version": reference.version or _UNVERSIONED,
            "description": reference.description or None,
        }
    )


def _tags(reference: Reference) -> list[str]:
    return list(dict.fromkeys(tag for operation in reference.operations for tag in operation.tags))


def _paths(context: _Context) -> Document:
    paths: Document = {}
    for operation in context.reference.operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation, context)
    return paths


def _operation(operation: Operation, context: _Context) -> Document:
    return _present(
        {
            "tags": list(operation.tags) or None,
            "summary": operation.summary or None,
            "description": operation.description or None,
            "operationId": context.operation_id(operation),
            "security": _security(operation, context.reference),
            "parameters": _parameters(operation) or None,
            "requestBody": _request_body(operation.request_body, context),
            "responses": _responses(operation, context) or None,
            "x-roles": list(operation.roles),
            "x-phi": operation.phi,
            "x-paginated": operation.paginated,
            "x-destructive": operation.destructive,
        }
    )


def _security(operation: Operation, reference: Reference) -> list[Document] | None:
    if operation.auth == "none":
        return []
    has_scheme = operation.auth == "bearer" and reference.authentication is not None
    return [{BEARER_SCHEME: []}] if has_scheme else None


def _parameters(operation: Operation) -> list[Document]:
    in_path = operation.path_parameters
    listed = [item for item in operation.parameters if item.location != "path" or item.name in in_path]
    named = {item.name for item in listed if item.location == "path"}
    # A path parameter missing from the table has been reported; a plain string stands in for it, because
    # OpenAPI refuses a path whose parameter is not declared.
    stand_ins = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in in_path]
    return [
        *(_parameter(item) for item in listed),
        *(item for item in stand_ins if item["name"] not in named),
    ]


def _parameter(parameter: Parameter) -> Document:
    # Not through _present: a constraint's value may be None (`default: null`).
    schema = {"type": parameter.type, **({"format": parameter.format} if parameter.format else {})}
    return _present(
        {
            "name": parameter.name,
            "in": parameter.location,
            "description": parameter.description or None,
            "required": parameter.required,
            "schema": {**schema, **parameter.constraints},
        }
    )


def _request_body(body: Body | None, context: _Context) -> Document | None:
    if body is None or body.no_body:
        return None
    # A documented request body is one the operation expects: required, and closed like its schemas.
    return {"required": True, "content": _content(body, Scope(context.known, closed=True))}


def _responses(operation: Operation, context: _Context) -> Document:
    described = {status.code: status for status in operation.statuses}
    codes = sorted({*described, *operation.responses})
    return {str(code): _response(code, described.get(code), operation.responses.get(code), context) for code in codes}


def _response(code: int, status: Status | None, body: Body | None, context: _Context) -> Document:
    if body is not None:
        content = _content(body, Scope(context.known, closed=False))
    elif code >= 400 and context.has_error_schema:
        content = {"application/json": {"schema": schema_ref("Error", Scope(context.known, closed=False))}}
    else:
        content = None
    return _present({"description": status.description if status else "", "content": content})


def _content(body: Body, scope: Scope) -> Document | None:
    if body.no_body:
        return None
    media: Document = {}
    if (schema := body_schema(body, scope)) is not None:
        media["schema"] = schema
    if body.example is not None:
        media["example"] = body.example.value
    return {body.media_type: media}


def _components(context: _Context) -> Document:
    reference = context.reference
    closed = request_schemas(reference)
    schemas = {
        name: component_schema(schema, Scope(context.known, closed=name in closed))
        for name, schema in reference.schemas.items()
    }
    return _present({"schemas": schemas or None, "securitySchemes": _security_schemes(reference)})


def _security_schemes(reference: Reference) -> Document | None:
    authentication = reference.authentication
    if authentication is None:
        return None
    scheme = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": authentication.bearer_format,
        "description": authentication.description,
    }
    return {BEARER_SCHEME: _present(scheme)}


class _Dumper(yaml.SafeDumper):
    """Writes every value in full: anchors and aliases would make the contract hard to read and diff."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(document: Document) -> str:
    """*document* as YAML, keys in the order they were built, without anchors; the same input, the same text.

    >>> print(to_yaml({"openapi": "3.1.0", "paths": {"/a": {"get": {"responses": {"200": {}}}}}}), end="")
    openapi: 3.1.0
    paths:
      /a:
        get:
          responses:
            '200': {}
    """
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
