"""The facts cache: one computation per distinct text, bounded, with counts."""

from __future__ import annotations

import threading

import pytest

import probity.sql.facts as facts_module
from probity.core.catalog import Catalog
from probity.sql.facts import cache_info, clear_cache, statement_facts


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    clear_cache()


def test_a_second_call_is_a_hit_and_the_same_object() -> None:
    first = statement_facts("SELECT id FROM patients WHERE organization_id = $1")
    second = statement_facts("SELECT id FROM patients WHERE organization_id = $1")
    assert second is first
    info = cache_info()
    assert (info.hits, info.misses, info.size) == (1, 1, 1)
    assert info.hit_rate == 0.5


def test_another_catalog_is_another_entry() -> None:
    text = "SELECT * FROM t"
    one, other = Catalog(), Catalog()
    assert statement_facts(text, one) is statement_facts(text, one)
    assert statement_facts(text, other) is not statement_facts(text, one)
    assert cache_info().misses == 2


def test_the_cache_is_bounded_least_recently_used_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(facts_module._CACHE, "maxsize", 3)
    for n in range(3):
        statement_facts(f"SELECT {n}")
    statement_facts("SELECT 0")  # refresh 0: now 1 is the oldest
    statement_facts("SELECT 3")
    assert cache_info().size == 3
    statement_facts("SELECT 0")
    statement_facts("SELECT 1")
    info = cache_info()
    assert (info.hits, info.misses) == (2, 5)


def test_threads_share_the_cache() -> None:
    texts = [f"SELECT id FROM patients WHERE mrn = '{n % 10}'" for n in range(200)]
    results: list[object] = []

    def work() -> None:
        results.extend(statement_facts(text) for text in texts)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache_info().size == 10 and len(results) == 800
    assert len({id(r) for r in results}) <= 40  # each text computed at most once per racing thread


def test_texts_filled_from_a_shape_go_first_and_keep_parsed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(facts_module._CACHE, "maxsize", 4)
    parsed = [statement_facts(f"SELECT {n} FROM t WHERE a = $1") for n in range(2)]
    for n in range(50):  # literal texts of one shape: all but the first filled in from its template
        statement_facts(f"SELECT id FROM t WHERE a = 'v{n}'")
    assert cache_info().size == 4
    assert cache_info().shaped == 49
    assert [statement_facts(f"SELECT {n} FROM t WHERE a = $1") for n in range(2)] == parsed
    assert all(statement_facts(f"SELECT {n} FROM t WHERE a = $1") is parsed[n] for n in range(2))
