"""``### Request body`` and ``### Response STATUS`` sections: a schema line, a field table, a content type,
``No body.``, and an optional example."""

from __future__ import annotations

import json
import re

from probity.contracts.cells import unquote
from probity.contracts.diagnostics import Report
from probity.contracts.markdown import Blank, Block, Comment, Fence, Section, Table, Text
from probity.contracts.model import Body, Example, SchemaRef
from probity.contracts.prose import unplaced
from probity.contracts.tables import parse_fields

__all__ = ["parse_body"]

_SCHEMA_LINE = re.compile(r"^Schema:\s*(?P<value>.*)$", re.IGNORECASE)
_CONTENT_TYPE_LINE = re.compile(r"^Content-Type:\s*(?P<value>.*)$", re.IGNORECASE)
_NO_BODY_LINE = re.compile(r"^No body\.?$", re.IGNORECASE)
_SCHEMA_VALUE = re.compile(r"^(?:(?P<kind>Page|Array)\s+of\s+)?(?P<name>[A-Za-z_]\w*)$", re.IGNORECASE)
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


def parse_body(section: Section, report: Report) -> Body:
    r"""The body a request or response section describes.

    >>> from pathlib import Path
    >>> from probity.contracts.markdown import split_sections, tokenize
    >>> _, [section] = split_sections(tokenize("### Response 200\n\nSchema: Page of Pet\n"), 3)
    >>> parse_body(section, Report(Path("api.md"))).schema
    SchemaRef(kind='page', name='Pet', line=3)
    """
    body = Body(section.heading.line)
    where = f"in '### {section.heading.text}'"
    for block in section.blocks:
        _read_block(body, block, where, report)
    _check(body, section, report)
    return body


def _read_block(body: Body, block: Block, where: str, report: Report) -> None:
    if isinstance(block, Text):
        _read_line(body, block, where, report)
    elif isinstance(block, Table) and body.fields is None:
        body.fields = parse_fields(block, report)
    elif isinstance(block, Fence) and body.example is None:
        body.example = _example(block, report)
    elif not isinstance(block, Blank | Comment):
        unplaced(block, where, report)


def _read_line(body: Body, block: Text, where: str, report: Report) -> None:
    text = block.text.strip()
    if (schema := _SCHEMA_LINE.match(text)) and body.schema is None:
        body.schema = _schema_ref(schema["value"], block.line, report)
    elif (content_type := _CONTENT_TYPE_LINE.match(text)) and body.content_type is None:
        body.content_type = _media_type(content_type["value"], block.line, report)
    elif _NO_BODY_LINE.match(text):
        body.no_body = True
    else:
        unplaced(block, where, report)


def _schema_ref(value: str, line: int, report: Report) -> SchemaRef | None:
    match = _SCHEMA_VALUE.match(unquote(value))
    if match is None:
        report.error(line, f"cannot read 'Schema: {value}'; expected NAME, Page of NAME or Array of NAME")
        return None
    kind = (match["kind"] or "").lower()
    return SchemaRef("page" if kind == "page" else "array" if kind == "array" else "named", match["name"], line)


def _media_type(value: str, line: int, report: Report) -> str | None:
    media_type = unquote(value)
    if not _MEDIA_TYPE.match(media_type):
        report.error(line, f"cannot read 'Content-Type: {value}'; expected a media type like text/event-stream")
        return None
    return media_type


def _example(block: Fence, report: Report) -> Example | None:
    if block.info.split()[:1] != ["json"]:
        return Example(block.text, block.line)
    try:
        return Example(json.loads(block.text), block.line)
    except json.JSONDecodeError as exc:
        report.error(block.line + exc.lineno, f"example is not valid JSON: {exc.msg}")
        return None


def _check(body: Body, section: Section, report: Report) -> None:
    has_schema = body.schema is not None or body.fields is not None
    if body.schema is not None and body.fields is not None:
        report.error(body.line, "section gives both `Schema:` and a field table; expected one")
    if body.no_body and (has_schema or body.content_type or body.example):
        report.error(body.line, "section says `No body.` but also gives a schema, content type or example")
    # A section with lines in it that were all unreadable has been reported line by line already.
    if all(isinstance(block, Blank | Comment) for block in section.blocks):
        report.error(body.line, "section is empty; expected `Schema:`, a field table, `Content-Type:` or `No body.`")
