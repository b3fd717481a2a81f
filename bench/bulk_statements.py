"""Large statements: the facts of a bulk INSERT against raw sqlglot parsing of the same text.

A backend that imports many rows sends one INSERT … VALUES of thousands of rows, with bound parameters
(``$1, $2, …``) or values written in as literals. Probity parses each distinct text once and works out its
facts (tables, tenant predicates, written values, literals); this script times that, with the facts cache
emptied before each measure, against ``sqlglot.parse_one`` of the same text, alternating the two round after
round (the garbage collector set as in the judging process), and reports the medians and their ratio.

    .venv/bin/python bench/bulk_statements.py [--rows 100,1000,5000,20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlglot

from probity.engine.judge_process import judging_gc
from probity.sql import catalog_from_ddl, clear_cache, statement_facts

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = "INSERT INTO audit_logs (organization_id, action, resource_type) VALUES "


def bound(rows: int) -> str:
    return COLUMNS + ", ".join(f"(${3 * n + 1}, ${3 * n + 2}, ${3 * n + 3})" for n in range(rows))


def literal(rows: int) -> str:
    org = "5cadbce9-673f-5b44-8793-4fadbbcf5307"
    return COLUMNS + ", ".join(f"('{org}', 'patient.read', 'row-{n}')" for n in range(rows))


def _seconds(work: Callable[[], object]) -> float:
    gc.collect()  # no collection of an earlier measure's garbage inside this one
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def measure(rows: list[int], rounds: int) -> list[tuple[str, int, int, float, float]]:
    catalog = catalog_from_ddl((ROOT / "fixtures/clinic/schema.sql").read_text(encoding="utf-8"))
    found: list[tuple[str, int, int, float, float]] = []
    for count in rows:
        for kind, text in (("bound parameters", bound(count)), ("literals", literal(count))):
            parse, facts = [], []
            for _ in range(rounds):
                parse.append(_seconds(lambda: sqlglot.parse_one(text, dialect="postgres")))  # noqa: B023
                clear_cache()
                facts.append(_seconds(lambda: statement_facts(text, catalog)))  # noqa: B023
            found.append((kind, count, len(text), statistics.median(parse), statistics.median(facts)))
    return found


def report(found: list[tuple[str, int, int, float, float]]) -> None:
    print("| values | rows | characters | sqlglot.parse_one, ms | Probity's facts, ms | × parse |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind, rows, size, parse, facts in found:
        print(f"| {kind} | {rows:,} | {size:,} | {parse * 1000:,.0f} | {facts * 1000:,.0f} | {facts / parse:.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="100,1000,5000,20000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    judging_gc()  # the garbage collector as in a run's judging process, for both measures alike
    report(measure([int(rows) for rows in args.rows.split(",")], args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
