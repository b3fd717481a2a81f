"""readback.py against a real PostgreSQL: the rows found as text, found through the columns' indexes."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from probity.core.errors import HarnessError
from probity.engine.readback import DatabaseReadBack, _count_query, _rows_query, _values
from probity.runtime.postgres import EmbeddedPostgres

pytestmark = pytest.mark.postgres

ROWS = 20_000  # enough that the planner prefers an index to reading the table
TABLE = """
CREATE TABLE audit_trail (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org uuid NOT NULL,
    seq integer NOT NULL,
    action text NOT NULL,
    doc json,
    at timestamptz NOT NULL DEFAULT '2026-01-01 00:00:00+00'
);
INSERT INTO audit_trail (org, seq, action, doc)
    SELECT ('00000000-0000-0000-0000-00000000000' || (g % 4))::uuid, g, 'patient.read', '{"g": 1}'
    FROM generate_series(1, 20000) g;
UPDATE audit_trail SET doc = NULL WHERE seq % 1000 = 0;
CREATE INDEX audit_trail_org_seq ON audit_trail (org, seq);
CREATE INDEX audit_trail_seq ON audit_trail (seq);
ANALYZE audit_trail;
"""


@pytest.fixture(scope="module")
def conninfo() -> Iterator[str]:
    """One cluster for the module with the table loaded; stopped at the end."""
    base = Path(tempfile.mkdtemp(prefix="probity-test-"))
    base.chmod(0o755)  # the server's account must reach its cluster
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("PROBITY_STATE_DIR", str(base / "state"))
    try:
        with EmbeddedPostgres() as pg:
            with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
                conn.execute(TABLE.encode())
            yield pg.url("postgres")
    finally:
        monkeypatch.undo()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def readback(conninfo: str) -> Iterator[DatabaseReadBack]:
    found = DatabaseReadBack(conninfo)
    yield found
    found.close()


@pytest.fixture(scope="module")
def db(conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def sample(db: psycopg.Connection[Any]) -> dict[str, str]:
    row = db.execute("SELECT id::text, org::text, seq::text FROM audit_trail WHERE seq = 1234").fetchone()
    assert row is not None
    return {"id": row[0], "org": row[1], "seq": row[2]}


def _as_text(db: psycopg.Connection[Any], where: dict[str, str | None]) -> int:
    """The count of rows whose columns equal the values as text: what a look must find."""
    parts = [f"{column} IS NULL" if value is None else f"{column}::text = %s" for column, value in where.items()]
    values = [value for value in where.values() if value is not None]
    row = db.execute(f"SELECT count(*) FROM audit_trail WHERE {' AND '.join(parts)}", values).fetchone()
    assert row is not None
    return int(row[0])


def _plan(db: psycopg.Connection[Any], query: psycopg.sql.Composed, values: list[str]) -> str:
    return "\n".join(row[0] for row in db.execute(b"EXPLAIN " + query.as_bytes(db), values).fetchall())


def test_a_look_by_key_is_made_through_the_index(db: psycopg.Connection[Any], sample: dict[str, str]) -> None:
    where: dict[str, str | None] = {"org": sample["org"], "seq": sample["seq"]}
    typed = _plan(db, _count_query("audit_trail", where, True), _values(where, typed=True))
    as_text = _plan(db, _count_query("audit_trail", where, False), _values(where, typed=False))
    assert "Index" in typed and "Seq Scan" not in typed
    assert "Seq Scan" in as_text  # the comparison as text alone reads the whole table
    rows = _rows_query("audit_trail", ["org"], {"id": sample["id"]}, True)
    assert "audit_trail_pkey" in _plan(db, rows, _values({"id": sample["id"]}, typed=True))


def test_the_rows_found_are_those_equal_as_text(readback: DatabaseReadBack, sample: dict[str, str]) -> None:
    assert readback.count("audit_trail", {"org": sample["org"], "seq": sample["seq"]}) == 1
    assert readback.rows("audit_trail", ["seq", "org"], {"id": sample["id"]}) == [{"seq": "1234", "org": sample["org"]}]
    # equal as the column's type, not as text: the text comparison decides, as it always did
    assert readback.count("audit_trail", {"id": sample["id"].upper()}) == 0
    assert readback.count("audit_trail", {"seq": "01234"}) == 0


def test_a_value_the_type_refuses_is_compared_as_text(readback: DatabaseReadBack) -> None:
    assert readback.count("audit_trail", {"id": "not-a-uuid"}) == 0
    assert readback.count("audit_trail", {"seq": "99999999999"}) == 0  # out of integer's range
    # json has no equality operator: only the text comparison can be made
    assert readback.count("audit_trail", {"doc": '{"g": 1}', "seq": "7"}) == 1
    assert readback.count("audit_trail", {"doc": None}) == ROWS // 1000
    # the session stays usable after a refused look
    assert readback.count("audit_trail", {"seq": "7"}) == 1


def test_any_look_finds_what_the_text_comparison_finds(
    readback: DatabaseReadBack, db: psycopg.Connection[Any], sample: dict[str, str]
) -> None:
    rng = random.Random(7)
    values = {
        "id": [sample["id"], sample["id"].upper(), "x", "00000000-0000-0000-0000-000000000000"],
        "org": [sample["org"], "00000000-0000-0000-0000-000000000003", "{" + sample["org"] + "}", ""],
        "seq": ["1", "1234", "+7", " 7", "1e3", "-0", "20000", "2147483648"],
        "action": ["patient.read", "PATIENT.READ", ""],
        "doc": ['{"g": 1}', '{"g":1}', None],
        "at": ["2026-01-01 00:00:00+00", "2026-01-01", "yesterday", "2026-01-01 00:00:00+00:00"],
    }
    for _ in range(60):
        columns = rng.sample(sorted(values), rng.randint(1, 3))
        where = {column: rng.choice(values[column]) for column in columns}
        assert readback.count("audit_trail", where) == _as_text(db, where), where


def test_a_missing_table_is_a_clear_error(readback: DatabaseReadBack) -> None:
    with pytest.raises(HarnessError, match="read-back failed: relation .*no_such_table.* does not exist"):
        readback.count("no_such_table", {"id": "1"})
