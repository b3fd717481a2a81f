"""Prose for people: paragraphs and code blocks become descriptions; blocks that fit nowhere are reported."""

from __future__ import annotations

import re
from collections.abc import Iterable

from probity.contracts.diagnostics import Report
from probity.contracts.markdown import Blank, Block, Comment, Fence, Heading, Item, Table, Text

__all__ = ["split_prose", "summary_and_description", "unplaced"]

# A line that starts like a `- **Key:** value` item but is not one is a slip to report, not prose.
_BROKEN_ITEM = re.compile(r"^\s*[-*+]\s+\*\*")


def unplaced(block: Block, where: str, report: Report) -> None:
    """Report *block* as a line the convention has no place for *where* (e.g. ``in GET /pets``)."""
    report.error(block.line, f"cannot place {_what(block)} {where}")


def _what(block: Block) -> str:
    if isinstance(block, Heading):
        return f"the heading '{'#' * block.level} {block.text}'"
    if isinstance(block, Item):
        return f"the list key '{block.key}'"
    if isinstance(block, Text):
        return f"'{block.text.strip()}'"
    return "a table" if isinstance(block, Table) else "a code block"


def split_prose(
    blocks: Iterable[Block], where: str, report: Report, keep: type | tuple[type, ...] = Item
) -> tuple[list[Block], list[str]]:
    """The blocks of type *keep*, and the paragraphs and code blocks around them as Markdown.

    Anything else (a heading, or a table when tables are not kept) is reported as unplaceable *where*.

    >>> from pathlib import Path
    >>> from probity.contracts.markdown import tokenize
    >>> report = Report(Path("api.md"))
    >>> blocks = tokenize("Reads a pet.\\n\\n- **PHI:** no\\n\\nMore.\\nText.")
    >>> kept, prose = split_prose(blocks, "here", report)
    >>> [item.key for item in kept], prose
    (['PHI'], ['Reads a pet.', 'More.\\nText.'])
    """
    kept: list[Block] = []
    paragraphs: list[str] = []
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Text) and not _broken_item(block, report):
            lines.append(block.text)
            continue
        _flush(lines, paragraphs)
        if isinstance(block, keep):
            kept.append(block)
        elif isinstance(block, Fence):
            paragraphs.append(f"```{block.info}\n{block.text}\n```")
        elif not isinstance(block, Blank | Comment | Text):
            unplaced(block, where, report)
    _flush(lines, paragraphs)
    return kept, paragraphs


def _broken_item(block: Text, report: Report) -> bool:
    if _BROKEN_ITEM.match(block.text):
        report.error(block.line, f"cannot read '{block.text.strip()}'; expected `- **Key:** value`")
        return True
    return False


def _flush(lines: list[str], paragraphs: list[str]) -> None:
    if lines:
        paragraphs.append("\n".join(lines))
        lines.clear()


def summary_and_description(paragraphs: list[str]) -> tuple[str, str]:
    """The first paragraph on one line (the summary), and the other paragraphs (the description).

    >>> summary_and_description(["Reads one\\npet.", "Only its owner may.", "```\\nGET\\n```"])
    ('Reads one pet.', 'Only its owner may.\\n\\n```\\nGET\\n```')
    """
    if not paragraphs:
        return "", ""
    return " ".join(paragraphs[0].split()), "\n\n".join(paragraphs[1:])
