"""collector.py in batches: finished exchanges tied to their statements after the fact, one sync per batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from test_capture_collector import EXCHANGE, ScriptedLog

from probity.capture.collector import Collector
from probity.core.trace import Attribution, Exchange

MakeRecord = Callable[..., dict[str, Any]]


@pytest.fixture
def log(make_record: MakeRecord) -> ScriptedLog:
    return ScriptedLog(make_record)


def _collector(log: ScriptedLog) -> Collector:
    return Collector(log, Attribution.TRACEPARENT, marker=log.marker, settle=0, timeout=0.05, poll=0.001)


def _exchange(traceparent: str) -> Exchange:
    return Exchange("GET", "http://api/x", "GET /x", 200, traceparent=traceparent)


def _texts(log: ScriptedLog) -> list[str]:
    return [line.record.message for line in log.lines]


def test_interleaved_requests_of_one_batch_land_on_their_own_exchanges(log: ScriptedLog) -> None:
    collector = _collector(log)
    sent = {name: collector.begin(name) for name in ("r1", "r2", "r3")}
    for session, vxid in (("a", "3/1"), ("b", "4/1"), ("c", "5/1")):
        log.statement("BEGIN", session, vxid=vxid)
    for name, session, vxid in (("r2", "b", "4/1"), ("r1", "a", "3/1"), ("r3", "c", "5/1"), ("r1", "a", "3/1")):
        log.statement(f"SELECT '{name}' /*traceparent='{sent[name]}'*/", session, vxid=vxid)
    log.statement("COMMIT", "a", vxid="3/1")
    log.statement("ROLLBACK", "b", vxid="4/1")
    log.statement("COMMIT", "c", vxid="5/1")
    for name in ("r2", "r3", "r1"):
        collector.finish(name, _exchange(sent[name]))
    traces = collector.drain()
    assert sorted(traces) == ["r1", "r2", "r3"]
    assert [s.text for s in traces["r1"].statements] == ["BEGIN", "SELECT 'r1'", "SELECT 'r1'", "COMMIT"]
    assert [s.text for s in traces["r2"].statements] == ["BEGIN", "SELECT 'r2'", "ROLLBACK"]
    assert [s.text for s in traces["r3"].statements] == ["BEGIN", "SELECT 'r3'", "COMMIT"]
    assert all(t.observed and t.conclusive for t in traces.values())


def test_one_sync_marker_serves_a_whole_batch(log: ScriptedLog) -> None:
    collector = _collector(log)
    for n in range(10):
        tp = collector.begin(f"r{n}")
        log.statement(f"SELECT {n} /*traceparent='{tp}'*/", f"s{n % 3}")
        collector.finish(f"r{n}", _exchange(tp))
    assert collector.waiting == 10
    traces = collector.drain()
    assert len(traces) == 10 and collector.waiting == 0
    assert sum("probity:fence:sync" in text for text in _texts(log)) == 1
    assert collector.drain() == {}


def test_a_request_whose_statements_never_showed_is_not_conclusive(log: ScriptedLog) -> None:
    collector = _collector(log)
    shown, silent = collector.begin("shown"), collector.begin("silent")
    log.statement(f"SELECT 1 /*traceparent='{shown}'*/")
    collector.finish("shown", _exchange(shown))
    collector.finish("silent", _exchange(silent))
    traces = collector.drain()
    assert traces["shown"].conclusive
    assert traces["silent"].observed and traces["silent"].statements == () and not traces["silent"].conclusive


def test_a_batch_whose_sync_marker_never_shows_is_unobserved(log: ScriptedLog) -> None:
    collector = _collector(log)
    log.markers_lost = True
    tp = collector.begin("r1")
    log.statement(f"SELECT 1 /*traceparent='{tp}'*/")
    collector.finish("r1", _exchange(tp))
    trace = collector.drain()["r1"]
    assert not trace.observed and trace.statements == () and not trace.conclusive


def test_an_exchange_gets_nothing_logged_before_it_began(log: ScriptedLog) -> None:
    collector = _collector(log)
    earlier = collector.begin("earlier")
    log.statement(f"SELECT 'replayed' /*traceparent='{earlier}'*/")
    collector.finish("earlier", _exchange(earlier))
    later = collector.begin("later")
    log.statement(f"SELECT 'mine' /*traceparent='{later}'*/")
    collector.finish("later", _exchange(earlier))  # the same traceparent sent again
    traces = collector.drain()
    assert [s.text for s in traces["earlier"].statements] == ["SELECT 'replayed'"]
    assert traces["later"].statements == ()  # claimed by the earlier exchange, and 'mine' is not its trace


def test_finished_and_open_exchanges_keep_what_they_need_across_drains(log: ScriptedLog) -> None:
    collector = _collector(log)
    slow = collector.begin("slow")  # still in flight while another batch is drained
    quick = collector.begin("quick")
    log.statement(f"SELECT 'slow' /*traceparent='{slow}'*/", "a")
    log.statement(f"SELECT 'quick' /*traceparent='{quick}'*/", "b")
    collector.finish("quick", _exchange(quick))
    assert [s.text for s in collector.drain()["quick"].statements] == ["SELECT 'quick'"]
    collector.finish("slow", _exchange(slow))
    assert [s.text for s in collector.drain()["slow"].statements] == ["SELECT 'slow'"]


def test_fences_cannot_wait(log: ScriptedLog) -> None:
    collector = Collector(log, Attribution.FENCE, marker=log.marker, settle=0, timeout=0.05, poll=0.001)
    collector.begin("r1")
    with pytest.raises(ValueError, match="fences"):
        collector.finish("r1", EXCHANGE)
    traceparent = _collector(log)
    with pytest.raises(ValueError, match="not begun"):
        traceparent.finish("nope", EXCHANGE)


def test_memory_stays_flat_over_many_batches(log: ScriptedLog) -> None:
    collector = _collector(log)
    sizes = []
    for batch in range(40):
        for n in range(16):
            name = f"r{batch}-{n}"
            tp = collector.begin(name)
            log.statement("BEGIN", f"pool-{n % 4}", vxid=f"3/{batch * 16 + n}")
            log.statement(f"SELECT {n} /*traceparent='{tp}'*/", f"pool-{n % 4}", vxid=f"3/{batch * 16 + n}")
            log.statement("COMMIT", f"pool-{n % 4}", vxid=f"3/{batch * 16 + n}")
            collector.finish(name, _exchange(tp))
        traces = collector.drain()
        assert all(len(t.statements) == 3 for t in traces.values()) and len(traces) == 16
        sizes.append(collector.buffered + collector.waiting)
    assert max(sizes) <= 2 and sizes[-1] == sizes[5]


# -- hold: a reader that hears of a request only after it was sent (the judging process) ----------------------

TP_LATE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _late_request(log: ScriptedLog, collector: Collector) -> None:
    """r0 is begun; "late" is sent meanwhile, its SQL logged and read by r0's drain before "late" is begun."""
    first = collector.begin("r0")
    log.statement(f"SELECT 'r0' /*traceparent='{first}'*/", "a", vxid="3/1")
    log.statement("BEGIN", "b", vxid="4/1")
    log.statement(f"SELECT 'late' /*traceparent='{TP_LATE}'*/", "b", vxid="4/1")
    log.statement("COMMIT", "b", vxid="4/1")
    collector.finish("r0", _exchange(first))
    assert [s.text for s in collector.drain()["r0"].statements] == ["SELECT 'r0'"]


def test_a_request_begun_after_its_statements_were_read_gets_them_when_held(log: ScriptedLog) -> None:
    collector = _collector(log)
    collector.hold(collector.position)  # the reader knew of every request sent so far: only r0
    _late_request(log, collector)
    assert collector.begin("late", TP_LATE) == TP_LATE
    collector.finish("late", _exchange(TP_LATE))
    trace = collector.drain()["late"]
    assert [s.text for s in trace.statements] == ["BEGIN", "SELECT 'late'", "COMMIT"]
    assert trace.observed and trace.conclusive


def test_without_a_hold_those_statements_are_gone(log: ScriptedLog) -> None:
    # Why the hold exists: the drain for r0 dropped what no open request could claim.
    collector = _collector(log)
    _late_request(log, collector)
    collector.begin("late", TP_LATE)
    collector.finish("late", _exchange(TP_LATE))
    assert collector.drain()["late"].statements == ()


def test_a_hold_moved_on_lets_the_collector_forget(log: ScriptedLog) -> None:
    collector = _collector(log)
    collector.hold(collector.position)
    for n in range(20):
        tp = collector.begin(f"r{n}")
        log.statement(f"SELECT {n} /*traceparent='{tp}'*/", f"s{n % 3}")
        collector.finish(f"r{n}", _exchange(tp))
        collector.drain()
    held = collector.buffered  # everything since the hold: twenty requests and their sync markers
    collector.hold(collector.position)
    last = collector.begin("last")
    collector.finish("last", _exchange(last))
    collector.drain()  # trims to the new hold: only last's sync marker is newer
    assert held >= 20 and collector.buffered <= 2
