"""Broken references: each names, in its leading comment, every diagnostic it must give, no more, no fewer.

The comment comes before the title, where the parser skips HTML comments, so it does not disturb what it
describes. A fixture's header reads::

    <!-- Expected diagnostics of this file, one per line as "LINE: message":
    12: unknown front-matter key 'Owner'
    -->
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from probity.contracts import derive_contract, parse_reference

BROKEN = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "reference" / "broken").glob("*.md"))


def _expected(path: Path) -> list[str]:
    header = path.read_text(encoding="utf-8").split("-->", 1)[0].splitlines()[1:]
    return [line for line in header if line.strip()]


def _kind(located: str) -> str:
    # A message without what it quotes or counts: one kind of diagnostic, whatever names it is given.
    return re.sub(r"'[^']*'|\d+", "_", located.split(": ", 1)[1])


@pytest.mark.parametrize("path", BROKEN, ids=lambda path: path.stem)
def test_broken_reference_gives_exactly_the_diagnostics_it_names(path: Path) -> None:
    _, diagnostics = parse_reference(path.read_text(encoding="utf-8"), path)
    assert [diagnostic.located() for diagnostic in diagnostics] == _expected(path)


@pytest.mark.parametrize("path", BROKEN, ids=lambda path: path.stem)
def test_each_diagnostic_says_which_file(path: Path) -> None:
    _, diagnostics = parse_reference(path.read_text(encoding="utf-8"), path)
    assert diagnostics and all(str(diagnostic).startswith(f"{path}:") for diagnostic in diagnostics)


@pytest.mark.parametrize("path", BROKEN, ids=lambda path: path.stem)
def test_each_broken_reference_expects_a_problem(path: Path) -> None:
    # A fixture that expects nothing, or only notes, would pass whatever the parser does.
    assert any(not line.split(": ", 1)[1].startswith("note: ") for line in _expected(path))


@pytest.mark.parametrize("path", BROKEN, ids=lambda path: path.stem)
def test_a_broken_reference_still_derives_a_valid_contract(path: Path) -> None:
    # What cannot be read is reported and left out, never written as a dangling $ref or a bad keyword;
    # derive_contract validates with openapi-spec-validator and raises if the document is not OpenAPI 3.1.
    derivation = derive_contract(path)
    assert derivation.document["openapi"] == "3.1.0"
    assert [diagnostic.located() for diagnostic in derivation.diagnostics] == _expected(path)


def test_the_fixtures_cover_many_distinct_diagnostics() -> None:
    kinds = {_kind(line) for path in BROKEN for line in _expected(path)}
    assert len(BROKEN) >= 12
    assert len(kinds) >= 12, sorted(kinds)


def test_kinds_ignore_the_names_a_message_quotes() -> None:
    assert _kind("12: unknown constraint 'maximum'") == _kind("40: unknown constraint 'minimum'")
    assert _kind("12: unknown constraint 'maximum'") != _kind("12: unknown format 'ipv5'")
