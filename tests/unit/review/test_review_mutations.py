"""The clinic's documents pass the design review clean; each mutation trips exactly the rule it targets.

Mutations: tests/fixtures/review/<rule>.yaml (format: tests/fixtures/review/README.md), at least two per rule.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from probity.core.findings import Outcome
from probity.review import REVIEW_CHECKS
from probity.review.run import ReviewReport

MUTATIONS = Path(__file__).resolve().parents[2] / "fixtures" / "review"


def failing_rules(report: ReviewReport) -> set[str]:
    return {result.rule for result in report.results if result.failed}


def summary(report: ReviewReport) -> list[Any]:
    return sorted((r.operation, r.rule, r.message) for r in report.results if r.failed)


def _mutations() -> list[Any]:
    cases = []
    for path in sorted(MUTATIONS.glob("*.yaml")):
        for mutation in yaml.safe_load(path.read_text(encoding="utf-8")):
            cases.append(pytest.param(path.stem, mutation, id=f"{path.stem}: {mutation['title']}"))
    return cases


def test_the_clinic_documents_pass_clean(review_mutated: Callable[..., ReviewReport]) -> None:
    report = review_mutated()
    assert summary(report) == []
    assert not [r for r in report.results if r.outcome is Outcome.INCONCLUSIVE]
    assert report.exit_code == 0
    assert len(report.operations) == 43


@pytest.mark.parametrize(("rule", "mutation"), _mutations())
def test_a_mutation_trips_exactly_its_rule(
    rule: str, mutation: dict[str, Any], review_mutated: Callable[..., ReviewReport]
) -> None:
    report = review_mutated(mutation["patches"])
    assert failing_rules(report) == {rule}, summary(report)
    assert report.exit_code == 1


def test_every_rule_has_at_least_two_mutations() -> None:
    counts: dict[str, int] = {}
    for path in MUTATIONS.glob("*.yaml"):
        counts[path.stem] = len(yaml.safe_load(path.read_text(encoding="utf-8")))
    checks = {".".join(rule.split(".")[:2]) for rule in counts}
    assert checks >= set(REVIEW_CHECKS) - {"review.drift"}  # drift needs a database: test_review_drift.py
    assert min(counts.values()) >= 2, counts


def test_a_rotten_patch_fails_loudly(write_mutated: Callable[..., object]) -> None:
    with pytest.raises(AssertionError, match="exactly once"):
        write_mutated([{"file": "blueprint", "find": "no such text anywhere", "replace": ""}])
