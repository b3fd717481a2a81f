"""records.py's decoding: a whole block at once, or line by line, reads exactly what json reads line by line.

The reference here is :func:`json.loads` on each line alone: a line is a record when json reads a JSON object
from it, and the record's fields are that object's values; a non-blank line that is anything else is broken.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from probity.capture.records import LogLine, LogRecord, StatementParser, decode_block, decode_line

Lines = Callable[[str], list[str]]
FIELDS = LogRecord.__struct_fields__
GOOD = b'{"message": "statement: SELECT 1", "session_id": "s1", "pid": 42}'

# Lines (or runs of lines) json reads differently from a plain record, each with what makes it so.
ODD: dict[str, list[bytes]] = {
    "being written": [b'{"message": "statement: SEL'],
    "blank": [b""],
    "spaces only": [b"   "],
    "carriage return only": [b"\r"],
    "an array": [b"[1, 2]"],
    "a string": [b'"statement: SELECT 1"'],
    "null": [b"null"],
    "a number": [b"42"],
    "not json": [b"{broken"],
    "a number where a string belongs": [b'{"message": 5, "session_id": ["s1"], "user": {"a": 1}}'],
    "null where a string belongs": [b'{"message": null, "timestamp": null}'],
    "a lone surrogate escape, read": [b'{"message": "statement: SELECT \'\\ud800\'", "session_id": "s1"}'],
    "a lone surrogate escape, skipped": [b'{"message": "statement: SELECT 1", "hint": "\\udfff"}'],
    "NaN and Infinity, skipped": [b'{"message": "statement: SELECT 1", "pid": NaN, "query_id": -Infinity}'],
    "an integer past 64 bits": [b'{"session_id": 123456789012345678901234567890, "vxid": 1e999}'],
    "crlf": [b'{"message": "statement: SELECT 2"}\r', b'{"message": "statement: SELECT 3"}\r'],
    "two objects on one line": [b'{"message": "a"} {"message": "b"}'],
    "two objects without a space": [b'{"message": "a"}{"message": "b"}'],
    "one object over two lines": [b'{"message":', b' "c"}'],
    "both at once, as many objects as lines": [b'{"message": "a"} {"message": "b"}', b'{"message":', b'"c"}'],
    "a string over two lines": [b'{"message": "statement: SELECT }', b'{"}'],
    "invalid utf-8, skipped": [b'{"message": "statement: SELECT 1", "hint": "\xff"}'],
    "invalid utf-8, read": [b'{"message": "statement: SELECT \xc0\xaf"}'],
    "a surrogate written as utf-8, skipped": [b'{"message": "statement: SELECT 1", "hint": "\xed\xa0\x80"}'],
    "valid utf-8": ['{"message": "statement: SELECT \'välue ✓ 日本 🙂\'", "hint": "ü"}'.encode()],
    "a byte order mark": [b'\xef\xbb\xbf{"message": "statement: SELECT 1"}'],
    "a duplicated key": [b'{"message": "first", "message": "second"}'],
    "an escaped key": [b'{"mess\\u0061ge": "statement: SELECT 1"}'],
    "a control character in a string": [b'{"message": "a\tb"}'],
    "a trailing comma": [b'{"message": "a",}'],
    "nested values": [b'{"message": "statement: SELECT 1", "detail": [1, {"a": [null]}], "x": {"y": {}}}'],
    "too deep to read": [b'{"message": "a", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"],
    "leading and trailing spaces": [b'  {"message": "statement: SELECT 1"}  '],
}


def _reference(block: bytes, last_line: int) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Each line read alone by json: (number, the fields records carry) per object, and the broken count."""
    records: list[tuple[int, dict[str, Any]]] = []
    broken = 0
    for number, raw in enumerate(block.split(b"\n"), last_line + 1):
        if not raw:
            continue
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            records.append((number, _known(value)))
        else:
            broken += 1
    return records, broken


def _known(value: dict[str, Any]) -> dict[str, Any]:
    """The fields a record carries of a decoded object, as ``dict.get`` reads them."""
    return {name: value.get(name, "" if name == "timestamp" else None) for name in FIELDS}


def _fields(lines: list[LogLine]) -> list[tuple[int, dict[str, Any]]]:
    return [(line.number, msgspec.structs.asdict(line.record)) for line in lines]


def _assert_decodes_as_json_does(block: bytes, last_line: int = 10) -> None:
    decoded = decode_block(block, last_line)
    records, broken = _reference(block, last_line)
    assert (_fields(decoded.lines), decoded.broken) == (records, broken)
    assert decoded.last_line == last_line + block.count(b"\n") + 1
    one_by_one = [decode_line(raw, n) for n, raw in enumerate(block.split(b"\n"), last_line + 1)]
    assert _fields([line for line in one_by_one if line is not None]) == records


@pytest.mark.parametrize("lines", ODD.values(), ids=ODD.keys())
def test_an_odd_line_alone_and_among_good_ones(lines: list[bytes]) -> None:
    _assert_decodes_as_json_does(b"\n".join(lines))
    _assert_decodes_as_json_does(b"\n".join([GOOD, *lines, GOOD, GOOD]))
    _assert_decodes_as_json_does(b"\n".join([*lines, GOOD]), last_line=0)


def test_random_mixes_of_good_and_odd_lines() -> None:
    pool = [[GOOD]] * 8 + list(ODD.values())
    for seed in range(200):
        rng = random.Random(seed)
        _assert_decodes_as_json_does(b"\n".join(line for _ in range(rng.randrange(1, 12)) for line in rng.choice(pool)))


@pytest.mark.parametrize("name", ["simple", "extended", "prepared", "errors", "durations", "noise", "startup"])
def test_a_real_servers_records(fixture_lines: Lines, name: str) -> None:
    block = "\n".join(fixture_lines(name)).encode()
    _assert_decodes_as_json_does(block)
    assert len(decode_block(block, 0).lines) == len(fixture_lines(name))


def test_an_empty_block_is_one_blank_line() -> None:
    assert decode_block(b"", 4) == ([], 0, 5)


def test_a_record_with_a_field_of_another_type_is_kept_and_is_no_statement() -> None:
    block = b'{"backend_type": "client backend", "error_severity": "LOG", "session_id": 7, "message": "statement: X"}'
    (line,) = decode_block(block, 0).lines
    assert line.record.session_id == 7 and line.record.message == "statement: X"
    parser = StatementParser()
    assert parser.feed(line) == [] and parser.flush() == []


def test_text_lines_decode_as_json_reads_text() -> None:
    for lines in ODD.values():
        for raw in lines:
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                continue
            try:
                value = json.loads(text)  # unlike bytes, text may not start with a byte order mark
            except (ValueError, RecursionError):
                value = None
            line = decode_line(text, 3)
            if isinstance(value, dict):
                assert line is not None and msgspec.structs.asdict(line.record) == _known(value)
            else:
                assert line is None
