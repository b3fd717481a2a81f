"""Reading an OpenAPI 3.x contract for the HTTP-level checks: its operations, the objects they name and bodies.

Everything here is pure: a contract dict in, plain values out. Nothing knows a target; what an operation takes,
who may call it (``x-roles``), which collection lists its objects and what a valid request body looks like all
come from the contract itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = [
    "NIL_UUID",
    "WRITE_METHODS",
    "Operation",
    "OperationIndex",
    "distinctive_values",
    "example_value",
    "fill_path",
    "item_ids",
    "list_key",
    "path_prefix",
    "request_base",
    "request_body",
    "resolve",
    "resource_path",
]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NIL_UUID = "00000000-0000-4000-8000-000000000000"  # canonical, version 4: passes strict uuid validation

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_PARAM = re.compile(r"\{([^{}/]+)\}")
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$")
_ENUM_LIKE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_FORMATS = {
    "uuid": NIL_UUID,
    "date": "2030-01-15",
    "date-time": "2030-01-15T10:00:00Z",
    "email": "probity@example.com",
    "uri": "https://example.com/probity",
    "time": "10:00:00",
}
_STRINGS = ("probity check", "probity@example.com", "+1 555 010 0100", "AB1 2CD", "5550100", "probity")
_MAX_DEPTH = 12


@dataclass(frozen=True)
class Operation:
    """One operation of a contract, labelled ``METHOD /path`` exactly as the contract spells its path."""

    method: str
    path: str
    spec: Mapping[str, Any] = field(repr=False, compare=False)
    parameters: tuple[Mapping[str, Any], ...] = field(default=(), repr=False, compare=False)
    public: bool = False
    roles: tuple[str, ...] | None = None  # x-roles: who may call it; None when the contract does not say

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PARAM.findall(self.path))

    @property
    def writes(self) -> bool:
        return self.method in WRITE_METHODS

    def allows(self, role: str) -> bool:
        """Whether the contract lets *role* call this operation (yes when it names no roles)."""
        return self.roles is None or not self.roles or role in self.roles

    def required_query(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(p for p in self.parameters if p.get("in") in ("query", "header") and p.get("required"))

    def query_param(self, name: str) -> Mapping[str, Any] | None:
        return next((p for p in self.parameters if p.get("in") == "query" and p.get("name") == name), None)


class OperationIndex:
    """A contract's operations, found by method and path or by the labels a policy uses.

    A policy may name operations relative to the API's base path (``POST /auth/logout``) while a live
    contract spells them from the origin (``/api/v1/auth/logout``); both name the same operation.
    """

    def __init__(self, contract: Mapping[str, Any]) -> None:
        self.contract = contract
        self.all = _operations(contract)
        self.prefix = _common_prefix([op.path for op in self.all])
        self._by_key = {(op.method, op.path): op for op in self.all}

    def find(self, method: str, path: str) -> Operation | None:
        return self._by_key.get((method.upper(), path))

    def named(self, op: Operation, labels: Iterable[str]) -> bool:
        """Whether *labels* name *op*, by its full label or its label without the common base path."""
        return bool({op.label, self.short_label(op)} & {" ".join(label.split()) for label in labels})

    def labelled(self, label: str) -> Operation | None:
        return next((op for op in self.all if self.named(op, [label])), None)

    def short_label(self, op: Operation) -> str:
        return f"{op.method} {op.path.removeprefix(self.prefix) or '/'}" if self.prefix else op.label

    def list_at(self, path: str) -> Operation | None:
        """The collection GET at *path* that answers a page of objects with ids, if the contract has one."""
        op = self.find("GET", path)
        usable = op is not None and not op.required_query() and list_key(self.contract, op) is not None
        return op if usable else None

    def by_id(self, collection: Operation) -> tuple[Operation, str] | None:
        """The GET of one item of *collection* (``/things`` → ``/things/{thing_id}``) and its id parameter."""
        for op in self.all:
            rest = op.path.removeprefix(collection.path + "/")
            if op.method == "GET" and op.path != rest and re.fullmatch(r"\{[^{}/]+\}", rest):
                return op, rest[1:-1]
        return None


def _operations(contract: Mapping[str, Any]) -> tuple[Operation, ...]:
    found: list[Operation] = []
    for path, item in (contract.get("paths") or {}).items():
        item = resolve(contract, item)
        shared = [resolve(contract, p) for p in item.get("parameters", [])]
        for method in _METHODS:
            if isinstance(item.get(method), Mapping):
                found.append(_operation(contract, method.upper(), path, item[method], shared))
    return tuple(found)


def _operation(
    contract: Mapping[str, Any], method: str, path: str, spec: Mapping[str, Any], shared: list[Any]
) -> Operation:
    own = [resolve(contract, p) for p in spec.get("parameters", [])]
    names = {(p.get("name"), p.get("in")) for p in own}
    parameters = (*own, *(p for p in shared if (p.get("name"), p.get("in")) not in names))
    roles = spec.get("x-roles")
    security = spec.get("security", contract.get("security"))
    public = security == [] or roles == []
    return Operation(method, path, spec, parameters, public, tuple(roles) if isinstance(roles, list) else None)


def _common_prefix(paths: Sequence[str]) -> str:
    """The literal leading segments every path shares (``/api/v1``), or ``""``.

    >>> _common_prefix(["/api/v1/a", "/api/v1/b/{x}"]), _common_prefix(["/a", "/b"]), _common_prefix(["/a"])
    ('/api/v1', '', '')
    """
    if len(paths) < 2:
        return ""
    split = [path.strip("/").split("/") for path in paths]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1 or "{" in parts[0] or any(len(s) == len(common) + 1 for s in split):
            break
        common.append(parts[0])
    return "/" + "/".join(common) if common else ""


def resolve(contract: Mapping[str, Any], node: Any) -> Any:
    """*node* with local ``$ref`` links followed.

    >>> resolve({"components": {"schemas": {"A": {"type": "string"}}}}, {"$ref": "#/components/schemas/A"})
    {'type': 'string'}
    """
    for _ in range(_MAX_DEPTH):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return node
        node = _pointer(contract, node["$ref"])
    return node


def _pointer(contract: Mapping[str, Any], ref: str) -> Any:
    target: Any = contract
    for part in ref.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        target = target.get(part, {}) if isinstance(target, Mapping) else {}
    return target


def request_base(contract: Mapping[str, Any], api_root: str) -> str:
    """Where the contract's paths start: *api_root*, plus the server's base path when neither has it yet.

    >>> relative = {"servers": [{"url": "/api/v1"}], "paths": {"/x": {}}}
    >>> request_base(relative, "http://h:1"), request_base(relative, "http://h:1/api/v1/")
    ('http://h:1/api/v1', 'http://h:1/api/v1')
    >>> request_base({"paths": {"/api/v1/x": {}}}, "http://h:1")
    'http://h:1'
    """
    root = api_root.rstrip("/")
    servers = contract.get("servers") or [{}]
    base = urlsplit(str(servers[0].get("url", ""))).path.rstrip("/")
    paths = list(contract.get("paths") or {})
    if not base or "{" in base or urlsplit(root).path.rstrip("/").endswith(base):
        return root
    if paths and all(p == base or p.startswith(base + "/") for p in paths):
        return root
    return root + base


def path_prefix(path: str, param: str) -> str:
    """The collection path in front of ``{param}`` in *path*.

    >>> path_prefix("/a/{x}/b/{y}", "y"), path_prefix("/a/{x}/b/{y}", "x")
    ('/a/{x}/b', '/a')
    """
    return path.split("{" + param + "}", 1)[0].rstrip("/")


def resource_path(path: str) -> str | None:
    """The path of the object *path* acts on: everything up to its last parameter (None when it has none).

    >>> resource_path("/a/{x}/cancel"), resource_path("/a/{x}/b/{y}"), resource_path("/a")
    ('/a/{x}', '/a/{x}/b/{y}', None)
    """
    matches = list(_PARAM.finditer(path))
    return path[: matches[-1].end()] if matches else None


def fill_path(path: str, bindings: Mapping[str, str]) -> str:
    """*path* with its parameters replaced by their (escaped) values.

    >>> fill_path("/a/{x}/b/{y}", {"x": "1", "y": "a/b"})
    '/a/1/b/a%2Fb'
    """
    return _PARAM.sub(
        lambda m: quote(str(bindings[m.group(1)]), safe="") if m.group(1) in bindings else m.group(0), path
    )


def _response_schema(contract: Mapping[str, Any], op: Operation) -> Any:
    responses = op.spec.get("responses") or {}
    for status in sorted(str(code) for code in responses):
        if status.startswith("2"):
            content = resolve(contract, responses.get(status) or responses.get(int(status))).get("content") or {}
            media = next((m for m in content if m.endswith("json")), None)
            return resolve(contract, content[media].get("schema")) if media else None
    return None


def list_key(contract: Mapping[str, Any], op: Operation) -> str | None:
    """Where *op*'s JSON answer lists objects with an ``id``: ``""`` for a bare array, the key of the array
    property for a page object, None when it lists none.

    >>> item = {"type": "object", "properties": {"id": {"type": "string"}}}
    >>> page = {"type": "object", "properties": {"items": {"type": "array", "items": item}}}
    >>> op = Operation("GET", "/t", {"responses": {"200": {"content": {"application/json": {"schema": page}}}}})
    >>> list_key({}, op)
    'items'
    """
    schema = _response_schema(contract, op)
    if _is_id_array(contract, schema):
        return ""
    properties = (schema or {}).get("properties") or {}
    return next((key for key, sub in properties.items() if _is_id_array(contract, resolve(contract, sub))), None)


def _is_id_array(contract: Mapping[str, Any], schema: Any) -> bool:
    if not isinstance(schema, Mapping) or schema.get("type") != "array":
        return False
    items = resolve(contract, schema.get("items"))
    return isinstance(items, Mapping) and "id" in (items.get("properties") or {})


def item_ids(body: Any, key: str) -> list[str]:
    """The ``id`` of every object listed under *key* (``""``: *body* is the list itself).

    >>> item_ids({"items": [{"id": "a"}, {"id": 7}, {"x": 1}]}, "items")
    ['a', '7']
    """
    items = body if key == "" else (body.get(key) if isinstance(body, Mapping) else None)
    if not isinstance(items, list):
        return []
    return [str(item["id"]) for item in items if isinstance(item, Mapping) and item.get("id") is not None]


def distinctive_values(value: Any, exclude: Iterable[str] = (), *, where: str = "") -> dict[str, str]:
    """Strings of *value* that could only have come from it — ids and long text, not enums, dates, booleans
    or short words — each mapped to the field it was found in.

    >>> obj = {"id": "7f3c2a10-1111", "status": "SCHEDULED", "name": "Ann", "notes": "needs follow-up",
    ...        "at": "2026-01-02T10:00:00Z", "tags": [{"code": "long-enough"}], "ok": True}
    >>> distinctive_values(obj, exclude=["needs follow-up"])
    {'7f3c2a10-1111': 'id', 'long-enough': 'tags.code'}
    """
    found: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _keep_first(found, distinctive_values(sub, exclude, where=_join(where, key)))
    elif isinstance(value, list):
        for sub in value:
            _keep_first(found, distinctive_values(sub, exclude, where=where))
    elif isinstance(value, str) and _distinctive(value) and value not in set(exclude):
        found[value] = where
    return found


def _keep_first(found: dict[str, str], more: Mapping[str, str]) -> None:
    for value, where in more.items():
        found.setdefault(value, where)


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _distinctive(text: str) -> bool:
    return len(text.strip()) >= 8 and not _DATE_LIKE.match(text) and not _ENUM_LIKE.match(text)


def request_body(contract: Mapping[str, Any], op: Operation, marker: str | None = None) -> Any:
    """A small body the contract accepts for *op*: its required fields with plausible values and, given a
    *marker* and a PATCH, one optional free-text field set to the marker. None when *op* takes no JSON body.

    >>> schema = {"type": "object", "required": ["reason"], "properties": {
    ...     "reason": {"type": "string", "minLength": 3}, "status": {"enum": ["A", "B"]},
    ...     "notes": {"anyOf": [{"type": "string", "maxLength": 40}, {"type": "null"}]}}}
    >>> body = {"requestBody": {"content": {"application/json": {"schema": schema}}}}
    >>> request_body({}, Operation("PATCH", "/x/{id}", body), marker="probity-1234")
    {'reason': 'probity check', 'notes': 'probity-1234'}
    >>> request_body({}, Operation("DELETE", "/x/{id}", {})) is None
    True
    """
    schema = _body_schema(contract, op)
    if schema is None:
        return None
    body = example_value(contract, schema)
    if marker is not None and op.method == "PATCH" and isinstance(body, dict):
        field_name = _marker_field(contract, schema, body, marker)
        if field_name is not None:
            body[field_name] = marker
    return body


def _body_schema(contract: Mapping[str, Any], op: Operation) -> Any:
    content = resolve(contract, op.spec.get("requestBody") or {}).get("content") or {}
    media = next((m for m in content if m.endswith("json")), None)
    return resolve(contract, content[media].get("schema") or {}) if media else None


def _marker_field(contract: Mapping[str, Any], schema: Mapping[str, Any], body: dict[str, Any], marker: str) -> Any:
    for name, sub in (_merged(contract, schema).get("properties") or {}).items():
        sub = _concrete(contract, sub)
        plain = sub.get("type") == "string" and "format" not in sub and "enum" not in sub
        if name not in body and plain and _string_fits(sub, marker):
            return name
    return None


def example_value(contract: Mapping[str, Any], schema: Any, depth: int = 0) -> Any:
    """A plausible value of *schema*: the first enum value, a format's example, bounds respected,
    an object's required properties only.

    >>> example_value({}, {"type": "object", "required": ["n", "when"], "properties": {
    ...     "n": {"type": "integer", "minimum": 5}, "when": {"type": "string", "format": "date"},
    ...     "skip": {"type": "boolean"}}})
    {'n': 5, 'when': '2030-01-15'}
    """
    schema = _concrete(contract, schema)
    if depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    return _BY_TYPE.get(_type_of(schema), _null)(contract, schema, depth)


def _concrete(contract: Mapping[str, Any], schema: Any) -> Mapping[str, Any]:
    """*schema* resolved, with allOf merged and the first non-null branch of anyOf/oneOf taken."""
    schema = resolve(contract, schema)
    if not isinstance(schema, Mapping):
        return {}
    for key in ("anyOf", "oneOf"):
        branches = [resolve(contract, b) for b in schema.get(key) or []]
        chosen = next((b for b in branches if _type_of(b) != "null"), None)
        if chosen is not None:
            return _concrete(contract, {**{k: v for k, v in schema.items() if k != key}, **chosen})
    return _merged(contract, schema)


def _merged(contract: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    if "allOf" not in schema:
        return schema
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in (_concrete(contract, p) for p in schema["allOf"]):
        merged["properties"] = {**(merged.get("properties") or {}), **(part.get("properties") or {})}
        merged["required"] = [*(merged.get("required") or []), *(part.get("required") or [])]
        merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})
    return merged


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        return "object"
    return str(kind) if kind is not None else ""


def _object(contract: Mapping[str, Any], schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    required = [name for name in schema.get("required") or [] if name in properties]
    return {name: example_value(contract, properties[name], depth + 1) for name in required}


def _array(contract: Mapping[str, Any], schema: Mapping[str, Any], depth: int) -> list[Any]:
    return [example_value(contract, schema.get("items") or {}, depth + 1)] * max(1, int(schema.get("minItems", 1)))


def _number(contract: Mapping[str, Any], schema: Mapping[str, Any], depth: int) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in schema else 1)
    value = min(low, schema.get("maximum", low))
    return int(value) if schema.get("type") == "integer" or _type_of(schema) == "integer" else value


def _string(contract: Mapping[str, Any], schema: Mapping[str, Any], depth: int) -> str:
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    fitted = [_fit(schema, candidate) for candidate in _STRINGS]
    return next((text for text in fitted if _string_fits(schema, text)), fitted[0])


def _fit(schema: Mapping[str, Any], text: str) -> str:
    text = text.ljust(int(schema.get("minLength", 0)), "x")
    return text[: int(schema["maxLength"])] if "maxLength" in schema else text


def _string_fits(schema: Mapping[str, Any], text: str) -> bool:
    if not int(schema.get("minLength", 0)) <= len(text) <= int(schema.get("maxLength", len(text))):
        return False
    try:
        return "pattern" not in schema or re.search(schema["pattern"], text) is not None
    except re.error:
        return True


def _boolean(contract: Mapping[str, Any], schema: Mapping[str, Any], depth: int) -> bool:
    return False


def _null(contract: Mapping[str, Any], schema: Mapping[str, Any], depth: int) -> None:
    return None


_BY_TYPE = {
    "object": _object,
    "array": _array,
    "integer": _number,
    "number": _number,
    "string": _string,
    "boolean": _boolean,
}
