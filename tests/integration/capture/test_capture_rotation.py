"""Following the log while the server rotates it: no line lost, none twice, order kept."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from probity.capture.follow import LogFollower, current_logfile, newest_file
from probity.capture.records import LogLine
from probity.capture.source import LogSource
from probity.runtime.postgres import EmbeddedPostgres

pytestmark = pytest.mark.postgres

COUNT = 300
_SEQ = re.compile(r"^statement: SELECT 'seq:(\d+)'$")


def _rotate(pg: EmbeddedPostgres, filename: str) -> None:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as admin:
        admin.execute(f"ALTER SYSTEM SET log_filename = '{filename}'")
        admin.execute("SELECT pg_reload_conf()")
        admin.execute("SELECT pg_rotate_logfile()")


def _read_all_while_rotating(pg: EmbeddedPostgres, sources: list[LogSource]) -> list[list[LogLine]]:
    """Write numbered statements from one session while the log is rotated twice; read with every source."""
    written = threading.Event()

    def write() -> None:
        with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
            for n in range(COUNT):
                conn.execute(f"SELECT 'seq:{n}'")
                if n in (COUNT // 3, 2 * COUNT // 3):
                    _rotate(pg, "rotated.log" if n == COUNT // 3 else "again.log")
                time.sleep(0.001)
        written.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[list[LogLine]] = [[] for _ in sources]
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            for source, lines in zip(sources, seen, strict=True):
                lines.extend(source.read_new())
            last = f"statement: SELECT 'seq:{COUNT - 1}'"
            if written.is_set() and all(any(x.record.message == last for x in s) for s in seen):
                break
            time.sleep(0.002)
    finally:
        writer.join()
    return seen


def _numbers(lines: list[LogLine]) -> list[int]:
    return [int(m.group(1)) for x in lines if (m := _SEQ.match(str(x.record.message)))]


@pytest.mark.parametrize(
    "current",
    [
        pytest.param(lambda pg: current_logfile(pg.data_dir), id="current_logfiles"),
        pytest.param(lambda pg: newest_file(pg.log_dir), id="newest-in-directory"),
    ],
)
def test_the_follower_continues_in_the_new_file_losing_no_line(
    pg: EmbeddedPostgres, current: Callable[[EmbeddedPostgres], Callable[[], Path | None]]
) -> None:
    with (
        LogFollower(current(pg), from_end=True) as follower,
        LogFollower(current(pg), from_end=True, max_bytes=4096) as small_reads,
    ):
        first = follower.path
        seen = _read_all_while_rotating(pg, [follower, small_reads])
        assert follower.path is not None and first is not None
        assert follower.path.name == "again.json" != first.name
    assert sorted(p.name for p in pg.log_dir.glob("*.json")) == [
        "again.json",
        "postgresql.json",
        "rotated.json",
    ]
    for lines in seen:
        assert _numbers(lines) == list(range(COUNT))
    # line numbers start again in each new file
    numbers = [x.number for x in seen[0]]
    assert sum(1 for a, b in zip(numbers, numbers[1:], strict=False) if b < a) == 2
