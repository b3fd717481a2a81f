"""The typed model of an API reference: what the markdown says, with the source line of every part.

The model is what :mod:`probity.contracts.reference` reads and :mod:`probity.contracts.openapi` writes
from; it holds the document's words (types and schema names as written), not OpenAPI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "FIELD_TYPES",
    "JSON_TYPES",
    "METHODS",
    "SCALAR_TYPES",
    "UNION",
    "Authentication",
    "Body",
    "Example",
    "Field",
    "Operation",
    "Parameter",
    "Reference",
    "Schema",
    "SchemaRef",
    "Status",
    "union_members",
    "walk_fields",
]

SCALAR_TYPES = ("string", "integer", "number", "boolean")
JSON_TYPES = (*SCALAR_TYPES, "object", "array")
FIELD_TYPES = (*JSON_TYPES, "map")  # a map: a JSON object with arbitrary keys, its values given by a `{}` row
UNION = " or "  # joins the members of a union type: "string or integer"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

Constraints = dict[str, Any]  # OpenAPI keyword -> value, in the order of the constraint table


def union_members(type_: str) -> tuple[str, ...]:
    """The members of a union type, or the type alone.

    >>> union_members("string or integer"), union_members("Person")
    (('string', 'integer'), ('Person',))
    """
    return tuple(type_.split(UNION))


@dataclass
class Field:
    """One row of a field table, with the rows of its members (an object), its items (an array) or its
    values (a map)."""

    path: str  # as written: "address.city", "tags[]", "labels{}"
    name: str  # the property name ("city"); "" for an item or value row
    type: str  # a JSON type, map, the NAME of a schema, or a union of scalar types and names ("string or Person")
    format: str | None
    required: bool
    nullable: bool
    constraints: Constraints
    description: str
    line: int
    members: list[Field] = field(default_factory=list)
    items: Field | None = None
    values: Field | None = None  # the `{}` row of a map

    @property
    def alternatives(self) -> tuple[str, ...]:
        """The members of a union type; the type alone otherwise."""
        return union_members(self.type)

    @property
    def is_union(self) -> bool:
        return len(self.alternatives) > 1

    @property
    def is_named(self) -> bool:
        """Whether the type names one schema rather than a JSON type, map or union."""
        return not self.is_union and self.type not in FIELD_TYPES

    @property
    def schema_names(self) -> tuple[str, ...]:
        """The schema names the type refers to: its own name, or the named members of its union."""
        return tuple(name for name in self.alternatives if name not in FIELD_TYPES)


@dataclass(frozen=True)
class Parameter:
    name: str
    location: Literal["path", "query", "header"]
    type: str
    format: str | None
    required: bool
    constraints: Constraints
    description: str
    line: int


@dataclass(frozen=True)
class SchemaRef:
    """A ``Schema:`` line: ``NAME``, ``Page of NAME`` or ``Array of NAME``."""

    kind: Literal["named", "page", "array"]
    name: str
    line: int


@dataclass(frozen=True)
class Example:
    """A fenced code block in a body section: JSON when its info string says ``json``, else text."""

    value: Any
    line: int


@dataclass
class Body:
    """A ``### Request body`` or ``### Response STATUS`` section."""

    line: int
    content_type: str | None = None
    schema: SchemaRef | None = None
    fields: tuple[Field, ...] | None = None
    no_body: bool = False
    example: Example | None = None

    @property
    def media_type(self) -> str:
        return self.content_type or "application/json"


@dataclass(frozen=True)
class Status:
    """A row of an operation's ``### Responses`` table."""

    code: int
    description: str
    line: int


@dataclass
class Operation:
    method: str
    path: str
    line: int
    summary: str = ""
    description: str = ""
    operation_id: str | None = None
    tags: tuple[str, ...] = ()
    auth: Literal["bearer", "none"] | None = None
    roles: tuple[str, ...] = ()
    phi: bool | None = None
    paginated: bool | None = None
    destructive: bool = False
    keys: dict[str, int] = field(default_factory=dict)  # the list keys given -> their line
    parameters: list[Parameter] = field(default_factory=list)
    request_body: Body | None = None
    responses: dict[int, Body] = field(default_factory=dict)  # the ### Response STATUS sections
    statuses: list[Status] = field(default_factory=list)  # the ### Responses table
    statuses_line: int | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_parameters(self) -> list[str]:
        """The names in braces in the path, in order."""
        return re.findall(r"\{(\w+)\}", self.path)

    def bodies(self) -> list[Body]:
        """The request body (if any) and every response body, in that order."""
        request = [self.request_body] if self.request_body else []
        return [*request, *self.responses.values()]


@dataclass
class Schema:
    """A ``## Schema: NAME`` section: a named object schema."""

    name: str
    line: int
    description: str = ""
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Authentication:
    """The front matter's ``Authentication``: a bearer scheme, with its token format when given."""

    bearer_format: str | None
    description: str
    line: int


@dataclass
class Reference:
    path: Path
    title: str
    line: int
    version: str | None = None
    base_path: str | None = None
    authentication: Authentication | None = None
    description: str = ""
    schemas: dict[str, Schema] = field(default_factory=dict)
    operations: list[Operation] = field(default_factory=list)


def walk_fields(fields: Iterable[Field]) -> Iterator[Field]:
    """Every field of *fields* and, depth first, all of their members, items and values."""
    for field_ in fields:
        yield field_
        yield from walk_fields(field_.members)
        if field_.items is not None:
            yield from walk_fields([field_.items])
        if field_.values is not None:
            yield from walk_fields([field_.values])
