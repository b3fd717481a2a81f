"""Table cells: formats, yes/no flags, scalar values and the ``Constraints`` column.

A cell that cannot be read is reported and left out, never guessed at: a wrong ``maxLength`` would make
the contract lie about the API. On a union type (``string or integer``) a format or constraint applies to
the members it fits; one that fits none is reported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from probity.contracts.diagnostics import Report
from probity.contracts.model import SCALAR_TYPES, Constraints, union_members

__all__ = [
    "FORMATS",
    "KEYWORD_TYPES",
    "parse_constraints",
    "read_flag",
    "read_format",
    "read_scalar",
    "split_outside_code",
    "unquote",
]

_STRINGS = frozenset({"string"})
_NUMBERS = frozenset({"integer", "number"})

# format -> the types it applies to: the formats of the convention and OpenAPI's own registry.
FORMATS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("uuid", "date", "date-time", "time", "email", "uri", "password"), _STRINGS),
    **dict.fromkeys(("byte", "binary", "hostname", "ipv4", "ipv6"), _STRINGS),
    "int32": frozenset({"integer"}),
    "int64": frozenset({"integer"}),
    "float": frozenset({"number"}),
    "double": frozenset({"number"}),
}


def unquote(text: str) -> str:
    """*text* without surrounding blanks and one pair of surrounding backticks.

    >>> unquote(" `/api/v1` ")
    '/api/v1'
    """
    text = text.strip()
    return text[1:-1].strip() if len(text) > 1 and text[0] == text[-1] == "`" else text


def split_outside_code(text: str, separator: str) -> list[str]:
    """Split on *separator*, except inside backticks (a pattern may hold a ``;`` or a ``,``).

    >>> split_outside_code("pattern: `^a;b$`; maxLength: 3", ";")
    ['pattern: `^a;b$`', 'maxLength: 3']
    """
    parts, current, in_code = [], "", False
    for char in text:
        in_code = not in_code if char == "`" else in_code
        if char == separator and not in_code:
            parts.append(current)
            current = ""
        else:
            current += char
    return [part.strip() for part in [*parts, current] if part.strip()]


def read_flag(cell: str, column: str, line: int, report: Report) -> bool | None:
    """A ``yes``/``no`` cell as a boolean; anything else is reported and gives ``None``."""
    value = unquote(cell).lower()
    if value in ("yes", "no"):
        return value == "yes"
    report.error(line, f"{column} is '{cell}'; expected yes or no")
    return None


def read_format(cell: str, type_: str, line: int, report: Report) -> str | None:
    """The format in *cell* if it is known and fits *type_* (a member of it, for a union); reported and
    ``None`` otherwise."""
    name = unquote(cell)
    if not name:
        return None
    if name not in FORMATS:
        report.error(line, f"unknown format '{name}'")
        return None
    if FORMATS[name].isdisjoint(union_members(type_)):
        report.error(line, f"format '{name}' does not apply to type '{type_}'")
        return None
    return name


def read_scalar(text: str, type_: str) -> Any:
    """*text* as a value of the scalar *type_*; raises :class:`ValueError` with the reason.

    >>> read_scalar("20", "integer"), read_scalar("yes", "boolean"), read_scalar("`a b`", "string")
    (20, True, 'a b')
    """
    value = unquote(text)
    if type_ == "integer":
        return _integer(value)
    if type_ == "number":
        return _number(value)
    if type_ == "boolean":
        return _boolean(value)
    return value


def _integer(value: str) -> int:
    if not re.fullmatch(r"[-+]?\d+", value):
        raise ValueError("expected an integer")
    return int(value)


def _number(value: str) -> int | float:
    if re.fullmatch(r"[-+]?\d+", value):
        return int(value)
    try:
        number = float(value)
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("yes", "no", "true", "false"):
        raise ValueError("expected yes or no")
    return lowered in ("yes", "true")


def _count(text: str, _type: str) -> int:
    count = _integer(unquote(text))
    if count < 0:
        raise ValueError("expected a whole number of 0 or more")
    return count


def _enum(text: str, type_: str) -> list[Any]:
    values = [read_scalar(value, type_) for value in split_outside_code(text, ",")]
    if not values:
        raise ValueError("expected comma-separated values")
    return values


def _pattern(text: str, _type: str) -> str:
    pattern = unquote(text)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc})") from None
    return pattern


def _default(text: str, type_: str) -> Any:
    return None if unquote(text) == "null" else read_scalar(text, type_)


def _additional(text: str, _type: str) -> bool:
    return _boolean(unquote(text))


def _key_pattern(text: str, type_: str) -> dict[str, str]:
    return {"pattern": _pattern(text, type_)}


@dataclass(frozen=True)
class _Constraint:
    keyword: str  # the OpenAPI keyword it becomes
    read: Callable[[str, str], Any]  # (value text, field type) -> value; ValueError says why not
    types: frozenset[str]  # the types it applies to
    per_member: bool = True  # on a union, it applies to the members it fits (enum and default do not split)


# In the convention's order, which is also the order of the keywords in the contract.
_CONSTRAINTS: dict[str, _Constraint] = {
    "enum": _Constraint("enum", _enum, frozenset(SCALAR_TYPES), per_member=False),
    "min": _Constraint("minimum", read_scalar, _NUMBERS),
    "max": _Constraint("maximum", read_scalar, _NUMBERS),
    "exclusivemin": _Constraint("exclusiveMinimum", read_scalar, _NUMBERS),
    "exclusivemax": _Constraint("exclusiveMaximum", read_scalar, _NUMBERS),
    "minlength": _Constraint("minLength", _count, _STRINGS),
    "maxlength": _Constraint("maxLength", _count, _STRINGS),
    "pattern": _Constraint("pattern", _pattern, _STRINGS),
    "minitems": _Constraint("minItems", _count, frozenset({"array"})),
    "maxitems": _Constraint("maxItems", _count, frozenset({"array"})),
    "default": _Constraint("default", _default, frozenset(SCALAR_TYPES), per_member=False),
    "additionalproperties": _Constraint("additionalProperties", _additional, frozenset({"object"})),
    "keypattern": _Constraint("propertyNames", _key_pattern, frozenset({"map"})),
    "minproperties": _Constraint("minProperties", _count, frozenset({"map"})),
    "maxproperties": _Constraint("maxProperties", _count, frozenset({"map"})),
}
_ORDER = [constraint.keyword for constraint in _CONSTRAINTS.values()]

# OpenAPI keyword -> the types it applies to: what a union's member schema takes of the field's constraints.
KEYWORD_TYPES: dict[str, frozenset[str]] = {rule.keyword: rule.types for rule in _CONSTRAINTS.values()}


def parse_constraints(cell: str, type_: str, line: int, report: Report) -> Constraints:
    """The ``Constraints`` cell of a row of type *type_* as OpenAPI keywords; the unreadable is reported.

    >>> from pathlib import Path
    >>> report = Report(Path("api.md"))
    >>> parse_constraints("min: 1; max: 100; default: 20", "integer", 4, report)
    {'minimum': 1, 'maximum': 100, 'default': 20}
    >>> parse_constraints("maxLength: ten", "string", 5, report), str(report.diagnostics[0])
    ({}, "api.md:5: cannot read constraint 'maxLength: ten': expected an integer")
    >>> parse_constraints("maxLength: 256; min: -0.5; maxProperties: 3", "string or integer or number", 6, report)
    {'minimum': -0.5, 'maxLength': 256}
    >>> str(report.diagnostics[1])
    "api.md:6: constraint 'maxProperties' fits no member of 'string or integer or number'"
    """
    found: Constraints = {}
    for part in split_outside_code(cell, ";"):
        if (constraint := _constraint(part, type_, found, line, report)) is not None:
            _read(constraint, part, type_, found, line, report)
    return {keyword: found[keyword] for keyword in _ORDER if keyword in found}


def _constraint(part: str, type_: str, found: Constraints, line: int, report: Report) -> _Constraint | None:
    key, colon, _ = part.partition(":")
    constraint = _CONSTRAINTS.get(key.strip().lower())
    is_union = len(union_members(type_)) > 1
    if not colon:
        report.error(line, f"cannot read constraint '{part}'; expected `key: value`")
    elif constraint is None:
        report.error(line, f"unknown constraint '{key.strip()}'")
    elif is_union and not constraint.per_member:
        report.error(line, f"constraint '{key.strip()}' does not apply to a union ('{type_}')")
    elif is_union and not _fitting(constraint, type_):
        report.error(line, f"constraint '{key.strip()}' fits no member of '{type_}'")
    elif not is_union and type_ not in constraint.types:
        report.error(line, f"constraint '{key.strip()}' does not apply to type '{type_}'")
    elif constraint.keyword in found:
        report.error(line, f"constraint '{key.strip()}' is given twice")
    else:
        return constraint
    return None


def _fitting(constraint: _Constraint, type_: str) -> list[str]:
    return [member for member in union_members(type_) if member in constraint.types]


def _read(constraint: _Constraint, part: str, type_: str, found: Constraints, line: int, report: Report) -> None:
    # On a union, a bound read as a number holds for its integer members too (JSON Schema allows 1.5 there).
    fitting = _fitting(constraint, type_)
    reading = "number" if "number" in fitting else fitting[0]
    try:
        found[constraint.keyword] = constraint.read(part.partition(":")[2].strip(), reading)
    except ValueError as exc:
        report.error(line, f"cannot read constraint '{part}': {exc}")
