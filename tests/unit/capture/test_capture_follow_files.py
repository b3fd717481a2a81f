"""follow.py on plain files: complete lines only, truncation, rotation, chunking, starting at the end."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from probity.capture.follow import LogFollower, current_logfile, newest_file
from probity.capture.records import LogLine


def _line(n: int) -> bytes:
    return json.dumps({"message": f"statement: SELECT {n}", "pid": 7}).encode() + b"\n"


def _n(line: LogLine) -> int:
    """The number a line of _line() was written with."""
    return int(line.record.message.removeprefix("statement: SELECT "))


def _numbers(follower: LogFollower) -> list[int]:
    return [_n(line) for line in follower.read_new()]


def test_reads_only_complete_lines_and_resumes_a_half_written_one(tmp_path: Path) -> None:
    log = tmp_path / "postgresql.json"
    log.write_bytes(_line(1) + _line(2)[:10])
    with LogFollower(log) as follower:
        assert _numbers(follower) == [1]
        assert _numbers(follower) == []
        with log.open("ab") as out:
            out.write(_line(2)[10:] + _line(3))
        lines = follower.read_new()
        assert [(x.number, _n(x)) for x in lines] == [(2, 2), (3, 3)]


def test_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    log = tmp_path / "later.json"
    with LogFollower(log, from_end=True) as follower:
        assert follower.read_new() == []
        log.write_bytes(_line(1))
        assert _numbers(follower) == [1]  # a file that appears later is read from its start


def test_truncation_starts_again_at_the_top(tmp_path: Path) -> None:
    log = tmp_path / "postgresql.json"
    log.write_bytes(_line(1) + _line(2))
    with LogFollower(log) as follower:
        assert _numbers(follower) == [1, 2]
        log.write_bytes(_line(3))  # shorter than before
        assert _numbers(follower) == [3]
        log.write_bytes(_line(40) + _line(41) + _line(42))  # longer than before: the first bytes differ
        assert [(x.number, _n(x)) for x in follower.read_new()] == [(1, 40), (2, 41), (3, 42)]


def test_rotation_to_a_new_file_of_the_same_name(tmp_path: Path) -> None:
    log = tmp_path / "postgresql.json"
    log.write_bytes(_line(1))
    with LogFollower(log) as follower:
        assert _numbers(follower) == [1]
        with log.open("ab") as out:
            out.write(_line(2))  # written to the old file before the switch, not read yet
        log.rename(tmp_path / "postgresql.json.1")
        log.write_bytes(_line(3))
        assert _numbers(follower) == [2, 3]


def test_rotation_to_the_newest_file_of_a_directory(tmp_path: Path) -> None:
    old, new = tmp_path / "a-old.json", tmp_path / "z-new.json"
    old.write_bytes(_line(1))
    (tmp_path / "stderr.log").write_bytes(b"not json\n")
    with LogFollower(newest_file(tmp_path)) as follower:
        assert _numbers(follower) == [1]
        with old.open("ab") as out:
            out.write(_line(2))
        new.write_bytes(_line(3))
        stamp = time.time() + 5
        os.utime(new, (stamp, stamp))
        assert _numbers(follower) == [2, 3]
        assert follower.path == new


def test_the_servers_own_current_logfiles_record(tmp_path: Path) -> None:
    (tmp_path / "log").mkdir()
    (tmp_path / "current_logfiles").write_text("stderr log/postgresql.log\njsonlog log/postgresql.json\n")
    assert current_logfile(tmp_path)() == tmp_path / "log" / "postgresql.json"
    (tmp_path / "current_logfiles").write_text("stderr log/postgresql.log\n")
    assert current_logfile(tmp_path)() is None
    assert current_logfile(tmp_path / "missing")() is None


def test_from_end_skips_what_is_there_and_counts_its_lines(tmp_path: Path) -> None:
    log = tmp_path / "postgresql.json"
    log.write_bytes(_line(1) + _line(2) + _line(3)[:5])
    with LogFollower(log, from_end=True) as follower:
        with log.open("ab") as out:
            out.write(_line(3)[5:] + _line(4))
        lines = follower.read_new()
        assert [(x.number, _n(x)) for x in lines] == [(3, 3), (4, 4)]


def test_reads_at_most_about_max_bytes_per_call_and_loses_nothing(tmp_path: Path) -> None:
    log = tmp_path / "postgresql.json"
    log.write_bytes(b"".join(_line(n) for n in range(1, 101)))
    with LogFollower(log, max_bytes=200) as follower:
        calls = []
        while chunk := _numbers(follower):
            calls.append(chunk)
        assert len(calls) > 10 and all(len(c) <= 6 for c in calls)
        assert [n for c in calls for n in c] == list(range(1, 101))


def test_a_line_longer_than_max_bytes_is_still_read(tmp_path: Path) -> None:
    log = tmp_path / "postgresql.json"
    big = json.dumps({"message": "statement: SELECT 1", "detail": "x" * 5000}).encode() + b"\n"
    log.write_bytes(big + _line(2))
    with LogFollower(log, max_bytes=100) as follower:
        assert _numbers(follower) + _numbers(follower) == [1, 2]


def test_broken_lines_are_counted_not_returned(tmp_path: Path) -> None:
    log = tmp_path / "postgresql.json"
    log.write_bytes(_line(1) + b"{broken\n\n" + _line(2))
    with LogFollower(log) as follower:
        assert [(x.number, _n(x)) for x in follower.read_new()] == [(1, 1), (4, 2)]
        assert follower.broken == 1


def test_lines_the_server_wrote_to_the_old_file_just_before_switching_are_kept(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_bytes(_line(1))
    new.write_bytes(_line(3))
    switched = False

    def current() -> Path:
        nonlocal switched
        if not switched:
            return old
        with old.open("ab") as out:  # the server's last write to the old file races the switch
            out.write(_line(2))
        return new

    with LogFollower(current) as follower:
        assert _numbers(follower) == [1]
        switched = True
        assert _numbers(follower) == [2, 3]
