"""The line-wise Markdown reader and the cells of tables: the structure the convention is built from."""

from __future__ import annotations

import pytest

from probity.contracts import parse_reference
from probity.contracts.cells import split_outside_code, unquote
from probity.contracts.markdown import (
    Comment,
    Fence,
    Heading,
    Item,
    Table,
    Text,
    split_cells,
    split_sections,
    tokenize,
)


def test_a_heading_inside_a_code_block_is_code() -> None:
    blocks = tokenize("```sh\n# not a heading\n## GET /x\n```\n## GET /y")
    assert [type(block) for block in blocks] == [Fence, Heading]
    assert isinstance(blocks[0], Fence) and blocks[0].text == "# not a heading\n## GET /x"
    assert blocks[1] == Heading(2, "GET /y", 5)


def test_an_indented_code_block_is_dedented() -> None:
    [fence] = tokenize('   ```json\n   {"a": 1}\n   ```')
    assert isinstance(fence, Fence) and (fence.info, fence.text, fence.closed) == ("json", '{"a": 1}', True)


def test_a_longer_fence_is_closed_only_by_as_long_a_fence() -> None:
    [fence] = tokenize("````\n```\n````")
    assert isinstance(fence, Fence) and fence.text == "```" and fence.closed


def test_html_comments_are_skipped_even_over_several_lines() -> None:
    blocks = tokenize("<!-- one\n# not a title\n-->\nText")
    assert blocks == [Comment(1, closed=True), Text("Text", 4)]


def test_list_keys_read_the_same_with_the_colon_inside_or_outside_the_bold() -> None:
    inside, outside = tokenize("- **Base path:** `/v1`\n- **Base path**: `/v1`")
    assert isinstance(inside, Item) and isinstance(outside, Item)
    assert (inside.key, inside.value) == (outside.key, outside.value) == ("Base path", "`/v1`")


def test_a_table_keeps_its_lines_and_knows_its_delimiter_row() -> None:
    [table] = tokenize("| a | b |\n| --- | :-: |\n| 1 | 2 |")
    assert isinstance(table, Table) and table.delimited
    assert (table.header.cells, table.rows[0].cells, table.rows[0].line) == (("a", "b"), ("1", "2"), 3)
    [undelimited] = tokenize("| a | b |\n| 1 | 2 |")
    assert isinstance(undelimited, Table) and not undelimited.delimited and len(undelimited.rows) == 1


@pytest.mark.parametrize(
    ("line", "cells"),
    [
        ("| a | b |", ("a", "b")),
        ("a | b", ("a", "b")),
        ("| pattern: `^(a\\|b)$` | x |", ("pattern: `^(a|b)$`", "x")),
        ("| | |", ("", "")),
    ],
)
def test_cells_split_on_unescaped_pipes(line: str, cells: tuple[str, ...]) -> None:
    assert split_cells(line) == cells


def test_constraints_split_outside_backticks() -> None:
    assert split_outside_code("pattern: `^[;,]$`; enum: a, b", ";") == ["pattern: `^[;,]$`", "enum: a, b"]
    assert split_outside_code("`a,b`, c", ",") == ["`a,b`", "c"]
    assert unquote(" `x` ") == "x" and unquote("`") == "`"


def test_sections_keep_deeper_headings_inside() -> None:
    lead, sections = split_sections(tokenize("intro\n## A\n### a1\n## B"), 2)
    assert [block.line for block in lead] == [1]
    assert [(section.heading.text, len(section.blocks)) for section in sections] == [("A", 1), ("B", 0)]


def test_an_unclosed_comment_is_reported_where_it_opens() -> None:
    _, diagnostics = parse_reference("# T\n\n- **Version:** 1\n\n<!-- never closed\n## GET /x\n")
    assert [diagnostic.located() for diagnostic in diagnostics] == [
        "5: this HTML comment is never closed; it swallows the rest of the document"
    ]
