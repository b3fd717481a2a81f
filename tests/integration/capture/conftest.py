"""A real PostgreSQL per test, and a reader of its statement log up to "now"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from capture_log import LogReader

from probity.capture.follow import LogFollower, current_logfile
from probity.runtime.postgres import EmbeddedPostgres


@pytest.fixture
def pg(isolated_state: Path) -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres() as server:
        yield server


@pytest.fixture
def follower(pg: EmbeddedPostgres) -> Iterator[LogFollower]:
    with LogFollower(current_logfile(pg.data_dir), from_end=True) as source:
        yield source


@pytest.fixture
def reader(pg: EmbeddedPostgres, follower: LogFollower) -> LogReader:
    return LogReader(follower, pg.url("postgres"))
