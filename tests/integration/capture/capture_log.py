"""Read a real server's statement log up to "now", for the capture integration tests."""

from __future__ import annotations

import itertools
import time

import psycopg

from probity.capture.records import ParsedStatement, StatementParser
from probity.capture.source import LogSource
from probity.core.trace import Statement

_SYNC = itertools.count()


class LogReader:
    """Parse a source up to a sync marker, so a test knows the log holds everything it did before."""

    def __init__(self, source: LogSource, url: str) -> None:
        self.source = source
        self.parser = StatementParser()
        self.url = url

    def sync(self, timeout: float = 10.0) -> list[Statement]:
        """Everything logged since the last sync, in log order, the sync markers left out."""
        marker = f"SELECT 'test:sync:{next(_SYNC)}'"
        with psycopg.connect(self.url, autocommit=True, application_name="test-sync") as conn:
            conn.execute(marker)
        done: list[ParsedStatement] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.source.read_new():
                done.extend(self.parser.feed(line))
            if any(p.statement.text == marker for p in [*done, *self.parser.pending()]):
                done.extend(self.parser.flush())
                ordered = sorted(done, key=lambda p: p.seq)
                return [p.statement for p in ordered if p.statement.application != "test-sync"]
            time.sleep(0.01)
        raise AssertionError(f"{marker} never reached the log")
