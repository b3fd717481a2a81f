"""Markdown structure, read line by line: the few block kinds the reference convention is made of.

This is not a general Markdown parser. It knows ATX headings, ``- **Key:** value`` list items, pipe
tables, fenced code blocks, HTML comments, blank lines, and treats every other line as text. Each block
keeps the 1-based line it starts on, so every later diagnostic can say where.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Blank",
    "Block",
    "Comment",
    "Fence",
    "Heading",
    "Item",
    "Row",
    "Section",
    "Table",
    "Text",
    "split_cells",
    "split_sections",
    "tokenize",
]

_HEADING = re.compile(r"^ {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<text>.*?))?(?:[ \t]+#+)?[ \t]*$")
# Both `- **Key:** value` (the convention) and the common slip `- **Key**: value` read the same.
_ITEM = re.compile(r"^\s*[-*+]\s+\*\*(?P<key>[^*:]+?)(?::\*\*|\*\*:)[ \t]*(?P<value>.*?)\s*$")
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
_DELIMITER = re.compile(r"^\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    line: int


@dataclass(frozen=True)
class Item:
    """A ``- **Key:** value`` list item."""

    key: str
    value: str
    line: int


@dataclass(frozen=True)
class Row:
    cells: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Table:
    """A pipe table; ``delimited`` is false when its second line is not a ``| --- |`` row."""

    header: Row
    rows: tuple[Row, ...]
    delimited: bool

    @property
    def line(self) -> int:
        return self.header.line


@dataclass(frozen=True)
class Fence:
    """A fenced code block; ``closed`` is false when the document ends inside it."""

    info: str
    text: str
    line: int
    closed: bool


@dataclass(frozen=True)
class Comment:
    """An HTML comment: invisible to readers, so skipped by the parser (but an unclosed one is reported)."""

    line: int
    closed: bool


@dataclass(frozen=True)
class Text:
    text: str
    line: int


@dataclass(frozen=True)
class Blank:
    line: int


Block = Heading | Item | Table | Fence | Comment | Text | Blank


@dataclass(frozen=True)
class Section:
    """A heading and the blocks under it, up to the next heading of the same or a higher level."""

    heading: Heading
    blocks: tuple[Block, ...]


def tokenize(text: str) -> list[Block]:
    """Split *text* into blocks, each knowing its first line.

    >>> [type(block).__name__ for block in tokenize("# Title\\n\\n- **Version:** 1\\n| a |\\n| - |\\n")]
    ['Heading', 'Blank', 'Item', 'Table']
    >>> tokenize("- **Base path:** `/v1`")[0]
    Item(key='Base path', value='`/v1`', line=1)
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        block, index = _next_block(lines, index)
        blocks.append(block)
    return blocks


def _next_block(lines: Sequence[str], index: int) -> tuple[Block, int]:
    line = lines[index]
    if fence := _FENCE.match(line):
        return _fence(lines, index, fence)
    if line.lstrip().startswith("<!--"):
        return _comment(lines, index)
    if line.lstrip().startswith("|"):
        return _table(lines, index)
    return _single(line, index + 1), index + 1


def _single(line: str, number: int) -> Block:
    if not line.strip():
        return Blank(number)
    if heading := _HEADING.match(line):
        return Heading(len(heading["hashes"]), (heading["text"] or "").strip(), number)
    if item := _ITEM.match(line):
        return Item(item["key"].strip(), item["value"], number)
    return Text(line.rstrip(), number)


def _fence(lines: Sequence[str], start: int, opening: re.Match[str]) -> tuple[Fence, int]:
    marker = opening["fence"]
    for end in range(start + 1, len(lines)):
        closing = lines[end].strip()
        # A closing fence uses the opening's character, at least as many times, and nothing else.
        if closing.startswith(marker) and set(closing) == {marker[0]}:
            body = textwrap.dedent("\n".join(lines[start + 1 : end]))
            return Fence(opening["info"], body, start + 1, closed=True), end + 1
    return Fence(opening["info"], "\n".join(lines[start + 1 :]), start + 1, closed=False), len(lines)


def _comment(lines: Sequence[str], start: int) -> tuple[Comment, int]:
    for end in range(start, len(lines)):
        if "-->" in lines[end]:
            return Comment(start + 1, closed=True), end + 1
    return Comment(start + 1, closed=False), len(lines)


def _table(lines: Sequence[str], start: int) -> tuple[Table, int]:
    end = start
    while end < len(lines) and lines[end].lstrip().startswith("|"):
        end += 1
    rows = [Row(split_cells(lines[number]), number + 1) for number in range(start, end)]
    delimited = end - start > 1 and bool(_DELIMITER.match(lines[start + 1].strip()))
    body = rows[2:] if delimited else rows[1:]
    return Table(rows[0], tuple(body), delimited), end


def split_cells(line: str) -> tuple[str, ...]:
    r"""The cells of one table line; ``\|`` is a literal pipe inside a cell, as in GitHub's tables.

    >>> split_cells(r"| pattern | `^a\|b$` |")
    ('pattern', '`^a|b$`')
    """
    inner = line.strip().removeprefix("|")
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return tuple(cell.strip().replace("\\|", "|") for cell in _UNESCAPED_PIPE.split(inner))


def split_sections(blocks: Sequence[Block], level: int) -> tuple[tuple[Block, ...], list[Section]]:
    """The blocks before the first heading of *level*, and one section per such heading.

    Headings of a deeper level stay inside their section's blocks; a heading of a higher level (fewer
    ``#``) also starts a new section, so nothing leaks from one part of the document into another.
    """
    heads = [(i, block) for i, block in enumerate(blocks) if isinstance(block, Heading) and block.level <= level]
    if not heads:
        return tuple(blocks), []
    ends = [i for i, _ in heads[1:]] + [len(blocks)]
    lead = tuple(blocks[: heads[0][0]])
    sections = [Section(head, tuple(blocks[i + 1 : end])) for (i, head), end in zip(heads, ends, strict=True)]
    return lead, sections
