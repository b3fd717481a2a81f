"""Follow a local jsonlog file as the server writes it, across rotation and truncation.

The reader keeps the current file open and reads complete lines from an offset; a last line still being
written stays for the next call. When the server moves to another file (a new name, or the same name on a
new inode), the old file is read to its end first, then the new one from its start. A file that shrank, or
whose first bytes changed, was truncated and is read again from its start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from probity.capture.records import LogLine, decode_block

__all__ = ["LogFollower", "current_logfile", "newest_file"]

_HEAD = 256  # bytes at the start of a file that identify it, to notice truncation and rewriting
_CHUNK = 1 << 20


def newest_file(directory: Path, pattern: str = "*.json") -> Callable[[], Path | None]:
    """A "current file" function: the most recently modified file in *directory* matching *pattern*."""

    def current() -> Path | None:
        candidates: list[tuple[int, str, Path]] = []
        for path in directory.glob(pattern):
            try:
                candidates.append((path.stat().st_mtime_ns, path.name, path))
            except FileNotFoundError:
                continue
        return max(candidates)[2] if candidates else None

    return current


def current_logfile(data_dir: Path, kind: str = "jsonlog") -> Callable[[], Path | None]:
    """A "current file" function reading the server's own ``current_logfiles`` record in *data_dir*."""

    def current() -> Path | None:
        try:
            text = (data_dir / "current_logfiles").read_text(encoding="utf-8")
        except OSError:
            return None
        for entry in text.splitlines():
            found, _, name = entry.partition(" ")
            if found == kind and name:
                path = Path(name)
                return path if path.is_absolute() else data_dir / path
        return None

    return current


class LogFollower:
    """A :class:`~probity.capture.source.LogSource` over a local log file that may rotate.

    *current* names the file the server writes now; pass a fixed path to follow one file. With
    ``from_end=True`` reading starts at the end of the current file (records already there are skipped).
    One call returns at most about *max_bytes* of records; the rest comes with the next calls.
    """

    def __init__(
        self,
        current: Callable[[], Path | None] | Path,
        *,
        from_end: bool = False,
        max_bytes: int = 16 << 20,
    ) -> None:
        fixed = current
        self._current: Callable[[], Path | None] = (lambda: fixed) if isinstance(fixed, Path) else fixed
        self._max_bytes = max_bytes
        self._fd: int | None = None
        self.path: Path | None = None
        self.offset = 0  # bytes of the current file consumed (always just after a newline)
        self.line = 0  # lines of the current file consumed
        self.broken = 0  # lines that were not JSON objects
        self._head = b""
        if from_end:  # the end as it is now; a file that appears later is read whole
            self._switch_to(self._current(), at_end=True)

    # -- LogSource ------------------------------------------------------------------------------------

    def read_new(self) -> list[LogLine]:
        if self._fd is None and not self._switch_to(self._current()):
            return []
        lines, done = self._drain()
        if not done:
            return lines
        target = self._current()
        if target is not None and not self._is_open(target):
            more, done = self._drain()  # what the server wrote to the old file before it switched
            lines += more
            if done and self._switch_to(target):
                lines += self._drain()[0]
        return lines

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> LogFollower:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- files ----------------------------------------------------------------------------------------

    def _switch_to(self, path: Path | None, *, at_end: bool = False) -> bool:
        if path is None:
            return False
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        self.close()
        self._fd, self.path, self.offset, self.line, self._head = fd, path, 0, 0, b""
        if at_end:
            self._skip_to_end(fd)
        return True

    def _skip_to_end(self, fd: int) -> None:
        """Start after the last complete line now in the file, counting the lines passed."""
        size = os.fstat(fd).st_size
        lines, offset, last_newline = 0, 0, 0
        while offset < size:
            chunk = os.pread(fd, min(_CHUNK, size - offset), offset)
            if not chunk:
                break
            lines += chunk.count(b"\n")
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                last_newline = offset + newline + 1
            offset += len(chunk)
        self.offset, self.line = last_newline, lines
        self._head = os.pread(fd, _HEAD, 0)

    def _is_open(self, path: Path) -> bool:
        if self._fd is None:
            return False
        try:
            there = os.stat(path)
        except FileNotFoundError:
            return True  # the new file is not there yet: stay
        mine = os.fstat(self._fd)
        return (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino)

    def _drain(self) -> tuple[list[LogLine], bool]:
        """Complete lines from the offset on, and whether the file is read to its last complete line."""
        fd = self._fd
        if fd is None:
            return [], True
        size = os.fstat(fd).st_size
        if size < self.offset or (self._head and os.pread(fd, len(self._head), 0) != self._head):
            self.offset, self.line, self._head = 0, 0, b""  # truncated, perhaps written again since
        available = size - self.offset
        if available <= 0:
            return [], True
        data = os.pread(fd, min(available, self._max_bytes), self.offset)
        end = data.rfind(b"\n")
        while end < 0 and len(data) < available:  # one line longer than max_bytes
            data += os.pread(fd, min(available - len(data), _CHUNK), self.offset + len(data))
            end = data.rfind(b"\n")
        if end < 0:
            return [], True  # only a line still being written
        if not self._head:
            self._head = data[:_HEAD] if self.offset == 0 else os.pread(fd, _HEAD, 0)
        self.offset += end + 1
        block = data[:end]
        decoded = decode_block(block, self.line)
        self.line = decoded.last_line
        self.broken += decoded.broken
        return decoded.lines, len(data) >= available
