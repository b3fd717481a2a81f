"""What the capture holds does not grow with the requests it has finished: requests in flight together on
pooled sessions, ending out of order, with parse/bind steps, literal SQL and Probity's own sessions around."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import probity.sql.facts as facts_module
from probity.capture.collector import Collector
from probity.capture.records import LogLine, as_record
from probity.core.trace import Attribution, Exchange
from probity.sql import cache_info, clear_cache, statement_facts

MakeRecord = Callable[..., dict[str, Any]]
POOL = 4


class GrowingLog:
    """A LogSource: the lines written since the last read."""

    def __init__(self, make_record: MakeRecord) -> None:
        self.make = make_record
        self.lines: list[LogLine] = []
        self.read_upto = 0

    def add(self, message: str, session: str, **fields: Any) -> None:
        record = self.make(message, session, dbname="app", **fields)
        self.lines.append(LogLine(len(self.lines) + 1, as_record(record)))

    def read_new(self) -> list[LogLine]:
        new, self.read_upto = self.lines[self.read_upto :], len(self.lines)
        return new

    def close(self) -> None:
        pass


def _request(log: GrowingLog, n: int, traceparent: str, session: str) -> None:
    """One request's records: BEGIN, a bound read (parse, bind, execute, duration), a literal write, COMMIT."""
    comment = f" /*traceparent='{traceparent}'*/"
    vxid = f"3/{n}"
    read = f"SELECT id FROM patients WHERE id = $1 AND organization_id = $2{comment}"
    for message in ("statement: BEGIN" + comment, f"duration: 0.01 ms  parse <unnamed>: {read}"):
        log.add(message, session, vxid=vxid)
    log.add(f"duration: 0.01 ms  bind <unnamed>: {read}", session, vxid=vxid, ps="BIND")
    log.add(f"execute <unnamed>: {read}", session, vxid=vxid, detail=f"parameters: $1 = '{n}', $2 = 'org'")
    log.add("duration: 0.02 ms", session, vxid=vxid)
    log.add(f"statement: UPDATE patients SET notes = 'note {n}' WHERE id = '{n}'{comment}", session, vxid=vxid)
    log.add("duration: 0.02 ms", session, vxid=vxid)
    log.add("statement: COMMIT" + comment, session, vxid=vxid)
    log.add("duration: 0.01 ms", session, vxid=f"{vxid[:2]}0")


def test_collector_and_caches_stay_flat_over_many_concurrent_requests(
    make_record: MakeRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_cache()
    monkeypatch.setattr(facts_module._CACHE, "maxsize", 64)
    log = GrowingLog(make_record)
    collector = Collector(log, Attribution.TRACEPARENT, settle=0)
    held, cached = [], []
    for wave in range(300):
        ids = [f"r{wave}-{k}" for k in range(POOL)]
        traceparents = [collector.begin(exchange_id) for exchange_id in ids]
        for k, traceparent in enumerate(traceparents):
            _request(log, wave * POOL + k, traceparent, f"pool-{k}")
            log.add(f"statement: SELECT 'probity:fence:sync:{wave}x{k}'", "fence", application_name="probity-fence")
        for exchange_id, traceparent in reversed(list(zip(ids, traceparents, strict=True))):
            exchange = Exchange("GET", "http://api/p", "GET /p", 200, traceparent=traceparent)
            trace = collector.end(exchange_id, exchange)
            assert len(trace.statements) == 4 and trace.conclusive
            for statement in trace.statements:
                statement_facts(statement.text)
        held.append(collector.buffered)
        cached.append(cache_info().size)
    assert held[-1] == held[20] and max(held) <= POOL * 5  # nothing kept per finished request
    info = cache_info()
    assert info.shaped >= 290 * POOL  # every literal UPDATE after the first filled from its shape
    assert max(cached) == 64  # one entry per distinct text, bounded: not one per request for ever
