"""Diagnostics: everything the tool could not understand in a reference, each with its file and line.

Parsing never drops a line silently: what it cannot place becomes a :class:`Diagnostic`. Errors are
problems (``--strict`` fails on them); notes only tell the reader what was skipped on purpose, such as a
prose section the convention allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["Diagnostic", "Report", "Severity"]

Severity = Literal["error", "note"]


@dataclass(frozen=True)
class Diagnostic:
    """One thing in the reference that does not follow the convention, or that was skipped on purpose.

    >>> str(Diagnostic(Path("api.md"), 7, "unknown front-matter key 'Owner'"))
    "api.md:7: unknown front-matter key 'Owner'"
    >>> str(Diagnostic(Path("api.md"), 9, "skipped prose section 'Errors'", "note"))
    "api.md:9: note: skipped prose section 'Errors'"
    """

    path: Path
    line: int
    message: str
    severity: Severity = "error"

    @property
    def is_problem(self) -> bool:
        """Whether this diagnostic is a problem (``--strict`` fails on it) rather than a note."""
        return self.severity == "error"

    def located(self) -> str:
        """The line and message without the file: ``LINE: [note: ]message``."""
        tag = "" if self.is_problem else f"{self.severity}: "
        return f"{self.line}: {tag}{self.message}"

    def __str__(self) -> str:
        return f"{self.path}:{self.located()}"


@dataclass
class Report:
    """Collects the diagnostics of one document while it is parsed and checked."""

    path: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, line: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.path, line, message))

    def note(self, line: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.path, line, message, "note"))

    def in_order(self) -> tuple[Diagnostic, ...]:
        """The diagnostics by line; ``sorted`` is stable, so one line keeps the order they were found in."""
        return tuple(sorted(self.diagnostics, key=lambda diagnostic: diagnostic.line))
