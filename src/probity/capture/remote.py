"""Follow a server's jsonlog through SQL, for targets whose log files are not on this machine.

The role must be allowed to read server files: a superuser, or a member of ``pg_read_server_files`` granted
EXECUTE on ``pg_current_logfile(text)``, ``pg_stat_file(text, boolean)`` and
``pg_read_binary_file(text, bigint, bigint, boolean)`` (PostgreSQL revokes them from PUBLIC).
Bytes are read with ``pg_read_binary_file``, not ``pg_read_file``: a text read whose range cuts a UTF-8
character in two fails, a binary one does not. Like :class:`~probity.capture.follow.LogFollower`, the reader
returns complete lines only, reads an old file to its end before following the server to a new one, and
starts again at the top of a file that was truncated.

The reader's own queries would land in the log it reads; as a superuser it turns statement logging off for
its session, otherwise its records carry ``application_name`` ``probity-logreader`` and attribution skips
them.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from probity.capture.records import LogLine, decode_block
from probity.capture.source import READER_APPLICATION
from probity.core.errors import HarnessError

__all__ = ["RemoteLog"]

_HEAD = 256
_STATE = (
    "SELECT pg_current_logfile('jsonlog'), (pg_stat_file(%(path)s, true)).size,"
    " pg_read_binary_file(%(path)s, 0, %(head)s, true)"
)
_READ = "SELECT pg_read_binary_file(%s, %s, %s, true)"
_QUIET = ("SET log_statement = 'none'", "SET log_min_duration_statement = -1", "SET log_duration = off")


class RemoteLog:
    """A :class:`~probity.capture.source.LogSource` reading the server's current jsonlog over *conn*.

    *conn* should be a connection of its own in autocommit mode (:meth:`connect` makes one). One call reads
    at most about *chunk* bytes; with ``from_end=True`` records already in the log are skipped.
    """

    def __init__(self, conn: psycopg.Connection[Any], *, from_end: bool = False, chunk: int = 4 << 20) -> None:
        conn.autocommit = True
        self._conn = conn
        self._chunk = chunk
        self.quiet = self._silence()
        self.path = self._current_path()
        self.offset = 0
        self.line = 0
        self.broken = 0
        self._head = b""
        if from_end:
            self._skip_to_end()

    @classmethod
    def connect(cls, conninfo: str, *, from_end: bool = False, chunk: int = 4 << 20) -> RemoteLog:
        """Open a connection of the reader's own (``application_name`` ``probity-logreader``)."""
        try:
            conn = psycopg.connect(conninfo, autocommit=True, application_name=READER_APPLICATION)
        except psycopg.Error as exc:
            raise HarnessError(f"cannot connect to read the server log: {exc}") from exc
        try:
            return cls(conn, from_end=from_end, chunk=chunk)
        except BaseException:
            conn.close()
            raise

    # -- LogSource ------------------------------------------------------------------------------------

    def read_new(self) -> list[LogLine]:
        current, size, head = self._state()
        if size is None or size < self.offset or (self._head and head[: len(self._head)] != self._head):
            self.offset, self.line, self._head = 0, 0, b""  # truncated, or gone
        lines, done = self._drain(size or 0)
        if done and current is not None and current != self.path:
            _, size, _ = self._state()  # the old file's final size, now that the server writes elsewhere
            lines += self._drain(size or 0)[0]
            self.path, self.offset, self.line, self._head = current, 0, 0, b""
            _, size, _ = self._state()
            lines += self._drain(size or 0)[0]
        return lines

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> RemoteLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- queries --------------------------------------------------------------------------------------

    def _query(self, sql: str, params: Any) -> tuple[Any, ...]:
        try:
            with self._conn.cursor(row_factory=tuple_row) as cur:
                row = cur.execute(sql, params).fetchone()
        except psycopg.Error as exc:
            raise HarnessError(
                f"cannot read the server log over SQL ({exc}); the role must be a superuser, or a member of "
                "pg_read_server_files with EXECUTE on pg_current_logfile(text), pg_stat_file(text, boolean) "
                "and pg_read_binary_file(text, bigint, bigint, boolean)"
            ) from exc
        assert row is not None
        return row

    def _silence(self) -> bool:
        try:
            for setting in _QUIET:
                self._conn.execute(setting)
        except psycopg.errors.InsufficientPrivilege:
            return False
        return True

    def _current_path(self) -> str:
        (current,) = self._query("SELECT pg_current_logfile('jsonlog')", ())
        if current is None:
            raise HarnessError(
                "the server writes no JSON log: it needs logging_collector = on and log_destination including 'jsonlog'"
            )
        return str(current)

    def _state(self) -> tuple[str | None, int | None, bytes]:
        current, size, head = self._query(_STATE, {"path": self.path, "head": _HEAD})
        return current, size, bytes(head or b"")

    def _read(self, offset: int, length: int) -> bytes:
        (data,) = self._query(_READ, (self.path, offset, length))
        return bytes(data or b"")

    def _skip_to_end(self) -> None:
        _, size, head = self._state()
        offset, lines, last_newline = 0, 0, 0
        while size is not None and offset < size:
            chunk = self._read(offset, min(self._chunk, size - offset))
            if not chunk:
                break
            lines += chunk.count(b"\n")
            if (newline := chunk.rfind(b"\n")) >= 0:
                last_newline = offset + newline + 1
            offset += len(chunk)
        self.offset, self.line, self._head = last_newline, lines, head

    def _drain(self, size: int) -> tuple[list[LogLine], bool]:
        available = size - self.offset
        if available <= 0:
            return [], True
        data = self._read(self.offset, min(available, self._chunk))
        end = data.rfind(b"\n")
        while end < 0 and len(data) < available:  # one line longer than a chunk
            data += self._read(self.offset + len(data), min(available - len(data), self._chunk))
            end = data.rfind(b"\n")
        if end < 0:
            return [], True
        if not self._head and self.offset == 0:
            self._head = data[:_HEAD]
        self.offset += end + 1
        block = data[:end]
        decoded = decode_block(block, self.line)
        self.line = decoded.last_line
        self.broken += decoded.broken
        return decoded.lines, len(data) >= available
