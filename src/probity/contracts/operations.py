"""One ``## METHOD /path`` section into an :class:`Operation`: its prose, its list keys, its subsections."""

from __future__ import annotations

import re
from collections.abc import Callable

from probity.contracts.bodies import parse_body
from probity.contracts.cells import read_flag, split_outside_code, unquote
from probity.contracts.diagnostics import Report
from probity.contracts.markdown import Blank, Comment, Item, Section, Table, split_sections
from probity.contracts.model import Operation, Parameter
from probity.contracts.prose import split_prose, summary_and_description, unplaced
from probity.contracts.tables import parse_parameters, parse_statuses

__all__ = ["parse_operation"]

_OPERATION_ID = re.compile(r"^[A-Za-z_]\w*$")
_RESPONSE = re.compile(r"^response\s+(?P<code>[1-5]\d\d)$")
# The keys every operation states, because the policy cannot assume them (canonical name -> as written).
_REQUIRED_KEYS = {"operation id": "Operation ID", "auth": "Auth", "phi": "PHI", "paginated": "Paginated"}


def parse_operation(section: Section, method: str, path: str, report: Report) -> Operation:
    r"""The operation a ``## METHOD /path`` section describes.

    >>> from pathlib import Path
    >>> from probity.contracts.markdown import split_sections, tokenize
    >>> text = "## GET /pets\n\nLists pets.\n\n- **Roles:** OWNER, VET\n- **PHI:** no\n"
    >>> _, [section] = split_sections(tokenize(text), 2)
    >>> operation = parse_operation(section, "GET", "/pets", Report(Path("api.md")))
    >>> operation.summary, operation.roles, operation.phi
    ('Lists pets.', ('OWNER', 'VET'), False)
    """
    operation = Operation(method, path, section.heading.line)
    lead, subsections = split_sections(section.blocks, 3)
    items, paragraphs = split_prose(lead, f"in {operation.label}", report)
    operation.summary, operation.description = summary_and_description(paragraphs)
    for item in items:
        if isinstance(item, Item):
            _read_key(operation, item, report)
    seen: dict[str, int] = {}
    for subsection in subsections:
        _read_subsection(operation, subsection, seen, report)
    _check_keys(operation, report)
    return operation


# -- the list keys --------------------------------------------------------------------------------------

KeyReader = Callable[[Operation, str, int, Report], None]


def _read_key(operation: Operation, item: Item, report: Report) -> None:
    name = " ".join(item.key.lower().split())
    reader = _KEY_READERS.get(name)
    if reader is None:
        report.error(item.line, f"unknown operation key '{item.key}'")
    elif name in operation.keys:
        report.error(item.line, f"key '{item.key}' is given twice (first on line {operation.keys[name]})")
    else:
        operation.keys[name] = item.line
        reader(operation, unquote(item.value), item.line, report)


def _operation_id(operation: Operation, value: str, line: int, report: Report) -> None:
    if _OPERATION_ID.match(value):
        operation.operation_id = value
    else:
        report.error(line, f"operation ID '{value}' is not an identifier (letters, digits, _)")


def _auth(operation: Operation, value: str, line: int, report: Report) -> None:
    if value.lower() == "bearer":
        operation.auth = "bearer"
    elif value.lower() == "none":
        operation.auth = "none"
    else:
        report.error(line, f"Auth is '{value}'; expected bearer or none")


def _tags(operation: Operation, value: str, line: int, report: Report) -> None:
    operation.tags = _words(value)


def _roles(operation: Operation, value: str, line: int, report: Report) -> None:
    operation.roles = _words(value)


def _words(value: str) -> tuple[str, ...]:
    return tuple(unquote(word) for word in split_outside_code(value, ","))


def _phi(operation: Operation, value: str, line: int, report: Report) -> None:
    operation.phi = read_flag(value, "PHI", line, report)


def _paginated(operation: Operation, value: str, line: int, report: Report) -> None:
    operation.paginated = read_flag(value, "Paginated", line, report)


def _destructive(operation: Operation, value: str, line: int, report: Report) -> None:
    operation.destructive = bool(read_flag(value, "Destructive", line, report))


_KEY_READERS: dict[str, KeyReader] = {
    "operation id": _operation_id,
    "tags": _tags,
    "auth": _auth,
    "roles": _roles,
    "phi": _phi,
    "paginated": _paginated,
    "destructive": _destructive,
}


def _check_keys(operation: Operation, report: Report) -> None:
    for key, written in _REQUIRED_KEYS.items():
        if key not in operation.keys:
            report.error(operation.line, f"{operation.label} has no `- **{written}:**` line")
    if operation.auth == "bearer" and not operation.roles:
        report.error(operation.keys["auth"], f"{operation.label} is Auth: bearer but names no Roles")
    if operation.auth == "none" and operation.roles:
        report.error(operation.keys["roles"], f"{operation.label} is Auth: none, so it has no Roles")


# -- the subsections ------------------------------------------------------------------------------------


def _read_subsection(operation: Operation, section: Section, seen: dict[str, int], report: Report) -> None:
    title = section.heading.text
    name = " ".join(title.lower().split())
    if name in seen:
        report.error(section.heading.line, f"a second '### {title}' section (first on line {seen[name]})")
        return
    seen[name] = section.heading.line
    if name == "parameters":
        operation.parameters = _parameters(section, report)
    elif name == "request body":
        operation.request_body = parse_body(section, report)
    elif name == "responses":
        _responses(operation, section, report)
    elif response := _RESPONSE.match(name):
        operation.responses[int(response["code"])] = parse_body(section, report)
    else:
        expected = "Parameters, Request body, Response STATUS or Responses"
        report.error(section.heading.line, f"unknown operation section '### {title}'; expected {expected}")


def _parameters(section: Section, report: Report) -> list[Parameter]:
    table = _only_table(section, report)
    return parse_parameters(table, report) if table else []


def _responses(operation: Operation, section: Section, report: Report) -> None:
    operation.statuses_line = section.heading.line
    table = _only_table(section, report)
    operation.statuses = parse_statuses(table, report) if table else []


def _only_table(section: Section, report: Report) -> Table | None:
    """The one table of a section that holds nothing else; everything else in it is reported."""
    table = None
    for block in section.blocks:
        if isinstance(block, Table) and table is None:
            table = block
        elif not isinstance(block, Blank | Comment):
            unplaced(block, f"in '### {section.heading.text}'", report)
    return table
