"""JSON Schemas (OpenAPI 3.1) for fields, ``Schema:`` lines, bodies and named schemas.

Objects are closed (``additionalProperties: false``) where the convention says so: in request bodies and
the named schemas they reach, so that generated test bodies carry exactly the documented fields.
Responses stay open. A row's own ``additionalProperties`` constraint wins either way. A map is an object
whose ``additionalProperties`` is the schema of its values; a union is an ``anyOf`` of its members.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from probity.contracts.cells import FORMATS, KEYWORD_TYPES
from probity.contracts.model import (
    JSON_TYPES,
    SCALAR_TYPES,
    Body,
    Field,
    Reference,
    Schema,
    SchemaRef,
    walk_fields,
)

__all__ = [
    "Scope",
    "body_schema",
    "component_schema",
    "field_schema",
    "request_schemas",
    "ref_schema",
    "schema_ref",
]

JsonSchema = dict[str, Any]


@dataclass(frozen=True)
class Scope:
    """What a schema is built within: the schema names that exist, and whether its objects are closed."""

    known: frozenset[str]
    closed: bool


def schema_ref(name: str, scope: Scope) -> JsonSchema:
    """A JSON type, a ``$ref`` to a named schema, or ``{}`` for a name that is not there (reported)."""
    if name in JSON_TYPES:
        return {"type": name}
    return {"$ref": f"#/components/schemas/{name}"} if name in scope.known else {}


def field_schema(field: Field, scope: Scope) -> JsonSchema:
    """The schema of one field; nullable as ``type: [T, "null"]``, or ``anyOf`` with null for a named schema.

    >>> status = Field("status", "status", "string", None, True, True, {"enum": ["open", "done"]}, "", 3)
    >>> field_schema(status, Scope(frozenset(), closed=False))
    {'type': ['string', 'null'], 'enum': ['open', 'done', None]}
    >>> owner = Field("owner", "owner", "Person", None, True, True, {}, "Who owns it", 4)
    >>> field_schema(owner, Scope(frozenset({"Person"}), closed=False))
    {'anyOf': [{'$ref': '#/components/schemas/Person'}, {'type': 'null'}], 'description': 'Who owns it'}
    >>> value = Field("v", "v", "string or integer", None, True, False, {"maximum": 9, "maxLength": 5}, "", 5)
    >>> field_schema(value, Scope(frozenset(), closed=False))
    {'anyOf': [{'type': 'string', 'maxLength': 5}, {'type': 'integer', 'maximum': 9}]}
    """
    if field.is_union:
        return _union(field, scope)
    if not field.is_named:
        return _typed(field, scope)
    schema = schema_ref(field.type, scope)
    if field.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "description": field.description} if field.description else schema


def _union(field: Field, scope: Scope) -> JsonSchema:
    # Each scalar member takes the format and the constraints that fit it; a named member is its $ref.
    members = [_member(name, field, scope) for name in field.alternatives]
    if field.nullable:
        members.append({"type": "null"})
    schema: JsonSchema = {"anyOf": members}
    return {**schema, "description": field.description} if field.description else schema


def _member(name: str, field: Field, scope: Scope) -> JsonSchema:
    if name not in SCALAR_TYPES:
        return schema_ref(name, scope)
    schema: JsonSchema = {"type": name}
    if field.format and name in FORMATS[field.format]:
        schema["format"] = field.format
    schema.update({keyword: value for keyword, value in field.constraints.items() if name in KEYWORD_TYPES[keyword]})
    return schema


def _typed(field: Field, scope: Scope) -> JsonSchema:
    json_type = "object" if field.type == "map" else field.type
    schema: JsonSchema = {"type": [json_type, "null"] if field.nullable else json_type}
    if field.format:
        schema["format"] = field.format
    if field.description:
        schema["description"] = field.description
    if field.type == "map":
        schema["additionalProperties"] = field_schema(field.values, scope) if field.values else {}
    schema.update(_constraints(field))
    if field.type == "object":
        schema.update(_object(field.members, scope, field.constraints.get("additionalProperties")))
    if field.type == "array":
        schema["items"] = field_schema(field.items, scope) if field.items else {}
    return schema


def _constraints(field: Field) -> JsonSchema:
    rules = {keyword: value for keyword, value in field.constraints.items() if keyword != "additionalProperties"}
    # JSON Schema checks enum before type: a nullable enum must list null, or null is refused after all.
    if field.nullable and "enum" in rules and None not in rules["enum"]:
        rules["enum"] = [*rules["enum"], None]
    return rules


def _object(fields: Iterable[Field], scope: Scope, additional: bool | None) -> JsonSchema:
    members = list(fields)
    schema: JsonSchema = {}
    if members:
        schema["properties"] = {member.name: field_schema(member, scope) for member in members}
    if required := [member.name for member in members if member.required]:
        schema["required"] = required
    if additional is not None:
        schema["additionalProperties"] = additional
    elif scope.closed and members:
        # An object without member rows is a free-form map; closing it would allow only {}.
        schema["additionalProperties"] = False
    return schema


def ref_schema(ref: SchemaRef, scope: Scope) -> JsonSchema:
    """The schema a ``Schema:`` line stands for: the named schema, an array of it, or a page of it."""
    target = schema_ref(ref.name, scope)
    if ref.kind == "named":
        return target
    if ref.kind == "array":
        return {"type": "array", "items": target}
    page: JsonSchema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": target},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
        "required": ["items", "limit", "offset"],
    }
    return {**page, "additionalProperties": False} if scope.closed else page


def body_schema(body: Body, scope: Scope) -> JsonSchema | None:
    """The schema of a request or response body; ``None`` for a stream or no body."""
    if body.schema is not None:
        return ref_schema(body.schema, scope)
    if body.fields is not None:
        return {"type": "object", **_object(body.fields, scope, None)}
    return None


def component_schema(schema: Schema, scope: Scope) -> JsonSchema:
    """A named schema as it stands under ``components/schemas``."""
    described = {"description": schema.description} if schema.description else {}
    return {"type": "object", **described, **_object(schema.fields, scope, None)}


def request_schemas(reference: Reference) -> frozenset[str]:
    """The named schemas a request body reaches, directly or through other schemas: they are closed."""
    pending = [name for operation in reference.operations for name in _body_names(operation.request_body)]
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        if name in reference.schemas and name not in reached:
            reached.add(name)
            pending.extend(_field_names(reference.schemas[name].fields))
    return frozenset(reached)


def _body_names(body: Body | None) -> list[str]:
    if body is None:
        return []
    named = [body.schema.name] if body.schema and body.schema.name not in SCALAR_TYPES else []
    return [*named, *_field_names(body.fields or ())]


def _field_names(fields: Iterable[Field]) -> list[str]:
    return [name for field in walk_fields(fields) for name in field.schema_names]
