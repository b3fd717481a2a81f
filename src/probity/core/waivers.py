"""Waivers: failing findings a person has accepted for a while, with a reason, an owner and an end date.

A waivers file (YAML) lists entries that each name one finding, either by its key (``Result.key``, e.g.
``tenancy_filter.unscoped_lookup:6e4f090a25b1`` — rule, operation and message, the exact finding) or by
``rule`` and ``operation`` together (every failure of that rule on that operation, whatever its message)::

    waivers:
      - key: tenancy_filter.unscoped_lookup:6e4f090a25b1
        justification: ownership is re-checked in code; scoped query lands in 2.4 (TICKET-123)
        owner: platform-team@example.org
        expires: 2026-12-31

A waived failure is still reported, but does not fail the gate. ``expires`` is the last day a waiver holds;
after it the finding fails again and says whose waiver expired when. A waiver that matches no failing finding
is stale: a warning, so the file does not silently accumulate permissions nobody needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from probity.core.findings import Result
from probity.core.yamlfile import load_model

__all__ = ["ProblemKind", "Waiver", "WaiverProblem", "Waivers", "apply_waivers", "load_waivers"]

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Waiver(BaseModel):
    """One accepted finding: which one, why, who answers for it, and until when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: _Text | None = Field(default=None, pattern=r"^[\w.-]+:[0-9a-f]{12}$")
    rule: _Text | None = None
    operation: _Text | None = Field(default=None, pattern=r"^[A-Z]+ /")
    justification: _Text
    owner: _Text
    expires: date

    @model_validator(mode="after")
    def _names_one_finding(self) -> Self:
        if (self.key is None) == (self.rule is None):
            raise ValueError("name the finding by `key`, or by `rule` and `operation` (not both)")
        if (self.rule is None) != (self.operation is None):
            raise ValueError("`rule` and `operation` go together")
        return self

    @property
    def names(self) -> str:
        """The finding it names, for messages."""
        return self.key or f"{self.rule} on {self.operation}"

    def matches(self, result: Result) -> bool:
        if self.key is not None:
            return result.key == self.key
        return result.rule == self.rule and result.operation == self.operation

    def expired(self, today: date) -> bool:
        return today > self.expires


class Waivers(BaseModel):
    """A waivers file: ``waivers:`` and its entries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: tuple[Waiver, ...] = ()


class ProblemKind(StrEnum):
    EXPIRED = "expired"  # it names a failing finding, which therefore fails the gate
    STALE = "stale"  # it names no failing finding


@dataclass(frozen=True)
class WaiverProblem:
    waiver: Waiver
    kind: ProblemKind

    @property
    def message(self) -> str:
        waiver = self.waiver
        if self.kind is ProblemKind.EXPIRED:
            return f"the waiver of {waiver.names} (owner {waiver.owner}) expired on {waiver.expires}: it fails again"
        return f"the waiver of {waiver.names} (owner {waiver.owner}) matches no failing finding: remove it"


def load_waivers(path: Path) -> Waivers:
    """Read a waivers file; a wrong entry is a ConfigError naming its line."""
    return load_model(path, Waivers)


def apply_waivers(
    results: Iterable[Result], waivers: Sequence[Waiver], today: date
) -> tuple[tuple[Result, ...], tuple[WaiverProblem, ...]]:
    """Mark each failure the first matching waiver names (active or expired); report expired and stale waivers."""
    marked: list[Result] = []
    used: set[int] = set()
    for result in results:
        index = _first_match(result, waivers) if result.failed else None
        if index is None:
            marked.append(result)
            continue
        used.add(index)
        marked.append(replace(result, waiver=_stamp(waivers[index], today)))
    return tuple(marked), _problems(waivers, used, today)


def _first_match(result: Result, waivers: Sequence[Waiver]) -> int | None:
    return next((index for index, waiver in enumerate(waivers) if waiver.matches(result)), None)


def _stamp(waiver: Waiver, today: date) -> dict[str, str]:
    """What a finding carries of its waiver (into findings.json and every report)."""
    return {
        "owner": waiver.owner,
        "justification": waiver.justification,
        "expires": waiver.expires.isoformat(),
        "status": ProblemKind.EXPIRED.value if waiver.expired(today) else "active",
    }


def _problems(waivers: Sequence[Waiver], used: set[int], today: date) -> tuple[WaiverProblem, ...]:
    problems = []
    for index, waiver in enumerate(waivers):
        if index not in used:
            problems.append(WaiverProblem(waiver, ProblemKind.STALE))
        elif waiver.expired(today):
            problems.append(WaiverProblem(waiver, ProblemKind.EXPIRED))
    return tuple(problems)
