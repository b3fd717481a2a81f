"""Read-backs against the size of the table they look in: the comparison as text alone, and Probity's look.

Probity confirms what the log says with read-backs (an audit row committed, the tenant a row belongs to); a
pass of the clinic makes a few hundred. Values are compared as text; compared as text alone
(``column::text = value``), no index serves and every look reads the whole table. Probity's look also asks for
``column = value`` typed as the column is, so the server finds the rows through the column's indexes
(``probity/engine/readback.py``). This script builds an audit table shaped like the clinic's (its indexes too)
at each size in a PostgreSQL of its own, then alternates both looks round after round on the same keys and
reports the median time per look and the ratio, after checking that both found the same rows.

    .venv/bin/python bench/readback_scale.py [--sizes 10000,100000,1000000] [--rounds 3] [--looks 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from probity.engine.readback import _count_query, _rows_query, _values
from probity.runtime.postgres import EmbeddedPostgres

__all__ = ["main"]

TABLE = """
CREATE TABLE {name} (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    actor_user_id   uuid,
    action          text NOT NULL,
    resource_type   text NOT NULL,
    resource_id     uuid,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    details         jsonb NOT NULL DEFAULT '{{}}'::jsonb
);
INSERT INTO {name} (organization_id, actor_user_id, action, resource_type, resource_id)
    SELECT ('00000000-0000-0000-0000-00000000000' || (g % 8))::uuid, gen_random_uuid(), 'patient.read', 'patient',
           gen_random_uuid()
    FROM generate_series(1, {rows}) g;
CREATE INDEX ON {name} (organization_id, resource_type, resource_id, occurred_at);
CREATE INDEX ON {name} (organization_id, actor_user_id, occurred_at);
CREATE INDEX ON {name} (actor_user_id);
ANALYZE {name};
"""
# what audit_insert looks for (the audit row of a request), and what tenancy_filter reads (a row's tenant by key)
AUDIT_COLUMNS = ("organization_id", "actor_user_id", "action", "resource_id")
Look = Callable[[psycopg.Connection[Any], dict[str, str | None], bool], list[tuple[Any, ...]]]


def _audit_look(table: str) -> Look:
    def look(conn: psycopg.Connection[Any], where: dict[str, str | None], typed: bool) -> list[tuple[Any, ...]]:
        return conn.execute(_count_query(table, where, typed), _values(where, typed)).fetchall()

    return look


def _owner_look(table: str) -> Look:
    def look(conn: psycopg.Connection[Any], where: dict[str, str | None], typed: bool) -> list[tuple[Any, ...]]:
        query = _rows_query(table, ["organization_id"], where, typed)
        return conn.execute(query, _values(where, typed)).fetchall()

    return look


def _build(conn: psycopg.Connection[Any], size: int) -> str:
    name = f"audit_{size}"
    conn.execute(TABLE.format(name=name, rows=size).encode())
    return name


def _keys(conn: psycopg.Connection[Any], table: str, count: int) -> list[dict[str, str | None]]:
    """*count* rows spread over the table (random ids), as the looks' keys, in text as the log gives them."""
    selected = ", ".join(f"{c}::text" for c in (*AUDIT_COLUMNS, "id"))
    rows = conn.execute(f"SELECT {selected} FROM {table} ORDER BY id LIMIT %s", [count])
    return [dict(zip((*AUDIT_COLUMNS, "id"), row, strict=True)) for row in rows.fetchall()]


def _timed(conn: psycopg.Connection[Any], look: Look, keys: list[dict[str, str | None]], typed: bool) -> float:
    started = time.perf_counter()
    for key in keys:
        look(conn, key, typed)
    return (time.perf_counter() - started) / len(keys) * 1000


def _same_rows(conn: psycopg.Connection[Any], look: Look, keys: list[dict[str, str | None]]) -> bool:
    return all(look(conn, key, True) == look(conn, key, False) for key in keys)


def measure(conn: psycopg.Connection[Any], sizes: list[int], rounds: int, looks: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for size in sizes:
        table = _build(conn, size)
        keys = _keys(conn, table, looks)
        audit = [{c: key[c] for c in AUDIT_COLUMNS} for key in keys]
        owner = [{"id": key["id"]} for key in keys]
        for what, look, wheres in (
            ("audit row", _audit_look(table), audit),
            ("row's tenant", _owner_look(table), owner),
        ):
            assert _same_rows(conn, look, wheres), f"the two looks found different rows in {table}"
            text, typed = [], []
            for _ in range(rounds):
                text.append(_timed(conn, look, wheres, False))
                typed.append(_timed(conn, look, wheres, True))
            rows.append(
                {"rows": size, "look": what, "text": statistics.median(text), "typed": statistics.median(typed)}
            )
        conn.execute(f"DROP TABLE {table}")
    return rows


def report(rows: list[dict[str, Any]]) -> None:
    print("| rows in the table | look | as text alone, ms | Probity's look, ms | × faster |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for row in rows:
        ratio = row["text"] / row["typed"]
        print(f"| {row['rows']:,} | {row['look']} | {row['text']:.2f} | {row['typed']:.2f} | {ratio:,.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--looks", type=int, default=20, help="looks per variant, size and round")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="probity-bench-readback-"))
    base.chmod(0o755)  # the server's account must reach its cluster
    os.environ["PROBITY_STATE_DIR"] = str(base / "state")
    try:
        with EmbeddedPostgres() as pg, psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
            report(measure(conn, [int(size) for size in args.sizes.split(",")], args.rounds, args.looks))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
