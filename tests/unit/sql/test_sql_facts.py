"""facts.py against tests/fixtures/sql/facts.yaml: each statement's facts, read from sqlglot's tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from facts_view import expected, view

from probity.core.catalog import Catalog
from probity.sql.ddl import catalog_from_ddl
from probity.sql.facts import statement_facts

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "sql" / "facts.yaml"
SCHEMA = ROOT / "fixtures" / "clinic" / "schema.sql"
DATA: dict[str, Any] = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
ENTRIES: list[dict[str, Any]] = DATA["statements"]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    built = catalog_from_ddl(SCHEMA.read_text(encoding="utf-8") + DATA["extra_ddl"])
    assert built.skipped == ()
    return built


def test_the_fixture_is_a_real_corpus() -> None:
    titles = [entry["title"] for entry in ENTRIES]
    assert len(titles) >= 40
    assert len(set(titles)) == len(titles)


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry["title"] for entry in ENTRIES])
def test_statement_facts(entry: dict[str, Any], catalog: Catalog) -> None:
    actual = view(statement_facts(entry["sql"], catalog))
    want = expected(entry)
    assert {key: actual[key] for key in want} == want
