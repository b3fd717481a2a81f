"""The gate's verdict: exit 1 for an unwaived failure, 3 for too many INCONCLUSIVE results, 0 otherwise."""

from __future__ import annotations

import pytest

from probity.core.errors import ConfigError
from probity.core.findings import Category, Outcome, Result
from probity.reporting.findings_json import RunRecord
from probity.reporting.gate import Threshold, gate, verdict_of, with_verdict

ACTIVE = {"owner": "ana", "justification": "known", "expires": "2026-12-31", "status": "active"}
EXPIRED = {**ACTIVE, "expires": "2026-01-31", "status": "expired"}


def _record(*outcomes: Outcome, waiver: dict[str, str] | None = None) -> RunRecord:
    results = tuple(
        Result(
            "audit_insert",
            f"audit_insert.r{index}",
            Category.AUDIT,
            outcome,
            "GET /a",
            waiver=waiver if outcome is Outcome.FAIL else None,
        )
        for index, outcome in enumerate(outcomes)
    )
    return RunRecord({"id": "run-x", "exit_code": 1}, results)


def test_a_clean_run_passes() -> None:
    verdict = gate(_record(Outcome.PASS, Outcome.NOT_APPLICABLE))
    assert verdict.exit_code == 0 and verdict.passed
    assert "no failing finding" in verdict.reasons


def test_a_failure_fails_the_gate() -> None:
    verdict = gate(_record(Outcome.PASS, Outcome.FAIL, Outcome.FAIL))
    assert verdict.exit_code == 1
    assert "2 failing findings not waived" in verdict.reasons


def test_a_waived_failure_is_reported_but_passes() -> None:
    verdict = gate(_record(Outcome.PASS, Outcome.FAIL, waiver=ACTIVE))
    assert verdict.exit_code == 0
    assert any("1 failing finding waived" in reason for reason in verdict.reasons)


def test_an_expired_waiver_fails_and_says_when_it_expired() -> None:
    verdict = gate(_record(Outcome.FAIL, waiver=EXPIRED))
    assert verdict.exit_code == 1
    assert any("the waiver of ana expired on 2026-01-31" in reason for reason in verdict.reasons)


def test_inconclusive_results_above_the_default_of_zero_exit_3() -> None:
    verdict = gate(_record(Outcome.PASS, Outcome.INCONCLUSIVE))
    assert verdict.exit_code == 3 and verdict.too_many_inconclusive
    assert any("1 inconclusive result, above the 0 allowed" in reason for reason in verdict.reasons)


def test_failures_outrank_inconclusive_results() -> None:
    verdict = gate(_record(Outcome.FAIL, Outcome.INCONCLUSIVE))
    assert verdict.exit_code == 1 and verdict.too_many_inconclusive


@pytest.mark.parametrize(
    ("threshold", "code"),
    [("1", 0), ("2", 0), ("0", 3), ("50%", 0), ("49%", 3), ("100%", 0), ("0%", 3)],
)
def test_the_threshold_is_a_count_or_a_percentage_of_applicable_results(threshold: str, code: int) -> None:
    # 2 results apply (N/A is not counted): 1 inconclusive is 50% of them.
    record = _record(Outcome.PASS, Outcome.INCONCLUSIVE, Outcome.NOT_APPLICABLE, Outcome.NOT_APPLICABLE)
    assert gate(record, threshold).exit_code == code


@pytest.mark.parametrize("text", ["", "-1", "1.5", "five", "5 %x", "101%"])
def test_a_wrong_threshold_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="max-inconclusive"):
        Threshold.parse(text)


def test_the_record_carries_the_verdict_and_is_judged_again_by_the_same_threshold() -> None:
    record = _record(Outcome.PASS, Outcome.INCONCLUSIVE)
    verdict = gate(record, "1")
    judged = with_verdict(record, verdict, waivers="waivers.yaml")
    assert judged.metadata["exit_code"] == 0, "findings.json's exit code is the gate's"
    assert judged.metadata["gate"] == {
        "exit_code": 0,
        "reasons": list(verdict.reasons),
        "max_inconclusive": "1",
        "waivers": "waivers.yaml",
    }
    assert verdict_of(judged) == verdict
    assert verdict_of(record).exit_code == 3, "a record never judged gets the default threshold"
