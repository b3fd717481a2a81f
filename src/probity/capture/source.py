"""Where statement-log records come from: the one small interface every log reader implements."""

from __future__ import annotations

from typing import Protocol

from probity.capture.records import LogLine

__all__ = ["FENCE_APPLICATION", "LogSource", "OWN_APPLICATIONS", "READER_APPLICATION"]

# The application_name of Probity's own sessions, so attribution never mistakes them for the backend's.
FENCE_APPLICATION = "probity-fence"
READER_APPLICATION = "probity-logreader"
OWN_APPLICATIONS = frozenset({FENCE_APPLICATION, READER_APPLICATION})


class LogSource(Protocol):
    """A jsonlog that grows: each call returns the complete records written since the last call, in order.

    A reader never returns half a line, and follows the server when it switches to a new log file.
    """

    def read_new(self) -> list[LogLine]: ...

    def close(self) -> None: ...
