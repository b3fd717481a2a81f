"""Read an implementation blueprint (``backend-details.md``) into endpoints, SQL blocks and statements.

The blueprint has one ``## METHOD /path`` section per operation, ``- **Key:** value`` lines (Roles, Auth,
Transactions …) and one fenced ``sql`` block per database transaction. A block is split into statements on
sqlglot's tokenizer's semicolons (never by searching the text), and the ``-- key: value`` comment lines
before a statement are kept as its annotations (``step``, ``when``, ``params``, ``for each`` …). Every
statement keeps its file line, so each finding can name ``file:line``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from probity.contracts.markdown import Fence, Heading, Item, Section, split_sections, tokenize

__all__ = ["Blueprint", "Endpoint", "SqlBlock", "SqlStatement", "parse_blueprint"]

DIALECT = Dialect.get_or_raise("postgres")
_OPERATION = re.compile(r"^(?P<method>GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(?P<path>/\S*)$")
_ANNOTATION = re.compile(r"^--\s*(?P<key>[A-Za-z][\w ]*?)(?:\s+\d+)?\s*:\s*(?P<value>.*)$")


@dataclass(frozen=True)
class SqlStatement:
    """One statement of a block: its text (without the annotation comments), file line and annotations."""

    text: str
    line: int
    annotations: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    error: str | None = None  # the block could not even be tokenized

    def note(self, key: str) -> str | None:
        """The annotation *key* (``when``, ``step``, ``params`` …), or None."""
        return self.annotations.get(key)


@dataclass(frozen=True)
class SqlBlock:
    """One fenced SQL block: one database transaction of the operation, in the order they run."""

    line: int
    statements: tuple[SqlStatement, ...]
    name: str | None = None  # the ``-- transaction: NAME`` annotation

    @property
    def last_line(self) -> int:
        return self.statements[-1].line if self.statements else self.line


@dataclass(frozen=True)
class Endpoint:
    """One operation section of the blueprint."""

    label: str  # "METHOD /path"
    line: int
    keys: MappingProxyType[str, Item]
    blocks: tuple[SqlBlock, ...]

    def key(self, name: str) -> str | None:
        """The value of the ``- **name:**`` line (case-insensitive), or None."""
        item = next((item for key, item in self.keys.items() if key.lower() == name.lower()), None)
        return item.value if item else None

    @property
    def statements(self) -> Iterator[tuple[SqlBlock, SqlStatement]]:
        return ((block, statement) for block in self.blocks for statement in block.statements)


@dataclass(frozen=True)
class Blueprint:
    path: Path
    endpoints: MappingProxyType[str, Endpoint]


def parse_blueprint(text: str, path: Path | str = "backend-details.md") -> Blueprint:
    """Every ``## METHOD /path`` section of *text* with its keys and SQL blocks.

    >>> doc = "# B\\n\\n## GET /notes\\n\\n- **Auth:** bearer\\n\\n```sql\\n-- step 1: read\\n"
    >>> doc += "SELECT id FROM notes;\\n```\\n"
    >>> endpoint = parse_blueprint(doc).endpoints["GET /notes"]
    >>> endpoint.key("auth"), [(s.text, s.line, s.note("step")) for _, s in endpoint.statements]
    ('bearer', [('SELECT id FROM notes', 9, 'read')])
    """
    _, sections = split_sections(tokenize(text), 2)
    endpoints = (_endpoint(section) for section in sections if _OPERATION.match(section.heading.text))
    return Blueprint(Path(path), MappingProxyType({e.label: e for e in endpoints}))


def _endpoint(section: Section) -> Endpoint:
    match = _OPERATION.match(section.heading.text)
    assert match is not None  # filtered by the caller
    label = f"{match['method']} {match['path']}"
    own = _before_subheading(section.blocks)
    keys = {block.key: block for block in own if isinstance(block, Item)}
    fences = [block for block in section.blocks if isinstance(block, Fence) and block.info.lower() == "sql"]
    return Endpoint(label, section.heading.line, MappingProxyType(keys), tuple(_block(fence) for fence in fences))


def _before_subheading(blocks: Sequence[object]) -> list[object]:
    end = next((i for i, block in enumerate(blocks) if isinstance(block, Heading)), len(blocks))
    return list(blocks[:end])


def _block(fence: Fence) -> SqlBlock:
    first = fence.line + 1  # the fence's text starts on the line after the opening fence
    lines = fence.text.splitlines()
    try:
        tokens = DIALECT.tokenize(fence.text)
    except SqlglotError as exc:
        broken = SqlStatement(fence.text, first, error=f"cannot tokenize: {str(exc).splitlines()[0]}")
        return SqlBlock(fence.line, (broken,))
    statements = list(_statements(fence.text, tokens, lines, first))
    name = _block_name(lines)
    return SqlBlock(fence.line, tuple(statements), name)


def _block_name(lines: Sequence[str]) -> str | None:
    for line in lines:
        annotation = _ANNOTATION.match(line.strip())
        if annotation and annotation["key"].lower() == "transaction":
            return annotation["value"].strip()
    return None


def _statements(text: str, tokens: Sequence[Token], lines: Sequence[str], first: int) -> Iterator[SqlStatement]:
    current: list[Token] = []
    previous_end, step = 0, ""  # the 0-based line after the previous statement; the step stated last
    for token in [*tokens, None]:
        if token is not None and token.token_type is not TokenType.SEMICOLON:
            current.append(token)
            continue
        if current:
            start = _line_of(text, current[0].start)
            notes = _annotations(lines[previous_end:start])
            step = notes.get("step", step)  # alternatives of one step share the step stated before the first
            if step:
                notes["step"] = step
            body = text[current[0].start : current[-1].end + 1]
            yield SqlStatement(body, first + start, MappingProxyType(notes))
            previous_end = _line_of(text, token.start) + 1 if token is not None else len(lines)
        current = []


def _line_of(text: str, offset: int) -> int:
    # the 0-based line of a character offset (the tokenizer's own line count drifts on some comments)
    return text.count("\n", 0, offset)


def _annotations(lines: Sequence[str]) -> dict[str, str]:
    # Only the comment lines between two statements: a `-- step N:` starts a new step, so the step of a
    # statement is the last one stated before it (alternatives of one step share it).
    notes: dict[str, str] = {}
    for line in lines:
        annotation = _ANNOTATION.match(line.strip())
        if annotation:
            notes[annotation["key"].strip().lower()] = annotation["value"].strip()
    return notes
