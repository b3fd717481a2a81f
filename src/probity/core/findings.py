"""What checks conclude: typed results with severity, evidence and the controls they bear on.

A check never answers with a bool. It returns :class:`Result` objects whose :class:`Outcome` says whether it
passed, failed, could not observe what it needed (INCONCLUSIVE — never to be read as a pass) or did not
apply. Failures carry a :class:`Severity`, a message, evidence (already redacted) and control references.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from probity.core.compliance import controls_for

__all__ = ["Category", "Outcome", "Result", "Severity", "finding"]


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "n/a"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse; for sorting and thresholds."""
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


class Category(StrEnum):
    """The kind of problem a result is about; reports group by it."""

    CONTRACT = "contract"
    AUTHN = "authn"
    TENANCY = "tenancy"
    AUDIT = "audit"
    SECRETS = "secrets"
    PAGINATION = "pagination"
    INJECTION = "injection"
    N_PLUS_ONE = "n_plus_one"
    ROBUSTNESS = "robustness"
    REVIEW = "review"


@dataclass(frozen=True)
class Result:
    """One conclusion of one check (a probe id and a rule within it) about one operation."""

    check: str  # the probe or check id, e.g. "tenancy_filter"
    rule: str  # the specific rule, e.g. "tenancy_filter.unscoped_read"
    category: Category
    outcome: Outcome
    operation: str  # "METHOD /path/template"
    message: str = ""
    severity: Severity = Severity.INFO
    controls: tuple[str, ...] = ()  # e.g. ("HIPAA 164.312(a)(1)", "OWASP API1:2023")
    evidence: dict[str, Any] = field(default_factory=dict)
    # The waiver that names this finding (probity.core.waivers): owner, justification, expires, status
    # "active" or "expired". Not part of the key: waiving a finding does not change which finding it is.
    waiver: dict[str, str] | None = None

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAIL

    @property
    def waived(self) -> bool:
        """A failure an unexpired waiver accepts: reported, but it does not fail the gate."""
        return self.failed and self.waiver is not None and self.waiver.get("status") == "active"

    @property
    def key(self) -> str:
        """A stable identity for de-duplication, waivers and history: rule, operation and message."""
        digest = hashlib.sha256(f"{self.rule}|{self.operation}|{self.message}".encode()).hexdigest()
        return f"{self.rule}:{digest[:12]}"


def finding(
    check: str,
    rule: str,
    category: Category,
    outcome: Outcome,
    operation: str,
    message: str = "",
    severity: Severity = Severity.INFO,
    evidence: dict[str, Any] | None = None,
) -> Result:
    """A result citing the controls *check* bears on; *severity* counts only for a failure (else INFO).

    >>> r = finding("audit_insert", "audit_insert.x", Category.AUDIT, Outcome.PASS, "GET /x", severity=Severity.HIGH)
    >>> r.severity, r.controls
    (<Severity.INFO: 'info'>, ('HIPAA 164.312(a)(2)(i)', 'HIPAA 164.312(b)'))
    >>> r == Result(**vars(r))  # every field set, as the dataclass's own __init__ sets them
    True
    """
    kept = severity if outcome is Outcome.FAIL else Severity.INFO
    # Every probe result of every request is made here: filled in directly, as the frozen dataclass's __init__
    # would (it has no checks), at a fraction of its cost (one object.__setattr__ per field).
    result = object.__new__(Result)
    result.__dict__.update(
        check=check, rule=rule, category=category, outcome=outcome, operation=operation, message=message,
        severity=kept, controls=controls_for(check), evidence=dict(evidence or {}), waiver=None,
    )  # fmt: skip
    return result
