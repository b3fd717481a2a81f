"""The shape cache: texts that differ only in their string literals get exactly the facts a parse would give,
from one template per shape, and sqlglot parses nothing more however many such texts come."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml

from probity.core.catalog import Catalog
from probity.sql import cache_info, catalog_from_ddl, clear_cache, statement_facts
from probity.sql._shapes import MAX_LEARNED_LITERALS, lift

CLINIC_DDL = Path(__file__).resolve().parents[3] / "fixtures" / "clinic" / "schema.sql"

# Statements as a psycopg2 application sends them: values written in as literals. {0}, {1}, … are values.
TEMPLATES = [
    "SELECT p.id, p.mrn, p.given_name FROM patients p WHERE p.organization_id = '{0}' AND p.id = '{1}'"
    " AND p.deleted_at IS NULL",
    "SELECT p.id FROM patients p WHERE p.organization_id = '{0}'::uuid AND p.family_name ILIKE '%{1}%'"
    " ORDER BY p.family_name, p.id LIMIT 20 OFFSET 40",
    "SELECT m.id AS membership_id, m.role FROM sessions s JOIN memberships m ON m.user_id = s.user_id"
    " AND m.organization_id = s.organization_id WHERE s.id = '{0}' AND s.organization_id = '{1}'"
    " AND s.user_id = '{2}' AND s.revoked_at IS NULL",
    "INSERT INTO audit_logs (organization_id, actor_user_id, action, resource_type, resource_id, details)"
    " VALUES ('{0}', '{1}', 'patient.read', 'patient', '{2}', '{{}}')",
    "UPDATE patients p SET given_name = '{1}', family_name = '{2}' WHERE p.id = '{0}'"
    " AND p.organization_id = '{3}' RETURNING p.id, p.given_name",
    "SELECT a.id FROM appointments a WHERE a.organization_id = '{0}' AND a.status IN ('{1}', '{2}')",
    "SELECT id FROM patients WHERE (organization_id = '{0}' AND mrn = '{1}')"
    " OR (organization_id = '{2}' AND given_name = '{1}')",
    "SELECT set_config('app.organization_id', '{0}', true)",
    "SELECT t.id FROM message_threads t WHERE t.organization_id = '{0}'"
    " AND t.id IN (SELECT m.thread_id FROM messages m WHERE m.body LIKE '{1}%')",
    "DELETE FROM proxies x WHERE x.id = '{0}' AND x.organization_id = '{1}'",
    "SELECT '{0}' AS label, count(*) FROM patients WHERE organization_id = '{1}'",
    "SELECT id FROM patients WHERE notes = E'{0}' AND organization_id = '{1}'",
    "SELECT id FROM patients -- it's the '{0}' list\nWHERE organization_id = '{1}'",
    "SELECT id FROM patients WHERE organization_id = '{0}' AND phone = '{1}'",
]
VALUE_SETS = [
    ("5cadbce9-673f-5b44-8793-4fadbbcf5307", "e3e70682-c209-1cac-a29f-6fbed82c07cd", "Ann", "x-1"),
    ("977c7ddb-9e5f-592f-9539-b635c074e545", "O Brien – ü", "Bob", "x-2"),
    ("same", "same", "same", "same"),  # every literal equal: another equality pattern, another shape
    ("1", "%", "", " padded "),
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return catalog_from_ddl(CLINIC_DDL.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def _texts(template: str) -> list[str]:
    return [template.format(*values) for values in VALUE_SETS]


def _computed(text: str, catalog: Catalog) -> Any:
    clear_cache()  # the first text of its shape: computed from sqlglot's tree
    return statement_facts(text, catalog)


@pytest.mark.parametrize("template", TEMPLATES)
def test_facts_from_a_shape_equal_the_facts_of_a_parse(template: str, catalog: Catalog) -> None:
    texts = _texts(template)
    expected = [_computed(text, catalog) for text in texts]
    for first in texts:
        clear_cache()
        statement_facts(first, catalog)  # primes the shape
        for text, wanted in zip(texts, expected, strict=True):
            got = statement_facts(text, catalog)
            assert got == wanted, text
            assert got.text == text


def test_literal_texts_of_one_shape_are_filled_not_parsed(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    parses = _count_parses(monkeypatch)
    template = TEMPLATES[0]
    statement_facts(template.format("5cadbce9-673f-5b44-8793-4fadbbcf5307", "a"), catalog)
    primed = parses()
    for n in range(200):
        statement_facts(template.format("5cadbce9-673f-5b44-8793-4fadbbcf5307", f"{n:08x}-c209-1cac"), catalog)
    assert parses() == primed
    assert cache_info().shaped == 200


@pytest.mark.parametrize(("rows", "filled"), [(MAX_LEARNED_LITERALS // 2, 1), (MAX_LEARNED_LITERALS // 2 + 1, 0)])
def test_a_bulk_statement_is_computed_without_learning_its_shape(rows: int, filled: int, catalog: Catalog) -> None:
    def bulk(salt: str) -> str:
        values = ", ".join(f"('{salt}-{n}', 'patient.read')" for n in range(rows))  # two literals a row
        return f"INSERT INTO audit_logs (resource_type, action) VALUES {values}"

    expected = _computed(bulk("b"), catalog)
    clear_cache()
    statement_facts(bulk("a"), catalog)
    assert statement_facts(bulk("b"), catalog) == expected
    assert cache_info().shaped == filled  # up to the limit a second text of the shape is filled in, past it computed


@pytest.mark.parametrize(
    "template",
    [
        "SELECT set_config('{0}', 'x', true)",  # the literal is a setting's name, not an echoed value
        "SELECT '{0}'",  # qualify names the column after the value
        "SELECT id FROM patients WHERE notes = E'{0}'",  # not a plain string literal
        "SELECT id FROM patients -- it's '{0}'\nWHERE true",  # a quote inside a comment
    ],
)
def test_literals_that_are_more_than_values_stay_exact(template: str, catalog: Catalog) -> None:
    first, second = template.format("app.a"), template.format("app.b")
    statement_facts(first, catalog)
    assert statement_facts(second, catalog) == _computed(second, catalog)


def test_a_settings_name_is_kept_in_the_template_and_its_value_filled_in(catalog: Catalog) -> None:
    template = "SELECT set_config('app.organization_id', '{0}', true), set_config('app.user_id', '{1}', true)"
    texts = [template.format(f"org-{n}", f"user-{n}") for n in range(5)]
    expected = [_computed(text, catalog) for text in texts]
    clear_cache()
    assert [statement_facts(text, catalog) for text in texts] == expected
    assert cache_info().shaped == 4
    assert [s.name for s in expected[0].settings] == ["app.organization_id", "app.user_id"]


def test_values_that_are_not_plain_keep_a_text_out_of_the_shape_cache() -> None:
    assert lift("SELECT id FROM t WHERE a = 'x\\y'") is None
    assert lift("SELECT id FROM t WHERE a = 'tab\there'") is None
    assert lift("SELECT id FROM t WHERE a = '\ue000'") is None
    assert lift("SELECT id FROM t WHERE a = $1") is None


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    calls = [0]
    real_parse = sqlglot.parse

    def parse(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(sqlglot, "parse", parse)
    return lambda: calls[0]


def _corpus_texts() -> list[str]:
    """Every statement of the probe corpora (tests/fixtures/probes) that writes a string literal."""
    found: list[str] = []
    for path in sorted((Path(__file__).resolve().parents[2] / "fixtures" / "probes").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in data["cases"]:
            found += [s["sql"] for s in case.get("statements", []) if lift(s["sql"]) is not None]
    return list(dict.fromkeys(found))


def _variant(text: str, salt: str) -> str:
    """*text* with each distinct literal value changed the same way (the equality pattern kept)."""
    lifted = lift(text)
    assert lifted is not None
    parts = list(lifted.parts)
    for index in range(1, len(parts), 2):
        parts[index] = f"{salt}{lifted.values.index(parts[index])}-{parts[index][:8]}"
    return "'".join(parts)


def test_every_literal_statement_of_the_probe_corpora_gets_exact_facts(catalog: Catalog) -> None:
    texts = _corpus_texts()
    assert len(texts) >= 30
    for text in texts:
        variants = [_variant(text, salt) for salt in ("a", "b")]
        expected = [_computed(variant, catalog) for variant in variants]
        clear_cache()
        statement_facts(text, catalog)
        assert [statement_facts(variant, catalog) for variant in variants] == expected, text
