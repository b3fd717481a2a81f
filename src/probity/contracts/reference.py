"""Read an API reference written to the convention (``reference-convention.md``) into a :class:`Reference`.

The document is read line-wise into blocks (:mod:`probity.contracts.markdown`), split at its headings,
and each level-2 section is read by what its heading says it is: a named schema, an operation, or prose
for people, which is skipped with a note. Whatever does not follow the convention becomes a diagnostic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from probity.contracts.cells import unquote
from probity.contracts.checks import check_reference
from probity.contracts.diagnostics import Diagnostic, Report
from probity.contracts.markdown import (
    Blank,
    Block,
    Comment,
    Fence,
    Heading,
    Item,
    Section,
    Table,
    split_sections,
    tokenize,
)
from probity.contracts.model import FIELD_TYPES, METHODS, Authentication, Reference, Schema
from probity.contracts.operations import parse_operation
from probity.contracts.prose import split_prose, unplaced
from probity.contracts.tables import parse_fields
from probity.core.errors import ConfigError

__all__ = ["parse_reference"]

_SCHEMA_HEADING = re.compile(r"^Schema:\s*(?P<name>.*)$", re.IGNORECASE)
_SCHEMA_NAME = re.compile(r"^[A-Za-z_]\w*$")
# Segments of letters, digits and -._~: (and {parameters}), each after a slash.
_PATH = re.compile(r"^(?:/(?:[\w.~:-]|\{[A-Za-z_]\w*\})*)+$")
_AUTHENTICATION = re.compile(r"^(?P<scheme>\w+)(?:\s+(?P<format>[A-Za-z][\w-]*))?(?:\s.*)?$")


def parse_reference(text: str, path: Path | str = "api-reference.md") -> tuple[Reference, tuple[Diagnostic, ...]]:
    r"""Read the reference *text* (from the file *path*, for messages) into a model and its diagnostics.

    Raises :class:`~probity.core.errors.ConfigError` only when the text has no title at all; everything
    else that does not follow the convention is a diagnostic.

    >>> text = '''# Pets API
    ...
    ... - **Version:** 1.0.0
    ... - **Owner:** the pets team
    ...
    ... ## Conventions
    ... '''
    >>> reference, diagnostics = parse_reference(text, "pets.md")
    >>> reference.title, reference.version
    ('Pets API', '1.0.0')
    >>> for diagnostic in diagnostics:
    ...     print(diagnostic)
    pets.md:4: unknown front-matter key 'Owner'
    pets.md:6: note: skipped section 'Conventions' (prose for people)
    """
    report = Report(Path(path))
    blocks = tokenize(text)
    _report_unclosed(blocks, report)
    title, rest = _title(blocks, report)
    reference = Reference(report.path, title.text, title.line)
    head, sections = split_sections(rest, 2)
    _front_matter(reference, head, report)
    for section in sections:
        _read_section(reference, section, report)
    check_reference(reference, report)
    return reference, report.in_order()


def _report_unclosed(blocks: Sequence[Block], report: Report) -> None:
    for block in blocks:
        if isinstance(block, Fence | Comment) and not block.closed:
            kind = "code block" if isinstance(block, Fence) else "HTML comment"
            report.error(block.line, f"this {kind} is never closed; it swallows the rest of the document")


def _title(blocks: Sequence[Block], report: Report) -> tuple[Heading, list[Block]]:
    titles = [block for block in blocks if isinstance(block, Heading) and block.level == 1]
    if not titles:
        raise ConfigError("no level-1 heading: the reference starts with `# TITLE`", report.path, 1)
    start = blocks.index(titles[0])
    for block in blocks[:start]:
        if not isinstance(block, Blank | Comment):
            unplaced(block, "before the title", report)
    for extra in titles[1:]:
        report.error(extra.line, f"a second title '# {extra.text}'; a reference has one level-1 heading")
    return titles[0], [block for block in blocks[start + 1 :] if block not in titles]


# -- the front matter -----------------------------------------------------------------------------------

FrontReader = Callable[[Reference, str, int, Report], None]


def _front_matter(reference: Reference, head: Sequence[Block], report: Report) -> None:
    items, paragraphs = split_prose(head, "in the front matter", report)
    reference.description = "\n\n".join(paragraphs)
    seen: dict[str, int] = {}
    for item in items:
        if isinstance(item, Item):
            _front_key(reference, item, seen, report)
    if "version" not in seen:
        report.error(reference.line, "the front matter has no `- **Version:**` line")


def _front_key(reference: Reference, item: Item, seen: dict[str, int], report: Report) -> None:
    name = " ".join(item.key.lower().split())
    reader = _FRONT_READERS.get(name)
    if reader is None:
        report.error(item.line, f"unknown front-matter key '{item.key}'")
    elif name in seen:
        report.error(item.line, f"key '{item.key}' is given twice (first on line {seen[name]})")
    else:
        seen[name] = item.line
        reader(reference, item.value, item.line, report)


def _version(reference: Reference, value: str, line: int, report: Report) -> None:
    reference.version = unquote(value)


def _base_path(reference: Reference, value: str, line: int, report: Report) -> None:
    path = unquote(value)
    if _PATH.match(path) and "{" not in path:
        reference.base_path = path.rstrip("/") or "/"
    else:
        report.error(line, f"Base path '{path}' is not a path like /api/v1")


def _authentication(reference: Reference, value: str, line: int, report: Report) -> None:
    match = _AUTHENTICATION.match(value.strip())
    scheme = match["scheme"].lower() if match else ""
    if match and scheme == "bearer":
        reference.authentication = Authentication(match["format"], value.strip(), line)
    elif scheme != "none":
        report.error(line, f"unknown authentication '{value.strip()}'; expected `bearer [FORMAT] ...` or none")


_FRONT_READERS: dict[str, FrontReader] = {
    "version": _version,
    "base path": _base_path,
    "authentication": _authentication,
}


# -- the level-2 sections -------------------------------------------------------------------------------


def _read_section(reference: Reference, section: Section, report: Report) -> None:
    text = section.heading.text
    words = text.split()
    if schema := _SCHEMA_HEADING.match(text):
        _schema(reference, section, unquote(schema["name"]), report)
    elif words and (words[0] in METHODS or (len(words) == 2 and words[1].startswith("/"))):
        _operation(reference, section, report)
    else:
        report.note(section.heading.line, f"skipped section '{text}' (prose for people)")


def _schema(reference: Reference, section: Section, name: str, report: Report) -> None:
    line = section.heading.line
    if not _SCHEMA_NAME.match(name) or name in FIELD_TYPES or name == "or":
        report.error(line, f"schema name '{name}' is not a name (letters, digits, _; not a JSON type)")
    elif name in reference.schemas:
        report.error(line, f"schema '{name}' is defined twice (first on line {reference.schemas[name].line})")
    else:
        reference.schemas[name] = _schema_body(name, section, report)


def _schema_body(name: str, section: Section, report: Report) -> Schema:
    where = f"in schema '{name}'"
    tables, paragraphs = split_prose(section.blocks, where, report, keep=Table)
    schema = Schema(name, section.heading.line, "\n\n".join(paragraphs))
    if not tables:
        report.error(schema.line, f"schema '{name}' has no field table")
    for extra in tables[1:]:
        unplaced(extra, where, report)
    if tables and isinstance(tables[0], Table):
        schema.fields = parse_fields(tables[0], report)
    return schema


def _operation(reference: Reference, section: Section, report: Report) -> None:
    line = section.heading.line
    method, _, path = section.heading.text.partition(" ")
    path = unquote(path)
    first = next((op for op in reference.operations if (op.method, op.path) == (method, path)), None)
    if method not in METHODS:
        report.error(line, f"unknown method '{method}'; expected one of {', '.join(METHODS)}")
    elif not _PATH.match(path):
        report.error(line, f"cannot read the path '{path}'; expected /segments/{{parameter}}")
    elif first is not None:
        report.error(line, f"{method} {path} is described twice (first on line {first.line})")
    else:
        reference.operations.append(parse_operation(section, method, path, report))
