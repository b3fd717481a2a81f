"""The three tables of the convention: field tables (into a tree of fields), parameters and statuses."""

from __future__ import annotations

import re
from typing import Literal

from probity.contracts.cells import parse_constraints, read_flag, read_format, unquote
from probity.contracts.diagnostics import Report
from probity.contracts.markdown import Row, Table
from probity.contracts.model import FIELD_TYPES, SCALAR_TYPES, UNION, Field, Parameter, Status

__all__ = [
    "FIELD_COLUMNS",
    "PARAMETER_COLUMNS",
    "STATUS_COLUMNS",
    "parse_fields",
    "parse_parameters",
    "parse_statuses",
    "table_rows",
]

FIELD_COLUMNS = ("Field", "Type", "Format", "Required", "Nullable", "Constraints", "Description")
PARAMETER_COLUMNS = ("Name", "In", "Type", "Format", "Required", "Constraints", "Description")
STATUS_COLUMNS = ("Status", "Description")

_FIELD_PATH = re.compile(r"^[A-Za-z_][\w-]*(?:\[\]|\{\})*(?:\.[A-Za-z_][\w-]*(?:\[\]|\{\})*)*$")
_TYPE = re.compile(r"^[A-Za-z_]\w*(?:\s+or\s+[A-Za-z_]\w*)*$")
_OR = re.compile(r"\s+or\s+")
# What an item row (`[]`) and a value row (`{}`) need their parent to be; a member row needs an object.
_PARENT_TYPES = {"[]": "array", "{}": "map"}
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")
_LOCATIONS: dict[str, Literal["path", "query", "header"]] = {
    "path": "path",
    "query": "query",
    "header": "header",
}


def table_rows(table: Table, columns: tuple[str, ...], report: Report) -> list[Row]:
    """The rows of *table* that fit *columns*; a wrong header or a row of another width is reported."""
    if tuple(cell.lower() for cell in table.header.cells) != tuple(column.lower() for column in columns):
        found, expected = " | ".join(table.header.cells), " | ".join(columns)
        report.error(table.line, f"table columns are '{found}'; expected exactly '{expected}'")
        return []
    if not table.delimited:
        report.error(table.line, "table has no `| --- |` line under its header")
    return [row for row in table.rows if _fits(row, len(columns), report)]


def _fits(row: Row, width: int, report: Report) -> bool:
    if len(row.cells) != width:
        report.error(row.line, f"table row has {len(row.cells)} cells; the table has {width} columns")
    return len(row.cells) == width


# -- field tables ---------------------------------------------------------------------------------------


def parse_fields(table: Table, report: Report) -> tuple[Field, ...]:
    """The top-level fields of a field table, each holding its member, item and value rows.

    >>> from pathlib import Path
    >>> from probity.contracts.markdown import tokenize
    >>> table = tokenize('''| Field | Type | Format | Required | Nullable | Constraints | Description |
    ... | --- | --- | --- | --- | --- | --- | --- |
    ... | tags | array | | no | no | maxItems: 10 | |
    ... | tags[] | string | | | | maxLength: 30 | Each tag |''')[0]
    >>> [(field.path, field.items.type) for field in parse_fields(table, Report(Path("api.md")))]
    [('tags', 'string')]
    >>> table = tokenize('''| Field | Type | Format | Required | Nullable | Constraints | Description |
    ... | --- | --- | --- | --- | --- | --- | --- |
    ... | labels | map | | no | no | maxProperties: 5 | |
    ... | labels{} | string or integer | | | | maxLength: 30 | Each label |''')[0]
    >>> [(field.path, field.values.alternatives) for field in parse_fields(table, Report(Path("api.md")))]
    [('labels', ('string', 'integer'))]
    """
    tree = _Tree(report)
    for row in table_rows(table, FIELD_COLUMNS, report):
        if (field := _field(row, report)) is not None:
            tree.add(field)
    tree.check_items()
    return tuple(tree.roots)


def _field(row: Row, report: Report) -> Field | None:
    path, type_, format_, required, nullable, constraints, description = row.cells
    path, type_ = unquote(path), unquote(type_)
    if not _FIELD_PATH.match(path):
        report.error(row.line, f"cannot read field name '{path}'")
        return None
    if not _TYPE.match(type_):
        report.error(row.line, f"field '{path}' has type '{type_}'; expected a JSON type or a schema name")
        return None
    if not (type_ := _union(type_, row.line, report)):
        return None
    is_item, is_value = path.endswith("[]"), path.endswith("{}")
    if is_item:
        flags = _item_flags(required, nullable, row.line, report)
    elif is_value:
        flags = _value_flags(required, nullable, row.line, report)
    else:
        flags = _flags(required, nullable, row, report)
    return Field(
        path=path,
        name="" if is_item or is_value else path.rsplit(".", 1)[-1],
        type=type_,
        format=read_format(format_, type_, row.line, report),
        required=flags[0],
        nullable=flags[1],
        constraints=parse_constraints(constraints, type_, row.line, report),
        description=description,
        line=row.line,
    )


def _union(type_: str, line: int, report: Report) -> str:
    """*type_* as one type or a union of scalar types and schema names; members it cannot join are reported
    and left out ("" when none is left)."""
    written = _OR.split(type_)
    if len(written) == 1:
        return type_
    spelled = UNION.join(written)
    members: list[str] = []
    for member in written:
        if member in FIELD_TYPES and member not in SCALAR_TYPES:
            problem = f"union '{spelled}' cannot join '{member}'; a union joins scalar types and schema names"
            report.error(line, problem)
        elif member in members:
            report.error(line, f"union '{spelled}' names '{member}' twice")
        else:
            members.append(member)
    return UNION.join(members)


def _flags(required: str, nullable: str, row: Row, report: Report) -> tuple[bool, bool]:
    is_required = read_flag(required, "Required", row.line, report)
    is_nullable = read_flag(nullable, "Nullable", row.line, report)
    return bool(is_required), bool(is_nullable)


def _item_flags(required: str, nullable: str, line: int, report: Report) -> tuple[bool, bool]:
    # An item is neither required nor optional: it is there whenever the array has an element.
    if required.strip() or nullable.strip():
        report.error(line, "an item row (`[]`) leaves Required and Nullable empty")
    return False, False


def _value_flags(required: str, nullable: str, line: int, report: Report) -> tuple[bool, bool]:
    # A map has no fixed keys, so no value is required; a value may be null when Nullable says so.
    if required.strip():
        report.error(line, "a map value row (`{}`) leaves Required empty")
    return False, bool(nullable.strip()) and bool(read_flag(nullable, "Nullable", line, report))


class _Tree:
    """Fields by their written path, attached to their parents as the rows arrive."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.roots: list[Field] = []
        self.by_path: dict[str, Field] = {}

    def add(self, field: Field) -> None:
        if (first := self.by_path.get(field.path)) is not None:
            self.report.error(field.line, f"field '{field.path}' is listed twice (first on line {first.line})")
            return
        parent = _parent_path(field.path)
        if parent is None:
            self.roots.append(field)
        elif not self._attach(field, parent):
            return
        self.by_path[field.path] = field

    def _attach(self, field: Field, parent_path: str) -> bool:
        parent = self.by_path.get(parent_path)
        wanted = _PARENT_TYPES.get(field.path[-2:], "object")
        if parent is None:
            self.report.error(field.line, f"row '{field.path}' comes before (or without) its parent '{parent_path}'")
        elif parent.type != wanted:
            problem = f"'{parent_path}' is {_a(parent.type)}, not {_a(wanted)}; it cannot have the row '{field.path}'"
            self.report.error(field.line, problem)
        elif wanted == "array":
            parent.items = field
        elif wanted == "map":
            parent.values = field
        else:
            parent.members.append(field)
        return parent is not None and parent.type == wanted

    def check_items(self) -> None:
        for field in self.by_path.values():
            if field.type == "array" and field.items is None:
                self.report.error(field.line, f"array '{field.path}' has no '{field.path}[]' row for its items")
            if field.type == "map" and field.values is None:
                self.report.error(field.line, f"map '{field.path}' has no '{field.path}{{}}' row for its values")


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in ('a', 'e', 'i', 'o', 'u') else 'a'} {word}"


def _parent_path(path: str) -> str | None:
    if path.endswith(("[]", "{}")):
        return path[:-2]
    return path.rsplit(".", 1)[0] if "." in path else None


# -- parameter and status tables --------------------------------------------------------------------------


def parse_parameters(table: Table, report: Report) -> list[Parameter]:
    """The parameters of a ``### Parameters`` table; a parameter listed twice is reported."""
    parameters: dict[tuple[str, str], Parameter] = {}
    for row in table_rows(table, PARAMETER_COLUMNS, report):
        parameter = _parameter(row, report)
        if parameter is None:
            continue
        key = (parameter.name, parameter.location)
        if key in parameters:
            report.error(row.line, f"{parameter.location} parameter '{parameter.name}' is listed twice")
        else:
            parameters[key] = parameter
    return list(parameters.values())


def _parameter(row: Row, report: Report) -> Parameter | None:
    name, location, type_, format_, required, constraints, description = row.cells
    name, where, type_ = unquote(name), _LOCATIONS.get(unquote(location).lower()), unquote(type_)
    if not _PARAMETER_NAME.match(name):
        report.error(row.line, f"cannot read parameter name '{name}'")
    elif where is None:
        report.error(row.line, f"parameter '{name}' is in '{location}'; expected path, query or header")
    elif type_ not in SCALAR_TYPES:
        report.error(row.line, f"parameter '{name}' has type '{type_}'; expected {', '.join(SCALAR_TYPES)}")
    else:
        is_required = _parameter_required(name, where, required, row.line, report)
        format_name = read_format(format_, type_, row.line, report)
        rules = parse_constraints(constraints, type_, row.line, report)
        return Parameter(name, where, type_, format_name, is_required, rules, description, row.line)
    return None


def _parameter_required(name: str, where: str, cell: str, line: int, report: Report) -> bool:
    required = read_flag(cell, "Required", line, report)
    if where == "path" and required is False:
        report.error(line, f"path parameter '{name}' is always required; its Required says no")
    return where == "path" or bool(required)


def parse_statuses(table: Table, report: Report) -> list[Status]:
    """The rows of a ``### Responses`` table; a code listed twice, or not a status code, is reported."""
    statuses: dict[int, Status] = {}
    for row in table_rows(table, STATUS_COLUMNS, report):
        code = unquote(row.cells[0])
        if not re.fullmatch(r"[1-5]\d\d", code):
            report.error(row.line, f"'{code}' is not an HTTP status code")
        elif int(code) in statuses:
            report.error(row.line, f"status {code} is listed twice")
        else:
            statuses[int(code)] = Status(int(code), row.cells[1], row.line)
    return list(statuses.values())
