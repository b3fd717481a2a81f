"""Waivers: the file's model (line-numbered errors), matching by key or by rule and operation, expiry, stale."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from probity.core.errors import ConfigError
from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.waivers import ProblemKind, Waiver, apply_waivers, load_waivers

TODAY = date(2026, 6, 1)


def _result(
    rule: str = "tenancy_filter.unscoped_lookup", operation: str = "GET /patients/{id}", **kw: object
) -> Result:
    fields: dict[str, object] = {"outcome": Outcome.FAIL, "message": "patients read by id", "severity": Severity.HIGH}
    fields.update(kw)
    return Result(rule.split(".")[0], rule, Category.TENANCY, operation=operation, **fields)  # type: ignore[arg-type]


def _waiver(**kw: object) -> Waiver:
    fields: dict[str, object] = {
        "justification": "checked in code",
        "owner": "ana@example.org",
        "expires": "2026-12-31",
    }
    return Waiver.model_validate({**fields, **kw})


def test_a_waiver_by_key_waives_exactly_that_finding() -> None:
    named, other = _result(), _result(message="another message")
    results, problems = apply_waivers([named, other], [_waiver(key=named.key)], TODAY)
    assert [r.waived for r in results] == [True, False]
    assert results[0].waiver == {
        "owner": "ana@example.org",
        "justification": "checked in code",
        "expires": "2026-12-31",
        "status": "active",
    }
    assert results[0].key == named.key, "a waiver does not change which finding it is"
    assert problems == ()


def test_a_waiver_by_rule_and_operation_waives_every_message() -> None:
    results, _ = apply_waivers(
        [_result(), _result(message="other"), _result(operation="GET /other")],
        [_waiver(rule="tenancy_filter.unscoped_lookup", operation="GET /patients/{id}")],
        TODAY,
    )
    assert [r.waived for r in results] == [True, True, False]


def test_an_expired_waiver_waives_nothing_and_says_when_it_expired() -> None:
    finding = _result()
    results, problems = apply_waivers([finding], [_waiver(key=finding.key, expires="2026-05-31")], TODAY)
    assert not results[0].waived and results[0].failed
    assert results[0].waiver is not None and results[0].waiver["status"] == "expired"
    assert [p.kind for p in problems] == [ProblemKind.EXPIRED]
    assert "expired on 2026-05-31" in problems[0].message and "ana@example.org" in problems[0].message


def test_a_waiver_holds_through_its_last_day() -> None:
    finding = _result()
    results, problems = apply_waivers([finding], [_waiver(key=finding.key, expires=TODAY.isoformat())], TODAY)
    assert results[0].waived and problems == ()


def test_a_waiver_matching_no_failing_finding_is_stale() -> None:
    passing = _result(outcome=Outcome.PASS)
    inconclusive = _result(outcome=Outcome.INCONCLUSIVE)
    results, problems = apply_waivers([passing, inconclusive], [_waiver(key=passing.key)], TODAY)
    assert all(r.waiver is None for r in results), "only failures can be waived; INCONCLUSIVE never"
    assert [p.kind for p in problems] == [ProblemKind.STALE]
    assert "matches no failing finding" in problems[0].message


def test_the_first_matching_waiver_wins_and_the_other_is_stale() -> None:
    finding = _result()
    first = _waiver(key=finding.key, owner="first@example.org")
    second = _waiver(rule=finding.rule, operation=finding.operation, owner="second@example.org")
    results, problems = apply_waivers([finding], [first, second], TODAY)
    assert results[0].waiver is not None and results[0].waiver["owner"] == "first@example.org"
    assert [(p.waiver.owner, p.kind) for p in problems] == [("second@example.org", ProblemKind.STALE)]


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ("  - key: x:0123456789ab\n    owner: o\n    expires: 2026-01-01\n", "justification: Field required"),
        ("  - key: x:0123456789ab\n    justification: '  '\n    owner: o\n    expires: 2026-01-01\n", "at least 1"),
        ("  - key: x:0123456789ab\n    justification: j\n    owner: o\n    expires: soon\n", "expires: Input"),
        ("  - key: x:0123456789ab\n    justification: j\n    owner: o\n    expires: 2026-01-01\n    by: me\n", "by:"),
        ("  - key: not-a-key\n    justification: j\n    owner: o\n    expires: 2026-01-01\n", "pattern"),
        ("  - rule: r.x\n    justification: j\n    owner: o\n    expires: 2026-01-01\n", "go together"),
        (
            "  - key: x:0123456789ab\n    rule: r.x\n    operation: GET /a\n    justification: j\n    owner: o\n"
            "    expires: 2026-01-01\n",
            "not both",
        ),
    ],
)
def test_a_wrong_entry_is_refused_with_its_line(tmp_path: Path, entry: str, error: str) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text("# accepted findings\nwaivers:\n" + entry, encoding="utf-8")
    with pytest.raises(ConfigError, match=error) as raised:
        load_waivers(path)
    assert raised.value.line is not None and raised.value.line >= 3


def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(
        "waivers:\n"
        "  - key: tenancy_filter.unscoped_lookup:6e4f090a25b1\n    justification: re-checked in code\n"
        "    owner: ana\n    expires: 2026-12-31\n"
        "  - rule: pagination.no_order\n    operation: GET /threads/{id}/messages\n    justification: fix in 2.4\n"
        "    owner: bo\n    expires: '2027-01-15'\n",
        encoding="utf-8",
    )
    waivers = load_waivers(path).waivers
    assert [w.names for w in waivers] == [
        "tenancy_filter.unscoped_lookup:6e4f090a25b1",
        "pagination.no_order on GET /threads/{id}/messages",
    ]
    assert waivers[1].expires == date(2027, 1, 15)
