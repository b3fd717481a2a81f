"""Probity's exception hierarchy.

Our exception tree:

* ProbityError            -- anything Probity reports to a person instead of a traceback
  * ConfigError           -- a configuration file or option is wrong (exit code 2); carries file and line
  * HarnessError          -- Probity itself could not do its job (exit code 2)
    * PostgresError       -- the embedded PostgreSQL could not be found, started or provisioned
    * BackendError        -- the backend under test could not be started or reached
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BackendError",
    "ConfigError",
    "HarnessError",
    "PostgresError",
    "ProbityError",
]


class ProbityError(Exception):
    """Generic parent class for errors Probity reports to a person instead of a traceback."""

    exit_code = 2


class ConfigError(ProbityError):
    """A configuration file or option is wrong; says where, so the person can fix it."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        super().__init__(self._located(message))

    def _located(self, message: str) -> str:
        if self.path is None:
            return message
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {message}"


class HarnessError(ProbityError):
    """Probity could not do its job: the failure is in the harness or its environment, not the target."""


class PostgresError(HarnessError):
    """The embedded PostgreSQL could not be found, started, provisioned or stopped."""


class BackendError(HarnessError):
    """The backend under test could not be started, or does not answer."""
