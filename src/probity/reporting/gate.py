"""The CI gate: one verdict and exit code for a finished run, with the reasons a person reads.

Exit codes: 0 the gate passes; 1 a failing finding no active waiver accepts (an expired waiver accepts
nothing); 2 a configuration or harness error (``ProbityError``, raised before any verdict); 3 more INCONCLUSIVE
results than allowed. Failing findings outrank inconclusive ones: a run with both exits 1, and says both.

How many INCONCLUSIVE results a run may have is ``--max-inconclusive``: a count (``0``, ``5``) or a percentage
of the results that apply (``2%``; N/A results are not counted). The default is 0, because an INCONCLUSIVE
result is a check that could not see what it needs, and a gate that ignores them passes what nobody proved.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from probity.core.errors import ConfigError
from probity.core.findings import Outcome, Result
from probity.reporting.findings_json import RunRecord

__all__ = [
    "DEFAULT_MAX_INCONCLUSIVE",
    "EXIT_ERROR",
    "EXIT_FINDINGS",
    "EXIT_INCONCLUSIVE",
    "EXIT_PASS",
    "Threshold",
    "Verdict",
    "gate",
    "verdict_of",
    "with_verdict",
]

EXIT_PASS, EXIT_FINDINGS, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 1, 2, 3
DEFAULT_MAX_INCONCLUSIVE = "0"

_THRESHOLD = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<percent>%?)$")


@dataclass(frozen=True)
class Threshold:
    """How many INCONCLUSIVE results a run may have: a count, or a percentage of the results that apply."""

    text: str
    number: float
    percent: bool

    @classmethod
    def parse(cls, text: str) -> Threshold:
        match = _THRESHOLD.match(text.strip())
        if match is None or (not match["percent"] and "." in match["number"]):
            raise ConfigError(f"--max-inconclusive {text!r}: give a count (0, 5) or a percentage (2%)")
        number = float(match["number"])
        if match["percent"] and number > 100:
            raise ConfigError(f"--max-inconclusive {text!r}: a percentage is at most 100%")
        return cls(text.strip(), number, bool(match["percent"]))

    def allowed(self, applicable: int) -> int:
        """The most INCONCLUSIVE results allowed among *applicable* results."""
        return math.floor(self.number * applicable / 100) if self.percent else int(self.number)


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    reasons: tuple[str, ...]
    threshold: str  # --max-inconclusive as given
    too_many_inconclusive: bool

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_PASS


def gate(record: RunRecord, max_inconclusive: Threshold | str = DEFAULT_MAX_INCONCLUSIVE) -> Verdict:
    """Judge *record*: its exit code and why."""
    threshold = max_inconclusive if isinstance(max_inconclusive, Threshold) else Threshold.parse(max_inconclusive)
    failing = [r for r in record.results if r.failed and not r.waived]
    inconclusive = sum(1 for r in record.results if r.outcome is Outcome.INCONCLUSIVE)
    applicable = sum(1 for r in record.results if r.outcome is not Outcome.NOT_APPLICABLE)
    allowed = threshold.allowed(applicable)
    too_many = inconclusive > allowed
    reasons = (
        *_failing_reasons(failing),
        *_waived_reasons([r for r in record.results if r.waived]),
        _inconclusive_reason(inconclusive, allowed, threshold),
    )
    code = EXIT_FINDINGS if failing else EXIT_INCONCLUSIVE if too_many else EXIT_PASS
    return Verdict(code, reasons, threshold.text, too_many)


def with_verdict(record: RunRecord, verdict: Verdict, **details: Any) -> RunRecord:
    """*record* whose metadata carries the gate's exit code and reasons (and *details*, e.g. the waivers file)."""
    section = {
        "exit_code": verdict.exit_code,
        "reasons": list(verdict.reasons),
        "max_inconclusive": verdict.threshold,
        **details,
    }
    return RunRecord({**record.metadata, "exit_code": verdict.exit_code, "gate": section}, record.results)


def verdict_of(record: RunRecord) -> Verdict:
    """The gate's verdict on a record, under the threshold it was judged by (the default if it never was)."""
    section = record.metadata.get("gate") or {}
    return gate(record, str(section.get("max_inconclusive", DEFAULT_MAX_INCONCLUSIVE)))


def _failing_reasons(failing: list[Result]) -> list[str]:
    if not failing:
        return ["no failing finding"]
    reasons = [f"{_plural(len(failing), 'failing finding')} not waived"]
    for result in failing:
        if result.waiver is not None:
            waiver = result.waiver
            reasons.append(
                f"{result.rule} on {result.operation}: the waiver of {waiver['owner']} expired on {waiver['expires']}"
            )
    return reasons


def _waived_reasons(waived: list[Result]) -> list[str]:
    if not waived:
        return []
    return [f"{_plural(len(waived), 'failing finding')} waived (reported; not failing the gate)"]


def _inconclusive_reason(inconclusive: int, allowed: int, threshold: Threshold) -> str:
    verdict = "above" if inconclusive > allowed else "within"
    return (
        f"{_plural(inconclusive, 'inconclusive result')}, {verdict} the {allowed} allowed "
        f"(--max-inconclusive {threshold.text})"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
