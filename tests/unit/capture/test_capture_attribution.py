"""fence.py and traceparent.py: which logged statements belong to a request."""

from __future__ import annotations

import re

import pytest

from probity.capture.fence import fenced, marker_sql
from probity.capture.traceparent import new_traceparent, trace_id, traced, transaction_control
from probity.core.trace import Statement

TP1 = "00-11111111111111111111111111111111-aaaaaaaaaaaaaaaa-01"
TP2 = "00-22222222222222222222222222222222-bbbbbbbbbbbbbbbb-01"


def _s(text: str, session: str, vxid: str | None = None, tp: str | None = None, **kw: str) -> Statement:
    return Statement(text, session_id=session, vxid=vxid, tags={"traceparent": tp} if tp else {}, **kw)


def _texts(statements: tuple[Statement, ...] | None) -> list[tuple[str, str]]:
    assert statements is not None
    return [(s.session_id, s.text) for s in statements]


# -- traceparent ----------------------------------------------------------------------------------------


def test_new_traceparents_are_w3c_and_fresh() -> None:
    values = {new_traceparent() for _ in range(100)}
    assert len(values) == 100
    assert all(re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", v) for v in values)
    assert all(trace_id(v) == v[3:35] for v in values)


@pytest.mark.parametrize(
    "value", [None, "", "00-xyz", "00-" + "0" * 32 + "-aaaaaaaaaaaaaaaa-01", "00-" + "g" * 32 + "-a-01"]
)
def test_not_a_trace_id(value: str | None) -> None:
    assert trace_id(value) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("BEGIN", "open"),
        ("begin isolation level serializable", "open"),
        ("START TRANSACTION READ ONLY", "open"),
        ("COMMIT", "close"),
        ("commit;", "close"),
        ("END", "close"),
        ("ROLLBACK", "close"),
        ("ABORT", "close"),
        ("ROLLBACK TO SAVEPOINT s1", "inner"),
        ("rollback  to s1", "inner"),
        ("SAVEPOINT s1", "inner"),
        ("RELEASE SAVEPOINT s1", "inner"),
        ("SELECT 1", None),
        ("BEGINNING", None),
        ("ENDPOINT", None),
        ("COMMITTED_AT", None),
        ("INSERT INTO audit (action) VALUES ('COMMIT')", None),
    ],
)
def test_transaction_control(text: str, kind: str | None) -> None:
    assert transaction_control(text) == kind


def test_two_requests_in_flight_on_two_sessions_get_exactly_their_own() -> None:
    log = [
        _s("BEGIN", "a", "3/7"),
        _s("BEGIN", "b", "4/9"),
        _s("SELECT 1", "a", "3/7", TP1),
        _s("SELECT 2", "b", "4/9", TP2),
        _s("SELECT 3", "a", "3/7", TP1),
        _s("COMMIT", "b", "4/9"),
        _s("COMMIT", "a", "3/7"),
        _s("SELECT 'probity:fence:sync:x'", "fence", "5/1"),
    ]
    assert _texts(traced(log, TP1)) == [("a", "BEGIN"), ("a", "SELECT 1"), ("a", "SELECT 3"), ("a", "COMMIT")]
    assert _texts(traced(log, TP2)) == [("b", "BEGIN"), ("b", "SELECT 2"), ("b", "COMMIT")]


def test_the_backends_own_span_id_still_matches() -> None:
    child = TP1[:36] + "cccccccccccccccc-01"
    assert _texts(traced([_s("SELECT 1", "a", "3/1", child)], TP1)) == [("a", "SELECT 1")]


def test_rollback_after_a_failed_statement_is_outside_any_vxid_but_still_the_requests() -> None:
    log = [
        _s("BEGIN", "a", "4/10"),
        _s("INSERT INTO t VALUES ($1)", "a", "4/10", TP1, error="duplicate key"),
        _s("ROLLBACK", "a", "4/0"),
        _s("BEGIN", "a", "4/11"),  # the pooled session's next request
        _s("SELECT 1", "a", "4/11", TP2),
        _s("COMMIT", "a", "4/11"),
    ]
    assert _texts(traced(log, TP1)) == [("a", "BEGIN"), ("a", "INSERT INTO t VALUES ($1)"), ("a", "ROLLBACK")]
    assert _texts(traced(log, TP2)) == [("a", "BEGIN"), ("a", "SELECT 1"), ("a", "COMMIT")]


def test_a_pooled_session_between_two_requests_is_split_at_the_transaction_boundary() -> None:
    log = [
        _s("SELECT 1", "a", "3/1", TP1),  # autocommit: no BEGIN, no COMMIT
        _s("BEGIN", "a", "3/2"),  # someone else's untagged transaction
        _s("SELECT 2", "a", "3/2"),
        _s("COMMIT", "a", "3/2"),
        _s("SAVEPOINT s", "a", "3/3"),
        _s("SELECT 3", "a", "3/3", TP2),
    ]
    assert _texts(traced(log, TP1)) == [("a", "SELECT 1")]
    assert _texts(traced(log, TP2)) == [("a", "SAVEPOINT s"), ("a", "SELECT 3")]


def test_savepoints_and_untagged_sql_between_tagged_statements() -> None:
    log = [
        _s("BEGIN", "a", "3/5"),
        _s("SELECT 1", "a", "3/5", TP1),
        _s("SAVEPOINT s1", "a", "3/5"),
        _s("SET LOCAL app.tenant = '7'", "a", "3/5"),  # untagged and not transaction control: not taken
        _s("ROLLBACK TO SAVEPOINT s1", "a", "3/5"),
        _s("RELEASE SAVEPOINT s1", "a", "3/5"),
        _s("SELECT 2", "a", "3/5", TP1),
        _s("COMMIT", "a", "3/5"),
        _s("BEGIN", "a", "3/6"),
    ]
    assert [t for _, t in _texts(traced(log, TP1))] == [
        "BEGIN", "SELECT 1", "SAVEPOINT s1", "ROLLBACK TO SAVEPOINT s1", "RELEASE SAVEPOINT s1", "SELECT 2",
        "COMMIT",
    ]  # fmt: skip


def test_no_tagged_statement_means_nothing() -> None:
    log = [_s("BEGIN", "a", "3/5"), _s("COMMIT", "a", "3/5")]
    assert traced(log, TP1) == ()
    assert traced(log, "not a traceparent") == ()


# -- fences ---------------------------------------------------------------------------------------------


def _fence(kind: str, rid: str = "r1", session: str = "fence") -> Statement:
    return Statement(marker_sql(kind, rid), session_id=session, database="app", application="probity-fence")


def test_fenced_statements_are_strictly_between_the_markers_of_other_sessions() -> None:
    log = [
        Statement("SELECT 'before'", session_id="pool", database="app"),
        _fence("begin"),
        Statement("SELECT 'mine'", session_id="pool", database="app", user="api"),
        Statement("SELECT 'other db'", session_id="x", database="other", user="api"),
        Statement("SELECT 'reader'", session_id="r", database="app", application="probity-logreader"),
        Statement("SELECT 'fence session'", session_id="fence", database="app"),
        Statement("SELECT 'other user'", session_id="y", database="app", user="admin", application="psql"),
        _fence("end", "r0"),  # another exchange's marker does not end this one
        Statement("SELECT 'still mine'", session_id="pool", database="app", user="api"),
        _fence("end"),
        Statement("SELECT 'after'", session_id="pool", database="app"),
    ]
    assert [s.text for s in fenced(log, "r1") or ()] == [
        "SELECT 'mine'", "SELECT 'other user'", "SELECT 'still mine'",
    ]  # fmt: skip
    assert [s.text for s in fenced(log, "r1", user="api") or ()] == ["SELECT 'mine'", "SELECT 'still mine'"]
    assert [s.text for s in fenced(log, "r1", application="psql") or ()] == ["SELECT 'other user'"]
    assert [s.text for s in fenced(log, "r1", database="other") or ()] == ["SELECT 'other db'"]


def test_an_empty_fence_is_empty_and_a_missing_marker_is_none() -> None:
    assert fenced([_fence("begin"), _fence("end")], "r1") == ()
    assert fenced([_fence("begin")], "r1") is None
    assert fenced([_fence("end")], "r1") is None
    assert fenced([_fence("end"), _fence("begin")], "r1") is None
    assert fenced([_fence("begin"), _fence("end", session="someone else")], "r1") is None


@pytest.mark.parametrize("rid", ["", "a b", "it's", "x" * 101, "r/1"])
def test_marker_ids_cannot_break_out_of_the_literal(rid: str) -> None:
    with pytest.raises(ValueError):
        marker_sql("begin", rid)


def test_marker_kinds() -> None:
    assert marker_sql("sync", "e-1.2:3") == "SELECT 'probity:fence:sync:e-1.2:3'"
    with pytest.raises(ValueError):
        marker_sql("middle", "r1")
