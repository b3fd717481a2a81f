"""OpenAPI documents made comparable: path templates, base paths, media types, and schemas as :class:`Shape`.

Two documents that say the same thing in different words normalise to the same values, so that
:mod:`~probity.contracts.diff` reports only what differs in meaning:

* ``$ref`` is followed (local ``#/…`` references), and ``allOf`` is merged into one schema;
* ``anyOf: [X, {type: null}]``, ``type: [X, "null"]``, OpenAPI 3.0's ``nullable: true`` and a ``null`` in
  ``enum`` all read as *X, nullable*; ``const: v`` reads as ``enum: [v]``;
* titles, descriptions, examples, ``readOnly``/``writeOnly``, ``deprecated`` and ``x-*`` are left out;
* OpenAPI 3.0's boolean ``exclusiveMinimum``/``exclusiveMaximum`` become 3.1's numbers.

Children (properties, items, alternatives) stay as they were written; they are normalised when the
comparison reaches them, so that recursive schemas are read one level at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = [
    "CONSTRAINTS",
    "HTTP_METHODS",
    "LOWER_BOUNDS",
    "UPPER_BOUNDS",
    "Shape",
    "join_path",
    "media_type",
    "resolve",
    "server_prefix",
    "shape",
    "template_key",
    "template_names",
]

JsonSchema = Mapping[str, Any]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
CONSTRAINTS = (*LOWER_BOUNDS, *UPPER_BOUNDS, "pattern", "multipleOf", "uniqueItems")

_TEMPLATE = re.compile(r"\{([^{}/]+)\}")
_MAX_REFS = 64  # a chain of $ref longer than this is a loop
_ABSENT: Any = object()


@dataclass(frozen=True)
class Shape:
    """One schema level in canonical form; ``types`` is ``None`` when any type is allowed."""

    types: frozenset[str] | None = None
    nullable: bool = False
    format: str | None = None
    enum: tuple[Any, ...] | None = None
    constraints: Mapping[str, Any] = field(default_factory=dict)
    default: Any = _ABSENT
    properties: Mapping[str, JsonSchema] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    additional: bool | JsonSchema = True
    patterns: tuple[str, ...] = ()
    items: JsonSchema | None = None
    alternatives: tuple[JsonSchema, ...] = ()
    ref: str | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not _ABSENT

    @property
    def is_any(self) -> bool:
        """Nothing said at all (``{}``): any value, ``null`` included."""
        return replace(self, ref=None, default=_ABSENT) == _ANY

    @property
    def is_object(self) -> bool:
        return self.types is not None and "object" in self.types

    @property
    def is_array(self) -> bool:
        return self.types is not None and "array" in self.types


_ANY = Shape()


def template_key(path: str) -> str:
    """*path* with its parameter names blanked, so that templates differing only in names compare equal.

    >>> template_key("/accounts/{account_id}/notes") == template_key("/accounts/{id}/notes")
    True
    >>> template_key("/accounts/{account_id}")
    '/accounts/{}'
    """
    return _TEMPLATE.sub("{}", path)


def template_names(path: str) -> tuple[str, ...]:
    """The parameter names of a path template, in order.

    >>> template_names("/orgs/{org}/members/{member_id}")
    ('org', 'member_id')
    """
    return tuple(_TEMPLATE.findall(path))


def server_prefix(document: Mapping[str, Any]) -> str:
    """The path part of the document's first server URL, without a trailing slash; ``""`` when none.

    >>> server_prefix({"servers": [{"url": "https://api.example.com/api/v1/"}]})
    '/api/v1'
    >>> server_prefix({"servers": [{"url": "/api/v1"}]}), server_prefix({})
    ('/api/v1', '')
    """
    servers = document.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], Mapping):
        return ""
    url = str(servers[0].get("url", ""))
    return unquote(urlsplit(url).path).rstrip("/")


def join_path(prefix: str, path: str) -> str:
    """*path* under the base path *prefix*.

    >>> join_path("/api/v1", "/accounts"), join_path("", "/accounts"), join_path("/api", "/")
    ('/api/v1/accounts', '/accounts', '/api/')
    """
    return f"{prefix}{path}" if path.startswith("/") else f"{prefix}/{path}"


def media_type(name: str) -> str:
    """A media type without its parameters, lower-cased.

    >>> media_type("Application/JSON; charset=utf-8")
    'application/json'
    """
    return name.split(";", 1)[0].strip().lower()


def resolve(node: Any, document: Mapping[str, Any]) -> tuple[Any, str | None]:
    """*node* with its local ``$ref`` chain followed; and the last reference followed (``None`` if none).

    A reference that does not resolve (external, or to nothing) stands for ``{}``: anything.

    >>> document = {"components": {"schemas": {"Id": {"$ref": "#/components/schemas/Uuid"},
    ...                                         "Uuid": {"type": "string", "format": "uuid"}}}}
    >>> resolve({"$ref": "#/components/schemas/Id"}, document)
    ({'type': 'string', 'format': 'uuid'}, '#/components/schemas/Uuid')
    >>> resolve({"$ref": "other.yaml#/Thing"}, document)
    ({}, 'other.yaml#/Thing')
    """
    reference: str | None = None
    for _ in range(_MAX_REFS):
        if not isinstance(node, Mapping) or not isinstance(node.get("$ref"), str):
            return node, reference
        reference = node["$ref"]
        node = _pointer(document, reference)
    return {}, reference


def _pointer(document: Mapping[str, Any], reference: str) -> Any:
    if not reference.startswith("#/"):
        return {}
    node: Any = document
    for part in reference[2:].split("/"):
        key = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return {}
    return node


def shape(schema: Any, document: Mapping[str, Any]) -> Shape:
    """The canonical :class:`Shape` of *schema*, read within *document* (for its ``$ref`` targets).

    >>> plain = shape({"type": ["string", "null"], "format": "uuid", "title": "Id"}, {})
    >>> folded = shape({"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]}, {})
    >>> plain == folded, sorted(plain.types or ()), plain.nullable, plain.format
    (True, ['string'], True, 'uuid')
    >>> shape({"type": "string", "nullable": True, "enum": ["a", "b"]}, {}) == shape(
    ...     {"type": ["string", "null"], "enum": ["b", "a", None]}, {})
    True
    """
    resolved, reference = resolve(schema, document)
    merged = _merge_all_of(_with_siblings(schema, resolved), document)
    folded, nullable_alternative = _fold_alternatives(merged, document)
    if folded is not merged:
        inner = shape(folded, document)
        return replace(inner, nullable=inner.nullable or nullable_alternative, ref=reference or inner.ref)
    return _shape_of(merged, reference, nullable_alternative)


def _with_siblings(schema: Any, resolved: Any) -> dict[str, Any]:
    """The target of a ``$ref`` with the keywords written beside the ``$ref`` (OpenAPI 3.1 allows them)."""
    target = dict(resolved) if isinstance(resolved, Mapping) else {}
    if isinstance(schema, Mapping) and "$ref" in schema:
        target.update((key, value) for key, value in schema.items() if key != "$ref")
    return target


def _merge_all_of(schema: Mapping[str, Any], document: Mapping[str, Any]) -> dict[str, Any]:
    merged = {key: value for key, value in schema.items() if key != "allOf"}
    for member in schema.get("allOf") or ():
        part, _ = resolve(member, document)
        if not isinstance(part, Mapping):
            continue
        part = _merge_all_of(part, document)
        for key, value in part.items():
            if key == "properties" and isinstance(value, Mapping):
                merged["properties"] = {**value, **merged.get("properties", {})}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _fold_alternatives(schema: dict[str, Any], document: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``anyOf``/``oneOf`` with ``null`` as one alternative, or of bare types, made one schema where possible."""
    keyword = "anyOf" if "anyOf" in schema else "oneOf" if "oneOf" in schema else None
    if keyword is None or not isinstance(schema[keyword], list):
        return schema, False
    written = list(schema[keyword])
    others = [item for item in written if not _is_null(resolve(item, document)[0])]
    nullable = len(others) < len(written)
    rest = {key: value for key, value in schema.items() if key != keyword}
    if len(others) == 1:
        # The alternative as written (a $ref stays one, so recursion knows its name), then the siblings.
        alternative = dict(others[0]) if isinstance(others[0], Mapping) else {}
        return {**alternative, **rest}, nullable
    resolved = [resolve(item, document)[0] for item in others]
    if resolved and all(_is_bare_type(item) for item in resolved):
        return {**rest, "type": sorted({_type_name(item) for item in resolved})}, nullable
    if nullable:
        return {**rest, keyword: others}, nullable
    return schema, False


def _is_null(item: Any) -> bool:
    return isinstance(item, Mapping) and (item.get("type") == "null" or item.get("enum") == [None])


def _is_bare_type(item: Any) -> bool:
    return isinstance(item, Mapping) and set(item) <= {"type", "title", "description"} and _type_name(item) != ""


def _type_name(item: Mapping[str, Any]) -> str:
    value = item.get("type")
    return value if isinstance(value, str) else ""


def _shape_of(schema: Mapping[str, Any], reference: str | None, nullable: bool) -> Shape:
    types, typed_null = _types(schema)
    enum, enum_null = _enum(schema)
    additional = schema.get("additionalProperties", True)
    alternatives = schema.get("anyOf") or schema.get("oneOf") or ()
    return Shape(
        types=types,
        nullable=nullable or typed_null or enum_null or schema.get("nullable") is True,
        format=str(schema["format"]) if "format" in schema else None,
        enum=enum,
        constraints=_constraints(schema),
        default=schema.get("default", _ABSENT),
        properties=dict(schema.get("properties") or {}),
        required=frozenset(schema.get("required") or ()),
        additional=True if additional == {} else additional,
        patterns=tuple(sorted(schema.get("patternProperties") or ())),
        items=schema.get("items") if isinstance(schema.get("items"), Mapping) else None,
        alternatives=tuple(alternatives) if isinstance(alternatives, list) else (),
        ref=reference,
    )


def _types(schema: Mapping[str, Any]) -> tuple[frozenset[str] | None, bool]:
    declared = schema.get("type")
    names = [declared] if isinstance(declared, str) else list(declared) if isinstance(declared, list) else []
    if not names:
        return _implied_types(schema), False
    kept = frozenset(str(name) for name in names if name != "null")
    return kept, "null" in names


def _implied_types(schema: Mapping[str, Any]) -> frozenset[str] | None:
    if "properties" in schema or "required" in schema:
        return frozenset({"object"})
    if "items" in schema:
        return frozenset({"array"})
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if isinstance(values, list) and any(value is not None for value in values):
        return frozenset(_json_type(value) for value in values if value is not None)
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    kinds = {float: "number", str: "string", list: "array", dict: "object"}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), "string")


def _enum(schema: Mapping[str, Any]) -> tuple[tuple[Any, ...] | None, bool]:
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if not isinstance(values, list):
        return None, False
    kept = sorted({json.dumps(value, sort_keys=True, default=str) for value in values if value is not None})
    return tuple(json.loads(value) for value in kept), None in values


def _constraints(schema: Mapping[str, Any]) -> dict[str, Any]:
    found = {key: schema[key] for key in CONSTRAINTS if key in schema and not isinstance(schema[key], bool)}
    if schema.get("uniqueItems") is True:
        found["uniqueItems"] = True
    # OpenAPI 3.0: `exclusiveMinimum: true` qualifies `minimum`; 3.1 gives the bound itself.
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if schema.get(exclusive) is True and bound in found:
            found[exclusive] = found.pop(bound)
    return found
