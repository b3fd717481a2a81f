"""Turn PostgreSQL's ``jsonlog`` records into :class:`~probity.core.trace.Statement` objects.

This is log-format parsing, not SQL analysis: it reads the shapes the server writes with
``log_statement = all`` and ``log_min_duration_statement = 0`` and never looks inside the SQL, except to
take a trailing sqlcommenter comment off it. The shapes, per client session (``session_id``):

- ``statement: SQL`` -- the simple protocol (psycopg2, literal SQL, ``BEGIN``/``COMMIT``);
- ``execute NAME: SQL`` with ``detail: "parameters: $1 = '41', $2 = NULL"`` -- the extended protocol;
  NAME is ``<unnamed>``, ``_pg3_0``, ``__asyncpg_stmt_1__``, or ``stmt/portal`` for a named portal;
- ``execute fetch from NAME: SQL`` -- more rows of a portal already executed: not a new statement;
- ``duration: 0.010 ms`` -- the duration of the session's statement just logged;
- ``duration: 0.010 ms  statement: SQL`` / ``…  execute NAME: SQL`` -- a statement and its duration in one
  record (servers with ``log_statement = none``); ``…  parse NAME: SQL`` and ``…  bind NAME: SQL`` are
  protocol steps, not statements;
- ``error_severity`` ERROR/FATAL/PANIC with ``state_code`` and the failing ``statement`` -- attached to the
  statement it belongs to, or a statement of its own when the server failed before logging one (at parse or
  bind time).

A statement is complete when its duration arrives, when it fails, when the session logs its next statement
or disconnects; :meth:`StatementParser.pending` shows the incomplete ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache, partial
from typing import Any, NamedTuple
from urllib.parse import unquote

import msgspec

from probity.core.trace import Statement

__all__ = [
    "DecodedBlock",
    "LogLine",
    "LogRecord",
    "ParsedStatement",
    "StatementParser",
    "as_record",
    "decode_block",
    "decode_line",
    "parse_duration",
    "parse_lines",
    "parse_parameters",
    "split_sqlcomment",
]

_FAILURES = frozenset({"ERROR", "FATAL", "PANIC"})
_EXTENDED_STEPS = frozenset({"PARSE", "BIND"})  # the `ps` of a record the server wrote inside those steps
# One sqlcommenter pair: key='value', the value url-encoded and its quotes backslash-escaped.
_PAIR = re.compile(r"\s*([^=',\s]+)='([^'\\]*(?:\\.[^'\\]*)*)'\s*")  # the value's loop unrolled: fast
_ESCAPE = re.compile(r"\\(.)")


# gc=False: the garbage collector need not track records (most of what the capture allocates); no cycle can
# pass through one, as it is frozen and holds only values decoded from JSON.
class LogRecord(msgspec.Struct, frozen=True, gc=False, repr_omit_defaults=True):
    """The fields of a jsonlog record that statement assembly reads; the decoder skips all others unread.

    Each holds the record's JSON value as written, ``None`` when it is absent (``timestamp``: ``""``). A value
    of an unexpected type is kept as it is, and the parser decides: a record whose session or message is not
    a string is no statement's.
    """

    backend_type: Any = None
    session_id: Any = None
    message: Any = None
    error_severity: Any = None
    statement: Any = None
    ps: Any = None
    state_code: Any = None
    detail: Any = None
    user: Any = None
    dbname: Any = None
    application_name: Any = None
    timestamp: Any = ""
    vxid: Any = None


_DECODER = msgspec.json.Decoder(LogRecord)


class LogLine(NamedTuple):
    """One decoded record of a jsonlog file and its 1-based line number in that file."""

    number: int
    record: LogRecord


# LogLine((number, record)) without the generated __new__'s Python frame: a third of the cost, a line at a time
_new_line = partial(tuple.__new__, LogLine)


class DecodedBlock(NamedTuple):
    """The records of a block of lines, how many of its lines were broken, and the number of its last line."""

    lines: list[LogLine]
    broken: int
    last_line: int


class ParsedStatement(NamedTuple):
    """A statement and the sequence number (0-based, in feed order) of the record that opened it."""

    seq: int
    statement: Statement


_new_parsed = partial(tuple.__new__, ParsedStatement)  # as _new_line


def as_record(fields: Mapping[str, Any]) -> LogRecord:
    """The record of a decoded JSON object: the fields assembly reads, their values as they are.

    >>> as_record({"message": "statement: SELECT 1", "pid": 42, "session_id": 7})
    LogRecord(session_id=7, message='statement: SELECT 1')
    """
    return msgspec.convert(fields, LogRecord)


def decode_line(raw: str | bytes, number: int) -> LogLine | None:
    """Decode one line of a jsonlog file; ``None`` for a blank or broken line, or one not holding an object.

    >>> decode_line('{"message": "statement: SELECT 1", "pid": 42}', 7)
    LogLine(number=7, record=LogRecord(message='statement: SELECT 1'))
    >>> decode_line('{"message": "stat', 8) is None
    True
    """
    record = _record(raw)
    return None if record is None else LogLine(number, record)


def _record(raw: str | bytes) -> LogRecord | None:
    # msgspec reads a record about twice as fast as orjson (it builds no dict, and skips the fields nobody
    # reads); json still reads what msgspec refuses (a lone surrogate escape, NaN, a byte order mark), so
    # the lines read are exactly those json reads, with the same values
    if _valid_utf8(raw):
        try:
            return _DECODER.decode(raw)
        except (ValueError, RecursionError):  # msgspec's DecodeError and ValidationError are ValueErrors
            pass
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return as_record(value) if isinstance(value, dict) else None


def _valid_utf8(raw: str | bytes) -> bool:
    """Whether msgspec may read *raw*: it checks the UTF-8 of the fields it decodes, not of those it skips."""
    if isinstance(raw, str) or raw.isascii():
        return True
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


def decode_block(block: bytes, last_line: int) -> DecodedBlock:
    """Decode newline-separated lines that follow line *last_line* of a file; also count the broken ones.

    >>> decoded = decode_block(b'{"message": "a"}\\n\\n{"user": "b"}\\nnot json', 10)
    >>> decoded.lines
    [LogLine(number=11, record=LogRecord(message='a')), LogLine(number=13, record=LogRecord(user='b'))]
    >>> decoded.broken, decoded.last_line
    (1, 14)
    """
    count = block.count(b"\n") + 1
    records = _whole_block(block, count)
    if records is None:
        return _line_by_line(block, last_line, count)
    return DecodedBlock(list(map(_new_line, enumerate(records, last_line + 1))), 0, last_line + count)


def _whole_block(block: bytes, count: int) -> list[LogRecord] | None:
    """The block's records decoded in one call, or ``None`` unless it surely holds one object on each line.

    msgspec reads the block as a stream of JSON values, one after another whatever the line breaks, so this
    makes sure they are lines: every line break stands between a ``}`` and a ``{`` (inside an object it
    could not: a string may hold no raw line break, and no ``{`` may follow a ``}``), so no value spans two
    lines, and there are as many values as lines, so no line holds two (nor none).
    """
    if block.count(b"}\n{") != count - 1 or not _valid_utf8(block):
        return None
    try:
        records = _DECODER.decode_lines(block)
    except (ValueError, RecursionError):  # a broken line, or one holding no object: read them one by one
        return None
    return records if len(records) == count else None


def _line_by_line(block: bytes, last_line: int, count: int) -> DecodedBlock:
    lines: list[LogLine] = []
    broken = 0
    for number, raw in enumerate(block.split(b"\n"), last_line + 1):
        if not raw:
            continue
        record = _record(raw)
        if record is None:
            broken += 1
        else:
            lines.append(_new_line((number, record)))
    return DecodedBlock(lines, broken, last_line + count)


def parse_parameters(detail: str) -> tuple[str | None, ...]:
    """The bound values of a ``parameters: $1 = …`` detail, in order; SQL NULL is ``None``.

    Values are quoted with ``'``, a quote inside doubled; they may hold commas, newlines and anything else.
    Raises :class:`ValueError` on text of any other shape.

    >>> parse_parameters("parameters: $1 = '41', $2 = NULL, $3 = 'it''s, fine'")
    ('41', None, "it's, fine")
    >>> parse_parameters("parameters: $1 = 'two\\nlines', $2 = ''")
    ('two\\nlines', '')
    >>> parse_parameters("parameters: $1 = 'unterminated")
    Traceback (most recent call last):
    ...
    ValueError: unterminated value of $1 at offset 17
    """
    if not detail.startswith("parameters: "):
        raise ValueError(f"not a parameters detail: {detail[:40]!r}")
    values: list[str | None] = []
    pos, end = 12, len(detail)
    while True:
        label = _label(len(values) + 1)
        if not detail.startswith(label, pos):
            raise ValueError(f"expected {label.strip()!r} at offset {pos}")
        pos += len(label)
        if detail.startswith("'", pos):
            close = detail.find("'", pos + 1)
            if close > 0 and not detail.startswith("'", close + 1):  # the usual value: no quote inside
                values.append(detail[pos + 1 : close])
                pos = close + 1
            else:
                value, pos = _quoted(detail, pos + 1, len(values) + 1)
                values.append(value)
        elif detail.startswith("NULL", pos):
            values.append(None)
            pos += 4
        else:
            raise ValueError(f"expected a quoted value or NULL at offset {pos}")
        if pos == end:
            return tuple(values)
        if not detail.startswith(", ", pos):
            raise ValueError(f"expected ', ' at offset {pos}")
        pos += 2


@lru_cache(maxsize=256)
def _label(number: int) -> str:
    return f"${number} = "


def _quoted(text: str, pos: int, index: int) -> tuple[str, int]:
    """The value of a quoted literal whose body starts at *pos*, and the offset after its closing quote."""
    parts: list[str] = []
    opening = pos - 1
    while True:
        quote = text.find("'", pos)
        if quote < 0:
            raise ValueError(f"unterminated value of ${index} at offset {opening}")
        parts.append(text[pos:quote])
        if text.startswith("'", quote + 1):  # a doubled quote stands for one
            parts.append("'")
            pos = quote + 2
            continue
        return "".join(parts), quote + 1


def split_sqlcomment(sql: str) -> tuple[str, dict[str, str]]:
    """Take a trailing sqlcommenter comment off *sql*: the SQL without it, and its decoded key/values.

    Only a comment at the very end (before an optional ``;``) made entirely of ``key='value'`` pairs counts;
    any other comment stays in the SQL.

    >>> split_sqlcomment("SELECT 1 /*action='list%2Fusers',traceparent='00-ab-cd-01'*/")
    ('SELECT 1', {'action': 'list/users', 'traceparent': '00-ab-cd-01'})
    >>> split_sqlcomment("SELECT 1 /* just a note */")
    ('SELECT 1 /* just a note */', {})
    >>> split_sqlcomment("SELECT 2 /*route='a\\\\'b'*/;")
    ('SELECT 2;', {'route': "a'b"})
    """
    body = sql.rstrip()
    semicolon = ""
    if body.endswith(";"):
        body, semicolon = body[:-1].rstrip(), ";"
    if not body.endswith("*/"):
        return sql, {}
    start = body.rfind("/*")
    if start < 0:
        return sql, {}
    tags = _tags(body[start + 2 : -2])
    if not tags:
        return sql, {}
    return body[:start].rstrip() + semicolon, dict(tags)


@lru_cache(maxsize=1024)  # every statement of a request carries the same comment: read it once
def _tags(inner: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    pos = 0
    while True:
        pair = _PAIR.match(inner, pos)
        if pair is None:
            return {}
        key, value = (_unescaped(part) for part in pair.groups())
        tags[key] = value
        pos = pair.end()
        if pos == len(inner):
            return tags
        if inner[pos] != ",":
            return {}
        pos += 1


def _unescaped(part: str) -> str:
    part = _ESCAPE.sub(_escaped_char, part) if "\\" in part else part
    return unquote(part) if "%" in part else part


def _escaped_char(match: re.Match[str]) -> str:
    return match.group(1)


def _milliseconds(message: str, unit: int) -> float | None:
    try:
        return float(message[10:unit])
    except ValueError:
        return None


def parse_duration(message: str) -> tuple[float, str] | None:
    """Split a ``duration: N ms…`` message into milliseconds and what follows; ``None`` for other messages.

    >>> parse_duration("duration: 0.010 ms")
    (0.01, '')
    >>> parse_duration("duration: 1.5 ms  bind <unnamed>: SELECT $1")
    (1.5, 'bind <unnamed>: SELECT $1')
    """
    if not message.startswith("duration: "):
        return None
    unit = message.find(" ms", 10)
    if unit < 0:
        return None
    try:
        value = float(message[10:unit])
    except ValueError:
        return None
    return value, message[unit + 3 :].lstrip(" ")


class _Draft:
    """A statement being assembled from the records of one session."""

    __slots__ = ("seq", "number", "record", "raw", "protocol", "duration", "error", "sqlstate", "snapshot")

    def __init__(self, seq: int, line: LogLine, raw: str, protocol: str) -> None:
        self.seq = seq
        self.number = line.number
        self.record = line.record
        self.raw = raw
        self.protocol = protocol
        self.duration: float | None = None
        self.error: str | None = None
        self.sqlstate: str | None = None
        self.snapshot: ParsedStatement | None = None  # built once while it waits: the collector asks every read


class StatementParser:
    """Feed records in log order; get statements back as they complete.

    Keeps one incomplete statement per open session, and forgets a session when it disconnects.
    """

    def __init__(self) -> None:
        self._open: dict[str, _Draft] = {}
        self.seen = 0  # records fed so far; the next record's sequence number
        self.malformed = 0  # statement records whose parameters could not be read

    def feed(self, line: LogLine) -> list[ParsedStatement]:
        """Take the next record; return the statements it completed (usually none or one)."""
        seq = self.seen
        self.seen += 1
        record = line.record
        if record.backend_type != "client backend":
            return []
        session = record.session_id
        message = record.message
        if not isinstance(session, str) or not isinstance(message, str):
            return []
        severity = record.error_severity
        if severity != "LOG":
            return self._failed(seq, session, line, message) if severity in _FAILURES else []
        if message.startswith("duration: "):  # the most frequent record: one per statement and protocol step
            return self._duration(seq, session, line, message)
        if message.startswith("statement: "):
            return self._start(session, _Draft(seq, line, message[11:], "simple"))
        if message.startswith("execute "):
            return self._execute(seq, session, line, message[8:])
        if message.startswith("disconnection: "):
            return self._finish(self._open.pop(session, None))
        return []

    def feed_all(self, lines: Iterable[LogLine]) -> list[ParsedStatement]:
        done: list[ParsedStatement] = []
        for line in lines:
            done.extend(self.feed(line))
        return done

    def pending(self) -> list[ParsedStatement]:
        """Snapshots of the statements still waiting for their duration, in log order."""
        return sorted((self._snapshot(draft) for draft in self._open.values()), key=_seq)

    def waiting_all(self) -> list[ParsedStatement]:
        """Snapshots of the statements still waiting for their duration, in no particular order."""
        return [self._snapshot(draft) for draft in self._open.values()]

    def waiting(self, session: str) -> ParsedStatement | None:
        """A snapshot of *session*'s statement still waiting for its duration, if there is one."""
        draft = self._open.get(session)
        return None if draft is None else self._snapshot(draft)

    def flush(self) -> list[ParsedStatement]:
        """Complete every waiting statement as it is (at the end of a log)."""
        done = self.pending()
        self._open.clear()
        return done

    # -- record shapes --------------------------------------------------------------------------------

    def _start(self, session: str, draft: _Draft) -> list[ParsedStatement]:
        done = self._finish(self._open.get(session))
        self._open[session] = draft
        return done

    def _execute(self, seq: int, session: str, line: LogLine, rest: str) -> list[ParsedStatement]:
        if rest.startswith("fetch from "):  # more rows of the portal executed before: same statement
            return self._finish(self._open.pop(session, None))
        name_end = rest.find(": ")
        if name_end < 0:
            return []
        return self._start(session, _Draft(seq, line, rest[name_end + 2 :], "extended"))

    def _duration(self, seq: int, session: str, line: LogLine, message: str) -> list[ParsedStatement]:
        unit = message.find(" ms", 10)
        if unit == len(message) - 3:  # a bare duration, as parse_duration reads it but without its tuple
            draft = self._open.get(session)
            if draft is None or (value := _milliseconds(message, unit)) is None:
                return []
            del self._open[session]
            draft.duration = value
            return [self._build(draft)]
        if message.startswith("  parse ", unit + 3) or message.startswith("  bind ", unit + 3):
            return []  # a protocol step, whatever its number reads: never a statement (see below)
        parsed = parse_duration(message)
        if parsed is None:
            return []
        value, rest = parsed
        if not rest:
            draft = self._open.pop(session, None)
            if draft is not None:
                draft.duration = value
            return self._finish(draft)
        if rest.startswith("statement: "):
            draft = _Draft(seq, line, rest[11:], "simple")
        elif rest.startswith("execute ") and not rest.startswith("execute fetch from "):
            name_end = rest.find(": ")
            if name_end < 0:
                return []
            draft = _Draft(seq, line, rest[name_end + 2 :], "extended")
        else:  # parse, bind, fastpath function call: steps, not statements
            return []
        draft.duration = value
        return self._finish(self._open.pop(session, None)) + self._finish(draft)

    def _failed(self, seq: int, session: str, line: LogLine, message: str) -> list[ParsedStatement]:
        failing = line.record.statement
        draft = self._open.pop(session, None)
        done: list[ParsedStatement] = []
        if draft is not None and (failing is None or failing == draft.raw):
            target: _Draft | None = draft
        else:
            done = self._finish(draft)
            target = None
            if isinstance(failing, str):  # the server failed before it logged the statement
                step = line.record.ps
                target = _Draft(seq, line, failing, "extended" if step in _EXTENDED_STEPS else "simple")
        if target is not None:
            target.error = message
            state = line.record.state_code
            target.sqlstate = state if isinstance(state, str) else None
        return done + self._finish(target)

    # -- building -------------------------------------------------------------------------------------

    def _finish(self, draft: _Draft | None) -> list[ParsedStatement]:
        return [] if draft is None else [self._build(draft)]

    def _snapshot(self, draft: _Draft) -> ParsedStatement:
        if draft.snapshot is None:
            draft.snapshot = self._build(draft)
        return draft.snapshot

    def _build(self, draft: _Draft) -> ParsedStatement:
        known = draft.snapshot
        if known is not None:  # seen waiting before: only its ending changed
            return _new_parsed((draft.seq, _ended(known.statement, draft)))
        record = draft.record
        text, tags = split_sqlcomment(draft.raw)
        fields = {
            "text": text,
            "params": self._params(record) if draft.protocol == "extended" else (),
            "session_id": record.session_id,
            "user": record.user,
            "database": record.dbname,
            "application": record.application_name,
            "timestamp": record.timestamp,
            "duration_ms": draft.duration,
            "vxid": record.vxid,
            "error": draft.error,
            "sqlstate": draft.sqlstate,
            "tags": tags,
            "protocol": draft.protocol,
            "log_line": draft.number,
        }
        return _new_parsed((draft.seq, _statement(fields)))

    def _params(self, record: LogRecord) -> tuple[str | None, ...]:
        detail = record.detail
        if not isinstance(detail, str) or record.error_severity in _FAILURES:
            return ()  # an error's detail is the error's, not the parameters
        try:
            return parse_parameters(detail)
        except ValueError:
            self.malformed += 1
            return ()


def _seq(parsed: ParsedStatement) -> int:
    return parsed.seq


def _statement(fields: dict[str, Any]) -> Statement:
    """A Statement of all its fields, without the frozen dataclass's ``__init__``.

    That ``__init__`` sets each of the 14 fields through ``object.__setattr__`` (about 1.8 us a statement, a
    quarter of the assembly); the instance made here is the same (its ``__dict__`` holds the same fields), so
    equality, ``repr`` and ``dataclasses.replace`` keep working.
    """
    statement = object.__new__(Statement)
    object.__setattr__(statement, "__dict__", fields)
    return statement


def _ended(waiting: Statement, draft: _Draft) -> Statement:
    """The statement *waiting* was a snapshot of, now with the duration or error its draft ended with."""
    fields = dict(waiting.__dict__)
    fields["duration_ms"], fields["error"], fields["sqlstate"] = draft.duration, draft.error, draft.sqlstate
    fields["tags"] = dict(fields["tags"])  # each statement its own, as when built afresh
    return _statement(fields)


def parse_lines(lines: Iterable[str | bytes], first_line: int = 1) -> list[Statement]:
    """Every statement of a whole log given as lines, in the order they were logged.

    >>> log = [
    ...     '{"session_id": "s1", "backend_type": "client backend", "error_severity": "LOG",'
    ...     ' "message": "execute <unnamed>: SELECT $1 /*traceparent=\\'00-a-b-01\\'*/",'
    ...     ' "detail": "parameters: $1 = \\'it\\'\\'s\\'"}',
    ...     '{"session_id": "s1", "backend_type": "client backend", "error_severity": "LOG",'
    ...     ' "message": "duration: 0.010 ms"}',
    ... ]
    >>> [(s.text, s.params, s.duration_ms, s.traceparent) for s in parse_lines(log)]
    [('SELECT $1', ("it's",), 0.01, '00-a-b-01')]
    """
    parser = StatementParser()
    done: list[ParsedStatement] = []
    for number, raw in enumerate(lines, first_line):
        line = decode_line(raw, number)
        if line is not None:
            done.extend(parser.feed(line))
    done.extend(parser.flush())
    return [parsed.statement for parsed in sorted(done, key=_seq)]
