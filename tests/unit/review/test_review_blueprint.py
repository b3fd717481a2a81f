"""The blueprint parser: sections, keys, SQL blocks split into statements with their file lines and notes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from probity.review.blueprint import parse_blueprint
from probity.review.run import ReviewReport

CLINIC = Path(__file__).resolve().parents[3] / "fixtures" / "clinic" / "docs" / "backend-details.md"

DOC = """# Notes backend

## Shared

```sql
SELECT 'not an operation';
```

## GET /notes

- **Roles:** ADMIN, STAFF
- **Auth:** bearer

### SQL

```sql
-- transaction: list notes
BEGIN;
-- step 1: one page
-- when: caller is ADMIN
-- params: $1 = caller's org
SELECT n.id
  FROM notes n
  WHERE n.org = $1;
-- when: caller is STAFF
SELECT n.id FROM notes n WHERE n.org = $1 AND n.author = $2;
COMMIT;
```

## POST /notes

```sql
SELECT 'unclosed;
```
"""


def test_sections_keys_and_statements_with_lines() -> None:
    blueprint = parse_blueprint(DOC, "notes.md")
    assert list(blueprint.endpoints) == ["GET /notes", "POST /notes"]
    endpoint = blueprint.endpoints["GET /notes"]
    assert (endpoint.line, endpoint.key("roles"), endpoint.key("AUTH"), endpoint.key("PHI")) == (
        9,
        "ADMIN, STAFF",
        "bearer",
        None,
    )
    [block] = endpoint.blocks
    assert block.name == "list notes"
    found = [(s.line, s.text.split()[0], s.note("step"), s.note("when")) for s in block.statements]
    assert found == [
        (18, "BEGIN", None, None),
        (22, "SELECT", "one page", "caller is ADMIN"),
        (26, "SELECT", "one page", "caller is STAFF"),  # an alternative of the same step
        (27, "COMMIT", "one page", None),
    ]
    assert block.statements[1].note("params") == "$1 = caller's org"


def test_a_block_the_tokenizer_rejects_is_kept_as_one_broken_statement() -> None:
    [block] = parse_blueprint(DOC).endpoints["POST /notes"].blocks
    [statement] = block.statements
    assert statement.error is not None and statement.line == 33


def test_the_clinic_blueprint_has_every_operation_with_sql() -> None:
    blueprint = parse_blueprint(CLINIC.read_text(encoding="utf-8"), CLINIC)
    assert len(blueprint.endpoints) == 43
    assert all(endpoint.blocks for endpoint in blueprint.endpoints.values())
    lines = CLINIC.read_text(encoding="utf-8").splitlines()
    for endpoint in blueprint.endpoints.values():
        for _, statement in endpoint.statements:  # every statement's line is where its text starts
            assert lines[statement.line - 1].strip().startswith(statement.text.split()[0]), statement


def test_headings_with_the_base_path_match_the_reference(review_mutated: Callable[..., ReviewReport]) -> None:
    report = review_mutated([{"file": "blueprint", "find": "## GET /health\n", "replace": "## GET /api/v1/health\n"}])
    assert [r.rule for r in report.results if r.failed] == []
    assert "GET /health" in report.operations
