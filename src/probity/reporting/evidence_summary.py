"""``summary.md`` of an evidence bundle: the run in a page, for the person who opens the bundle first.

Verdict, counts, who ran what against which target from which commit with which seed, and the failing
findings grouped by the control they bear on. Everything it quotes is already redacted in the findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from probity.core.findings import Outcome, Result
from probity.reporting.findings_json import RunRecord

__all__ = ["summary_markdown"]

_UNMAPPED = "(no control)"


def summary_markdown(record: RunRecord) -> str:
    """The bundle's human summary of *record*."""
    failing = [r for r in record.results if r.outcome is Outcome.FAIL]
    lines = [
        f"# Evidence summary: run {record.metadata.get('id')}",
        "",
        f"**Verdict: {_verdict(failing)}**",
        "",
        *_facts(record.metadata),
        "",
        "## Counts",
        "",
        *(f"- {outcome}: {sum(1 for r in record.results if r.outcome is outcome)}" for outcome in Outcome),
        *_failing_by_control(failing),
    ]
    return "\n".join(lines) + "\n"


def _verdict(failing: Sequence[Result]) -> str:
    if not failing:
        return "PASS: no failing finding"
    return f"FAIL: {len(failing)} failing finding{'s' if len(failing) != 1 else ''}"


def _facts(metadata: dict[str, Any]) -> list[str]:
    provenance = metadata.get("provenance") or {}
    git = provenance.get("git") or {}
    commit = f"{git.get('commit')}{' (with uncommitted changes)' if git.get('dirty') else ''}" if git else "unknown"
    documents = provenance.get("documents") or {}
    return [
        f"- Target: {metadata.get('target')} at {metadata.get('api_root')}",
        f"- Seed: {metadata.get('seed')} (replay with `--seed {metadata.get('seed')}`)",
        f"- Run: {metadata.get('started')} to {metadata.get('finished')}, read-only: {metadata.get('read_only')}",
        f"- Run by: {provenance.get('user')} on {provenance.get('host')}",
        f"- Commit: {commit}",
        f"- Probity {provenance.get('probity')}, Python {provenance.get('python')}",
        *(f"- {name}: sha256 {doc.get('sha256')}" for name, doc in sorted(documents.items())),
    ]


def _failing_by_control(failing: Sequence[Result]) -> list[str]:
    if not failing:
        return []
    groups: dict[str, list[Result]] = {}
    for result in failing:
        for control in result.controls or (_UNMAPPED,):
            groups.setdefault(control, []).append(result)
    lines = ["", "## Failing findings by control"]
    for control in sorted(groups):
        lines += ["", f"### {control}", ""]
        lines += [f"- [{r.severity}] `{r.operation}` {r.rule}: {r.message}" for r in _ordered(groups[control])]
    return lines


def _ordered(results: Sequence[Result]) -> list[Result]:
    return sorted(results, key=lambda r: (-r.severity.rank, r.operation, r.rule))
