"""records.py: every log shape a real server writes, read from recorded fixtures and edge cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from probity.capture.records import (
    LogLine,
    LogRecord,
    StatementParser,
    as_record,
    decode_line,
    parse_duration,
    parse_lines,
    parse_parameters,
    split_sqlcomment,
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRICKY = "it's, a 'quoted', multi\nline välue ✓"

Lines = Callable[[str], list[str]]
MakeRecord = Callable[..., dict[str, Any]]


def _statements(records: list[dict[str, Any]]) -> list[Any]:
    return parse_lines(json.dumps(r) for r in records)


# -- shapes, from a real server ------------------------------------------------------------------------


def test_simple_protocol_keeps_literal_sql_and_strips_the_comment(fixture_lines: Lines) -> None:
    statements = parse_lines(fixture_lines("simple"))
    assert [s.text for s in statements] == [
        "BEGIN",
        "SELECT 'it''s, a ''quoted'', multi\nline välue ✓'::text AS lit, NULL AS n",
        "SELECT id, name FROM patients WHERE tenant_id = 7",
        "COMMIT",
        "BEGIN",
        "SELECT 1; SELECT 2",
        "COMMIT",
    ]
    tagged = statements[1]
    assert tagged.protocol == "simple" and tagged.params == ()
    assert tagged.tags == {"action": "list/patients", "traceparent": TRACEPARENT}
    assert tagged.traceparent == TRACEPARENT
    assert tagged.application == "fixture-simple" and tagged.user == "probity" and tagged.database == "postgres"
    assert tagged.vxid == statements[0].vxid and tagged.session_id == statements[0].session_id
    assert tagged.log_line == 6 and tagged.timestamp.endswith(" UTC")
    assert all(s.duration_ms is not None and s.duration_ms > 0 for s in statements)


def test_extended_protocol_binds_parameters_in_order(fixture_lines: Lines) -> None:
    statements = parse_lines(fixture_lines("extended"))
    insert, select, *_ = (s for s in statements if s.protocol == "extended")
    assert insert.text == "INSERT INTO patients (id, tenant_id, name) VALUES ($1, $2, $3)"
    assert insert.params == ("1", "7", TRICKY)
    assert insert.traceparent == TRACEPARENT
    assert select.params == (None, "", "\\x000127", "{1,NULL}", '{"a": "b\'c, d"}')
    assert [s.text for s in statements if s.protocol == "simple"] == ["BEGIN", "COMMIT", "BEGIN", "ROLLBACK"]
    assert "parse <unnamed>" not in " ".join(s.text for s in statements)  # parse/bind steps are no statements
    assert len(statements) == 7


def test_named_prepared_statements_are_statements_each_time(fixture_lines: Lines) -> None:
    statements = [s for s in parse_lines(fixture_lines("prepared")) if s.protocol == "extended"]
    assert [s.params for s in statements] == [("1", "7"), ("2", "7")]
    assert {s.text for s in statements} == {"SELECT name FROM patients WHERE id = $1 AND tenant_id = $2"}


def test_asyncpg_names_portals_and_fetches_from_a_portal(fixture_lines: Lines) -> None:
    lines = fixture_lines("raw")
    assert sum("execute fetch from __asyncpg_stmt_1__/C_1: " in line for line in lines) == 2
    statements = parse_lines(lines)
    # Two executes; the two further fetches from portal C_1 are more rows of the second, not statements.
    assert [s.params for s in statements] == [("5", None), ("5", "it's")]
    assert all(s.text.startswith("SELECT g FROM generate_series(1, $1::int)") for s in statements)
    assert all(s.duration_ms is not None for s in statements)


def test_identical_statements_of_different_requests_share_one_text(make_record: MakeRecord) -> None:
    one, two = "00-" + "1" * 32 + "-" + "a" * 16 + "-01", "00-" + "2" * 32 + "-" + "b" * 16 + "-01"
    statements = _statements(
        [
            make_record(f"statement: SELECT * FROM t WHERE id = 1 /*traceparent='{one}'*/", "s1"),
            make_record(f"statement: SELECT * FROM t WHERE id = 1 /*traceparent='{two}'*/", "s2"),
        ]
    )
    assert statements[0].text == statements[1].text == "SELECT * FROM t WHERE id = 1"
    assert [s.traceparent for s in statements] == [one, two]


# -- durations ----------------------------------------------------------------------------------------


def test_a_bare_duration_belongs_to_its_own_sessions_statement(make_record: MakeRecord) -> None:
    statements = _statements(
        [
            make_record("statement: SELECT 1", "a"),
            make_record("statement: SELECT 2", "b"),
            make_record("duration: 2.500 ms", "b"),
            make_record("duration: 1.250 ms", "a"),
        ]
    )
    assert [(s.text, s.duration_ms) for s in statements] == [("SELECT 1", 1.25), ("SELECT 2", 2.5)]


def test_a_duration_with_no_statement_waiting_is_ignored(fixture_lines: Lines) -> None:
    # noise.jsonl ends with the duration of a marker statement that was cut out of the fixture
    last = json.loads(fixture_lines("noise")[-1])
    assert last["message"].startswith("duration: ") and "statement" not in last
    parser = StatementParser()
    assert parser.feed(LogLine(1, as_record(last))) == [] and parser.flush() == []


def test_statements_logged_with_their_duration(fixture_lines: Lines) -> None:
    """A server with log_statement = none writes `duration: … statement:` and `duration: … execute …:`."""
    statements = parse_lines(fixture_lines("durations"))
    assert [(s.text, s.params, s.protocol) for s in statements] == [
        ("SET log_statement = 'none'", (), "simple"),
        ("SELECT name FROM patients WHERE id = $1", ("1",), "extended"),
        ("SELECT count(*) FROM patients", (), "simple"),
    ]
    assert all(s.duration_ms is not None for s in statements)


def test_a_statement_without_duration_completes_at_the_next_or_at_disconnection(
    make_record: MakeRecord,
) -> None:
    parser = StatementParser()
    assert parser.feed(LogLine(1, as_record(make_record("statement: SELECT 1")))) == []
    assert [p.statement.text for p in parser.pending()] == ["SELECT 1"]
    done = parser.feed(LogLine(2, as_record(make_record("statement: SELECT 2"))))
    assert [(p.seq, p.statement.text, p.statement.duration_ms) for p in done] == [(0, "SELECT 1", None)]
    done = parser.feed(LogLine(3, as_record(make_record("disconnection: session time: 0:00:00.005 user=probity"))))
    assert [p.statement.text for p in done] == ["SELECT 2"] and parser.pending() == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("duration: 0.010 ms", (0.01, "")),
        ("duration: 12.000 ms  parse <unnamed>: SELECT 1", (12.0, "parse <unnamed>: SELECT 1")),
        ("duration: fast ms", None),
        ("statement: SELECT 'duration: 1 ms'", None),
    ],
)
def test_parse_duration(message: str, expected: tuple[float, str] | None) -> None:
    assert parse_duration(message) == expected


# -- errors -------------------------------------------------------------------------------------------


def test_errors_attach_to_their_statement_or_become_one(fixture_lines: Lines) -> None:
    failed = [s for s in parse_lines(fixture_lines("errors")) if s.error]
    assert [(s.text, s.protocol, s.sqlstate) for s in failed] == [
        # failed while executing: the error joins the logged execute, parameters and tags included
        ("INSERT INTO patients (id, tenant_id, name) VALUES ($1, 7, 'x')", "extended", "23505"),
        # failed at bind or parse: nothing was logged but the error; the statement comes from it
        ("SELECT 1/0 WHERE 1 = $1", "extended", "22012"),
        ("SELEC $1", "extended", "42601"),
        ("SELEC 1", "simple", "42601"),
        ("SELECT * FROM missing_table", "simple", "42P01"),
    ]
    insert = failed[0]
    assert insert.params == ("1",) and insert.traceparent == TRACEPARENT
    assert insert.error == 'duplicate key value violates unique constraint "patients_pkey"'
    assert all(s.duration_ms is None for s in failed)
    texts = [s.text for s in parse_lines(fixture_lines("errors"))]
    assert texts.count("SELECT * FROM missing_table") == 1  # attached, not duplicated


def test_an_error_about_other_sql_completes_the_waiting_statement(make_record: MakeRecord) -> None:
    statements = _statements(
        [
            make_record("statement: SELECT 1"),
            make_record("division by zero", error_severity="ERROR", state_code="22012", statement="SELECT 1/0"),
            make_record("terminating connection", error_severity="FATAL", state_code="57P01"),
        ]
    )
    assert [(s.text, s.error) for s in statements] == [("SELECT 1", None), ("SELECT 1/0", "division by zero")]


def test_warnings_and_other_log_messages_are_not_statements(make_record: MakeRecord) -> None:
    statements = _statements(
        [
            make_record("statement: COMMIT"),
            make_record("there is no transaction in progress", error_severity="WARNING", state_code="25P01"),
            make_record("duration: 0.020 ms"),
            make_record('temporary file: path "base/pgsql_tmp/x", size 1', statement="SELECT 1"),
        ]
    )
    assert [(s.text, s.error, s.duration_ms) for s in statements] == [("COMMIT", None, 0.02)]


# -- what is not a statement ----------------------------------------------------------------------------


def test_server_and_connection_records_are_skipped(fixture_lines: Lines) -> None:
    assert parse_lines(fixture_lines("startup")) == []
    noise = parse_lines(fixture_lines("noise"))
    assert [s.text for s in noise] == ["BEGIN", "SELECT 'other database'", "COMMIT", "CHECKPOINT"]
    assert {s.database for s in noise} == {"other", "postgres"}


def test_records_of_other_backends_are_skipped(make_record: MakeRecord) -> None:
    statements = _statements(
        [
            make_record("statement: VACUUM t", backend_type="autovacuum worker"),
            make_record("statement: SELECT 1", backend_type="background worker"),
            make_record("statement: SELECT 2"),
        ]
    )
    assert [s.text for s in statements] == ["SELECT 2"]


def test_broken_lines_are_skipped() -> None:
    assert decode_line(b"", 1) is None
    assert decode_line(b"[1, 2]", 1) is None
    assert decode_line(b'{"message": "statement: SELECT 1"', 1) is None
    assert decode_line('{"user": "ü", "a": 1}'.encode(), 3) == LogLine(3, LogRecord(user="ü"))


def test_unreadable_parameters_keep_the_statement_and_are_counted(make_record: MakeRecord) -> None:
    parser = StatementParser()
    record = make_record("execute <unnamed>: SELECT $1", detail="parameters: $1 = 'cut")
    parser.feed(LogLine(1, as_record(record)))
    (parsed,) = parser.flush()
    assert parsed.statement.text == "SELECT $1" and parsed.statement.params == ()
    assert parser.malformed == 1


# -- the parameters tokenizer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detail", "values"),
    [
        ("parameters: $1 = '41'", ("41",)),
        ("parameters: $1 = NULL", (None,)),
        ("parameters: $1 = 'NULL'", ("NULL",)),
        ("parameters: $1 = ''", ("",)),
        ("parameters: $1 = ''''", ("'",)),
        ("parameters: $1 = 'it''s', $2 = NULL, $3 = ''", ("it's", None, "")),
        ("parameters: $1 = 'a, $2 = ''b''', $2 = 'c'", ("a, $2 = 'b'", "c")),
        ("parameters: $1 = 'line one\nline two\r\n', $2 = '\t'", ("line one\nline two\r\n", "\t")),
        ("parameters: $1 = 'välue ✓ 日本 🙂'", ("välue ✓ 日本 🙂",)),
        ("parameters: $1 = '{\"a\": \"b''c\"}'", ('{"a": "b\'c"}',)),
        ("parameters: $1 = 'abc...'", ("abc...",)),  # truncated by log_parameter_max_length
        (
            "parameters: " + ", ".join(f"${i} = '{i}'" for i in range(1, 12)),
            tuple(str(i) for i in range(1, 12)),
        ),
    ],
)
def test_parameters(detail: str, values: tuple[str | None, ...]) -> None:
    assert parse_parameters(detail) == values


@pytest.mark.parametrize(
    "detail",
    [
        "parameters: $1 = 'open",
        "parameters: $1 = 'a' $2 = 'b'",
        "parameters: $2 = 'skips $1'",
        "parameters: $1 = nul",
        "parameters: $1 = 'a', ",
        "parameters: ",
        "Key (id)=(1) already exists.",
    ],
)
def test_malformed_parameters_are_refused(detail: str) -> None:
    with pytest.raises(ValueError):
        parse_parameters(detail)


def test_parameters_from_a_real_record(fixture_lines: Lines) -> None:
    detail = next(json.loads(x)["detail"] for x in fixture_lines("extended") if "$3 = " in x)
    assert parse_parameters(detail) == ("1", "7", TRICKY)


# -- sqlcommenter ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "text", "tags"),
    [
        (f"SELECT 1 /*traceparent='{TRACEPARENT}'*/", "SELECT 1", {"traceparent": TRACEPARENT}),
        ("SELECT 1 /*a='1',b='x%2Fy%27z'*/", "SELECT 1", {"a": "1", "b": "x/y'z"}),
        ("SELECT 1 /*k%3Dx='v'*/  \n", "SELECT 1", {"k=x": "v"}),
        ("SELECT 1 /*a='1'*/;", "SELECT 1;", {"a": "1"}),
        ("SELECT 1 /*a='it\\'s'*/", "SELECT 1", {"a": "it's"}),
        ("SELECT 1\n/*a='1'*/", "SELECT 1", {"a": "1"}),
        ("SELECT 1 /*a=''*/", "SELECT 1", {"a": ""}),
        # not sqlcommenter, or not at the end: left alone
        ("SELECT 1 /* plain comment */", "SELECT 1 /* plain comment */", {}),
        ("SELECT /*a='1'*/ 1", "SELECT /*a='1'*/ 1", {}),
        ("SELECT 1 /*a=1*/", "SELECT 1 /*a=1*/", {}),
        ("SELECT 1 /*a='1' b='2'*/", "SELECT 1 /*a='1' b='2'*/", {}),
        ("SELECT 1 /**/", "SELECT 1 /**/", {}),
        ("SELECT '*/'", "SELECT '*/'", {}),
        ("SELECT 1", "SELECT 1", {}),
    ],
)
def test_split_sqlcomment(sql: str, text: str, tags: dict[str, str]) -> None:
    assert split_sqlcomment(sql) == (text, tags)


def test_the_comment_is_stripped_from_failed_statements_too(fixture_lines: Lines) -> None:
    failed = next(s for s in parse_lines(fixture_lines("errors")) if s.sqlstate == "23505")
    assert "/*" not in failed.text and failed.tags["action"] == "list/patients"
