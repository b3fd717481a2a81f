"""collector.py over a scripted log: attribution end to end, inconclusive traces, flat memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from probity.capture.collector import Collector
from probity.capture.records import LogLine, as_record
from probity.core.trace import Attribution, Exchange

MakeRecord = Callable[..., dict[str, Any]]
EXCHANGE = Exchange("GET", "http://api/patients/1", "GET /patients/{patient_id}", 200)


class ScriptedLog:
    """A LogSource whose lines a test appends; the fence "connection" appends its markers to it."""

    def __init__(self, make_record: MakeRecord) -> None:
        self.make = make_record
        self.lines: list[LogLine] = []
        self.read_upto = 0
        self.markers_lost = False

    def add(self, message: str, session: str = "pool", **fields: Any) -> None:
        fields.setdefault("dbname", "app")
        self.lines.append(LogLine(len(self.lines) + 1, as_record(self.make(message, session, **fields))))

    def statement(self, sql: str, session: str = "pool", **fields: Any) -> None:
        self.add(f"statement: {sql}", session, **fields)
        self.add("duration: 0.010 ms", session, **fields)

    def marker(self, sql: str) -> None:
        if not self.markers_lost:
            self.statement(sql, "fence", application_name="probity-fence")

    def read_new(self) -> list[LogLine]:
        new, self.read_upto = self.lines[self.read_upto :], len(self.lines)
        return new

    def close(self) -> None:
        pass


@pytest.fixture
def log(make_record: MakeRecord) -> ScriptedLog:
    return ScriptedLog(make_record)


def _collector(log: ScriptedLog, mode: Attribution, **options: Any) -> Collector:
    options.setdefault("marker", log.marker)
    return Collector(log, mode, settle=0, timeout=0.05, poll=0.001, **options)


def test_a_fenced_request_gets_the_statements_between_its_markers(log: ScriptedLog) -> None:
    collector = _collector(log, Attribution.FENCE)
    log.statement("SELECT 'before'")
    collector.begin("r1")
    log.statement("SELECT 'mine'")
    log.statement("SELECT 'elsewhere'", "other-session", dbname="other")
    trace = collector.end("r1", EXCHANGE)
    log.statement("SELECT 'after'")
    assert trace.observed and trace.attribution is Attribution.FENCE and trace.conclusive
    assert [s.text for s in trace.statements] == ["SELECT 'mine'"]
    assert trace.exchange is EXCHANGE


def test_a_fence_that_never_shows_is_inconclusive_not_empty(log: ScriptedLog) -> None:
    collector = _collector(log, Attribution.FENCE)
    log.markers_lost = True
    collector.begin("r1")
    log.statement("SELECT 'mine'")
    trace = collector.end("r1", EXCHANGE)
    assert not trace.observed and not trace.conclusive and trace.statements == ()


def test_an_empty_fence_is_observed_but_not_conclusive(log: ScriptedLog) -> None:
    collector = _collector(log, Attribution.FENCE)
    collector.begin("r1")
    trace = collector.end("r1", EXCHANGE)
    assert trace.observed and trace.statements == () and not trace.conclusive


def test_fences_run_one_request_at_a_time(log: ScriptedLog) -> None:
    collector = _collector(log, Attribution.FENCE)
    collector.begin("r1")
    with pytest.raises(RuntimeError, match="one request at a time"):
        collector.begin("r2")
    collector.end("r1", EXCHANGE)
    collector.begin("r2")  # fine once the first has ended


def test_misuse_is_refused(log: ScriptedLog) -> None:
    with pytest.raises(ValueError, match="marker"):
        Collector(log, Attribution.FENCE)
    with pytest.raises(ValueError):
        Collector(log, Attribution.NONE, marker=log.marker)
    collector = _collector(log, Attribution.TRACEPARENT)
    with pytest.raises(ValueError, match="not begun"):
        collector.end("nope", EXCHANGE)
    collector.begin("r1")
    with pytest.raises(ValueError, match="already begun"):
        collector.begin("r1")
    with pytest.raises(ValueError):
        collector.begin("bad id")


def test_traceparent_requests_in_flight_together(log: ScriptedLog) -> None:
    collector = _collector(log, Attribution.TRACEPARENT)
    one, two = collector.begin("r1"), collector.begin("r2")
    log.statement("BEGIN", "a", vxid="3/1")
    log.statement("BEGIN", "b", vxid="4/1")
    log.statement(f"SELECT 1 /*traceparent='{one}'*/", "a", vxid="3/1")
    log.statement(f"SELECT 2 /*traceparent='{two}'*/", "b", vxid="4/1")
    log.statement("COMMIT", "a", vxid="3/1")
    first = collector.end("r1", EXCHANGE)
    log.statement("ROLLBACK", "b", vxid="4/1")
    second = collector.end("r2", EXCHANGE)
    assert [s.text for s in first.statements] == ["BEGIN", "SELECT 1", "COMMIT"]
    assert [s.text for s in second.statements] == ["BEGIN", "SELECT 2", "ROLLBACK"]
    assert first.attribution is Attribution.TRACEPARENT and first.observed and second.observed


def test_the_exchanges_traceparent_wins_over_the_one_handed_out(log: ScriptedLog) -> None:
    collector = _collector(log, Attribution.TRACEPARENT)
    collector.begin("r1")
    sent = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    log.statement(f"SELECT 1 /*traceparent='{sent}'*/")
    exchange = Exchange("GET", "http://api/x", "GET /x", 200, traceparent=sent)
    assert [s.text for s in collector.end("r1", exchange).statements] == ["SELECT 1"]


def test_traceparent_without_a_sync_marker_reads_what_is_there(log: ScriptedLog) -> None:
    collector = Collector(log, Attribution.TRACEPARENT, settle=0)
    tp = collector.begin("r1")
    log.statement(f"SELECT 1 /*traceparent='{tp}'*/")
    trace = collector.end("r1", EXCHANGE)
    assert trace.observed and [s.text for s in trace.statements] == ["SELECT 1"]


def test_a_sync_marker_that_never_shows_is_inconclusive(log: ScriptedLog) -> None:
    collector = _collector(log, Attribution.TRACEPARENT)
    log.markers_lost = True
    tp = collector.begin("r1")
    log.statement(f"SELECT 1 /*traceparent='{tp}'*/")
    assert not collector.end("r1", EXCHANGE).observed


def test_a_statement_still_waiting_for_its_duration_is_attributed_once(log: ScriptedLog) -> None:
    collector = _collector(log, Attribution.FENCE)
    collector.begin("r1")
    log.add("statement: SELECT pg_sleep(10)", "slow")  # its duration comes after the response
    trace = collector.end("r1", EXCHANGE)
    assert [(s.text, s.duration_ms) for s in trace.statements] == [("SELECT pg_sleep(10)", None)]
    log.add("duration: 10000.000 ms", "slow")
    collector.begin("r2")
    assert collector.end("r2", EXCHANGE).statements == ()


@pytest.mark.parametrize("mode", [Attribution.FENCE, Attribution.TRACEPARENT])
def test_memory_stays_flat_over_many_requests(log: ScriptedLog, mode: Attribution) -> None:
    collector = _collector(log, mode)
    sizes = []
    for n in range(600):
        tp = collector.begin(f"r{n}")
        session = f"pool-{n % 4}"
        log.statement("BEGIN", session, vxid=f"3/{n}")
        log.statement(f"SELECT {n} /*traceparent='{tp}'*/", session, vxid=f"3/{n}")
        log.statement("COMMIT", session, vxid=f"3/{n}")
        log.statement("SELECT 'noise'", "background", dbname="other")
        trace = collector.end(f"r{n}", EXCHANGE)
        assert [s.text for s in trace.statements] == ["BEGIN", f"SELECT {n}", "COMMIT"]
        sizes.append(collector.buffered)
    assert max(sizes) <= 2 and sizes[-1] == sizes[10]
