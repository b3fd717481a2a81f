"""facts.py beyond the fixture file: value kinds, parameters from a Statement, shapes, robustness."""

from __future__ import annotations

from pathlib import Path

import pytest

import probity.sql._analysis as analysis
from probity.core.catalog import Catalog
from probity.core.trace import Statement
from probity.sql.ddl import catalog_from_ddl
from probity.sql.facts import statement_facts
from probity.sql.model import ColumnRef, Kind, Origin, ValueKind

SCHEMA = Path(__file__).resolve().parents[3] / "fixtures" / "clinic" / "schema.sql"


@pytest.fixture(scope="module")
def clinic() -> Catalog:
    return catalog_from_ddl(SCHEMA.read_text(encoding="utf-8"))


def test_value_kinds(clinic: Catalog) -> None:
    facts = statement_facts(
        "SELECT id FROM appointments a WHERE a.organization_id = $1::uuid AND a.status = 'OPEN' "
        "AND a.patient_id = (SELECT id FROM patients LIMIT 1) AND a.reason ILIKE $2 || '%' "
        "AND a.cancelled_at IS NULL AND a.provider_user_id IN ($3, $4) AND a.created_by = a.provider_user_id "
        "AND a.starts_at > now() AND a.notes = -1",
        clinic,
    )
    (ref,) = facts.refs("appointments")
    kinds = {(p.column, p.value.kind) for p in ref.predicates}
    assert kinds == {
        ("organization_id", ValueKind.PARAM), ("status", ValueKind.LITERAL), ("patient_id", ValueKind.SUBQUERY),
        ("reason", ValueKind.EXPRESSION), ("cancelled_at", ValueKind.NULL), ("provider_user_id", ValueKind.LIST),
        ("created_by", ValueKind.COLUMN), ("provider_user_id", ValueKind.COLUMN), ("starts_at", ValueKind.FUNCTION),
        ("notes", ValueKind.LITERAL),
    }  # fmt: skip
    by_column = {p.column: p.value for p in ref.predicates}
    assert by_column["reason"].params == (2,)
    assert by_column["notes"].literal == "-1"
    assert by_column["created_by"].column == ColumnRef("appointments", "provider_user_id")
    (listed,) = [p.value for p in ref.on("provider_user_id") if p.value.kind is ValueKind.LIST]
    assert [item.param for item in listed.items] == [3, 4]


def test_limit_offset_resolved_from_a_statement(clinic: Catalog) -> None:
    statement = Statement("SELECT id FROM patients WHERE organization_id = $1 LIMIT $2 OFFSET $3", ("o", "25", "50"))
    facts = statement_facts(statement.text, clinic)
    assert facts.limit_value(statement.params) == 25
    assert facts.offset is not None and facts.offset.resolve(statement.params) == "50"
    assert facts.limit is not None and facts.limit.resolve(()) is None  # no such parameter bound
    assert statement_facts("SELECT 1 LIMIT 5", clinic).limit_value(()) == 5
    assert statement_facts("SELECT 1", clinic).limit_value(()) is None


def test_a_data_modifying_cte_traces_values_to_the_deleted_table(clinic: Catalog) -> None:
    facts = statement_facts(
        "WITH d AS (DELETE FROM patients WHERE id = $1 RETURNING id, organization_id) "
        "INSERT INTO audit_logs (organization_id, resource_id, action, resource_type) "
        "SELECT d.organization_id, d.id, 'patient.delete', 'patient' FROM d",
        clinic,
    )
    audit = facts.write
    assert audit is not None and audit.table == "audit_logs"
    value = audit.value("organization_id")
    assert value is not None and value.column == ColumnRef("patients", "organization_id")
    assert [w.kind for w in facts.writes] == [Kind.INSERT, Kind.DELETE]


def test_or_flags_and_lookups(clinic: Catalog) -> None:
    facts = statement_facts("SELECT id FROM patients p WHERE p.organization_id = $1 OR p.user_id = $2", clinic)
    (ref,) = facts.tables
    assert ref.has_or and ref.predicates == () and ref.on("organization_id") == ()
    assert facts.table_names == {"patients"} and facts.refs("PATIENTS") == (ref,)
    common = statement_facts(
        "SELECT id FROM patients WHERE (organization_id = $1 AND mrn = $2) OR (organization_id = $1 AND id = $3)",
        clinic,
    ).tables[0]
    assert [p.origin for p in common.on("organization_id")] == [Origin.OR_COMMON]


def test_same_shape_for_the_same_query_with_other_values(clinic: Catalog) -> None:
    texts = [
        "SELECT * FROM messages WHERE organization_id = $1 AND thread_id = $2 AND id IN (1, 2, 3)",
        "SELECT * FROM messages WHERE organization_id = 'x' AND thread_id = 'y' AND id IN (4) /* tp='1' */",
    ]
    shapes = {statement_facts(text, clinic).shape for text in texts}
    assert len(shapes) == 1
    assert (
        statement_facts("SELECT id FROM messages ORDER BY 1", clinic).shape
        != statement_facts("SELECT id FROM messages ORDER BY 2", clinic).shape
    )


def test_without_a_catalog_facts_still_come(clinic: Catalog) -> None:
    facts = statement_facts("SELECT p.id FROM patients p JOIN t2 ON t2.pid = p.id WHERE p.org = $1")
    assert [(t.table, t.known) for t in facts.tables] == [("patients", False), ("t2", False)]
    assert [p.column for p in facts.tables[0].predicates] == ["org", "id"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        ";",
        "   ",
        "SELECT",
        "))((",
        "SELECT 'unterminated",
        "-- only a comment",
        "SELECT * FROM",
        "\x00",
        "WITH x AS (SELECT 1) SELECT * FROM x, x",
        "SELECT (((((((((((1)))))))))))",
        "COPY t FROM STDIN",
        "MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN DELETE",
        "VALUES (1), (2)",
        "SHOW search_path",
        "LISTEN channel",
        "EXPLAIN ANALYZE SELECT 1",
        "SELECT * FROM t1 NATURAL JOIN t2",
        "TRUNCATE patients",
        "SELECT * FROM generate_series(1, 3) g, LATERAL (SELECT g) s",
        "SELECT a FROM t GROUP BY ROLLUP (a)",
    ],
)
def test_any_text_gives_facts_never_an_exception(text: str, clinic: Catalog) -> None:
    facts = statement_facts(text, clinic)
    assert facts.text == text and isinstance(facts.kind, Kind)


def test_an_analysis_failure_is_reported_as_facts(monkeypatch: pytest.MonkeyPatch, clinic: Catalog) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(analysis.Analysis, "__init__", broken)
    facts = statement_facts("SELECT id FROM patients WHERE id = $1 -- analysis fails", clinic)
    assert facts.kind is Kind.SELECT and facts.parse_error is not None and "boom" in facts.parse_error
