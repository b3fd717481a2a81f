"""The three driver styles and failing statements, as a real server logs them and records.py reads them."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from capture_log import LogReader

from probity.runtime.postgres import EmbeddedPostgres

pytestmark = pytest.mark.postgres

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRICKY = "it's, a 'quoted', multi\nline välue ✓ 🙂"


@pytest.fixture
def conn(pg: EmbeddedPostgres) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as setup:
        setup.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
    with psycopg.connect(pg.url("postgres")) as connection:
        yield connection


def test_literal_sql_like_psycopg2(conn: psycopg.Connection[tuple[object, ...]], reader: LogReader) -> None:
    reader.sync()
    psycopg.ClientCursor(conn).execute(f"INSERT INTO notes VALUES (%s, %s) /*traceparent='{TP}'*/", (1, TRICKY))
    conn.commit()
    statements = reader.sync()
    assert [(s.text, s.protocol, s.params) for s in statements] == [
        ("BEGIN", "simple", ()),
        ("INSERT INTO notes VALUES (1, 'it''s, a ''quoted'', multi\nline välue ✓ 🙂')", "simple", ()),
        ("COMMIT", "simple", ()),
    ]
    assert statements[1].traceparent == TP
    assert {s.session_id for s in statements} == {statements[0].session_id}
    assert statements[0].vxid == statements[1].vxid == statements[2].vxid
    assert all(s.duration_ms is not None for s in statements)


def test_extended_protocol_unnamed(conn: psycopg.Connection[tuple[object, ...]], reader: LogReader) -> None:
    reader.sync()
    conn.execute(f"INSERT INTO notes VALUES (%s, %s) /*traceparent='{TP}'*/", (2, TRICKY))
    conn.execute("SELECT body FROM notes WHERE id = %s AND body IS DISTINCT FROM %s", (2, None))
    conn.commit()
    statements = reader.sync()
    assert [(s.text, s.protocol, s.params) for s in statements] == [
        ("BEGIN", "simple", ()),
        ("INSERT INTO notes VALUES ($1, $2)", "extended", ("2", TRICKY)),
        ("SELECT body FROM notes WHERE id = $1 AND body IS DISTINCT FROM $2", "extended", ("2", None)),
        ("COMMIT", "simple", ()),
    ]
    assert statements[1].tags == {"traceparent": TP}


def test_named_prepared_statements(conn: psycopg.Connection[tuple[object, ...]], reader: LogReader) -> None:
    reader.sync()
    for n in (3, 4):
        conn.execute("SELECT body FROM notes WHERE id = %s", (n,), prepare=True)
    conn.commit()
    statements = reader.sync()
    executes = [s for s in statements if s.protocol == "extended"]
    assert [(s.text, s.params) for s in executes] == [
        ("SELECT body FROM notes WHERE id = $1", ("3",)),
        ("SELECT body FROM notes WHERE id = $1", ("4",)),
    ]
    assert [s.text for s in statements] == ["BEGIN", *(s.text for s in executes), "COMMIT"]


def test_failing_statements(conn: psycopg.Connection[tuple[object, ...]], reader: LogReader) -> None:
    reader.sync()
    for sql, params in [
        (f"INSERT INTO notes VALUES (%s, 'x') /*traceparent='{TP}'*/", (5,)),  # fine
        (f"INSERT INTO notes VALUES (%s, 'x') /*traceparent='{TP}'*/", (5,)),  # duplicate key, executing
        ("SELECT 1/0 WHERE 1 = %s", (1,)),  # fails at bind
        ("SELEC 1", None),  # fails at parse
    ]:
        try:
            conn.execute(sql, params)
            conn.commit()
        except psycopg.Error:
            conn.rollback()
    statements = reader.sync()
    failed = [(s.text, s.sqlstate, s.params, s.traceparent) for s in statements if s.error]
    assert failed == [
        ("INSERT INTO notes VALUES ($1, 'x')", "23505", ("5",), TP),
        ("SELECT 1/0 WHERE 1 = $1", "22012", (), None),
        ("SELEC 1", "42601", (), None),
    ]
    assert [s.text for s in statements if s.text in ("COMMIT", "ROLLBACK")] == ["COMMIT", "ROLLBACK"] + ["ROLLBACK"] * 2
    assert len([s for s in statements if s.text == "INSERT INTO notes VALUES ($1, 'x')"]) == 2
