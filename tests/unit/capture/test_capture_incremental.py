"""The capture hot path's shortcuts give what the plain path gives: statements built without the dataclass's
``__init__``, snapshots of waiting statements, and per-session attribution against ``traced`` over everything."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import pytest
from test_capture_collector import EXCHANGE, ScriptedLog

from probity.capture.collector import Collector
from probity.capture.records import LogLine, StatementParser, as_record, parse_lines
from probity.capture.traceparent import traced
from probity.core.trace import Attribution, Statement

MakeRecord = Callable[..., dict[str, Any]]
TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_parsed_statement_is_an_ordinary_frozen_statement(make_record: MakeRecord) -> None:
    record = make_record(f"statement: SELECT 1 /*traceparent='{TP}'*/")
    parser = StatementParser()
    parser.feed(LogLine(4, as_record(record)))
    (parsed,) = parser.feed(LogLine(5, as_record(make_record("duration: 0.5 ms"))))
    statement = parsed.statement
    expected = Statement(
        "SELECT 1", (), "s1", record.get("user"), record.get("dbname"), record.get("application_name"),
        record.get("timestamp", ""), 0.5, record.get("vxid"), None, None,
        {"traceparent": TP}, "simple", 4,
    )  # fmt: skip
    assert statement == expected and repr(statement) == repr(expected)
    assert dataclasses.asdict(statement) == dataclasses.asdict(expected)
    assert dataclasses.replace(statement, text="SELECT 2").text == "SELECT 2"
    with pytest.raises(dataclasses.FrozenInstanceError):
        statement.text = "changed"  # type: ignore[misc]


def test_a_snapshot_of_a_waiting_statement_stays_as_it_was_when_it_completes(make_record: MakeRecord) -> None:
    parser = StatementParser()
    parser.feed(LogLine(1, as_record(make_record("statement: SELECT 1"))))
    (waiting,) = parser.pending()
    assert parser.waiting("s1") is waiting and parser.waiting_all() == [waiting]
    (done,) = parser.feed(LogLine(2, as_record(make_record("duration: 2.5 ms"))))
    assert waiting.statement.duration_ms is None and done.statement.duration_ms == 2.5
    assert dataclasses.replace(done.statement, duration_ms=None) == waiting.statement
    assert parser.pending() == [] and parser.waiting("s1") is None


def test_a_statement_failing_after_a_snapshot_carries_its_error(make_record: MakeRecord) -> None:
    parser = StatementParser()
    parser.feed(LogLine(1, as_record(make_record("statement: SELECT 1/0"))))
    parser.pending()
    failure = make_record("division by zero", error_severity="ERROR", state_code="22012", statement="SELECT 1/0")
    (done,) = parser.feed(LogLine(2, as_record(failure)))
    assert (done.statement.error, done.statement.sqlstate) == ("division by zero", "22012")
    assert done.statement == parse_lines([_json(make_record("statement: SELECT 1/0")), _json(failure)])[0]


def _json(record: Mapping[str, Any]) -> str:
    return json.dumps(record)


def _tp(n: int) -> str:
    return f"00-{n + 1:032x}-b7ad6b7169203331-01"


def _script(log: ScriptedLog, rng: random.Random, names: list[str], sent: dict[str, str]) -> None:
    """Interleave, record by record, the transactions of several requests on a few pooled sessions."""
    queues: list[list[tuple[str, str, str]]] = []
    for n, name in enumerate(names):
        session, vxid = f"pool-{n % 3}", f"{n % 3}/{rng.randrange(1, 9)}"
        tagged = [(f"SELECT {n}, {k} /*traceparent='{sent[name]}'*/", session, vxid) for k in range(rng.randrange(3))]
        close = rng.choice(["COMMIT", "ROLLBACK", "SELECT 'untagged'"])
        queues.append([("BEGIN", session, vxid), *tagged, (close, session, vxid)])
    queues.append([("SELECT 'noise'", "background", "9/1") for _ in range(3)])
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        text, session, vxid = queue.pop(0)
        log.statement(text, session, vxid=vxid)


@pytest.mark.parametrize("seed", range(12))
def test_per_session_attribution_matches_traced_over_the_whole_log(make_record: MakeRecord, seed: int) -> None:
    rng = random.Random(seed)
    log = ScriptedLog(make_record)
    collector = Collector(log, Attribution.TRACEPARENT, settle=0)
    claimed: set[int] = set()
    untagged = 0  # BEGIN/COMMIT/ROLLBACK tied by session and transaction, not by a comment
    for wave in range(6):
        names = [f"w{wave}r{n}" for n in range(rng.randrange(1, 5))]
        sent = {name: collector.begin(name, _tp(wave * 10 + n)) for n, name in enumerate(names)}
        first = len(log.lines)
        _script(log, rng, names, sent)
        everything = parse_lines((msgspec.json.encode(line.record) for line in log.lines[first:]), first + 1)
        for name in names:
            trace = collector.end(name, EXCHANGE)
            expected = [s for s in traced(everything, sent[name]) if s.log_line not in claimed]
            claimed.update(s.log_line for s in expected)
            assert list(trace.statements) == expected
            untagged += sum(s.traceparent is None for s in expected)
    assert collector.buffered == 0 and untagged > 0
