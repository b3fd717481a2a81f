"""The pure parts of the cross-tenant check: pairing principals, judging answers, folding observations."""

from __future__ import annotations

from typing import Any

import pytest

from probity.core.findings import Category, Outcome, Severity
from probity.core.principals import Principals
from probity.engine.cross_tenant import CHECK, _directions, _judge_list, _judge_read, _judge_write, _pair, _state
from probity.engine.http_probe import Exchange, Verdict, leaked_fields, summarize
from probity.engine.openapi_ops import Operation


def _principals(*rows: tuple[str, str, str]) -> Principals:
    return Principals.model_validate(
        {"principals": [{"name": n, "tenant": t, "role": r, "token": {"env": "X"}} for n, t, r in rows]}
    )


PRINCIPALS = _principals(
    ("a_admin", "a", "ADMIN"), ("a_user", "a", "USER"), ("b_user", "b", "USER"), ("c_admin", "c", "ADMIN")
)


def test_every_ordered_pair_of_tenants_is_a_direction() -> None:
    assert _directions(PRINCIPALS) == [("a", "b"), ("a", "c"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "b")]
    assert _directions(_principals(("x", "only", "R"))) == []


def _names(pair: Any) -> tuple[str, str] | None:
    return None if pair is None else (pair[0].name, pair[1].name)


def test_pairs_prefer_the_same_role() -> None:
    anyone = Operation("GET", "/t/{id}", {})
    assert _names(_pair(PRINCIPALS, anyone, "a", "b")) == ("a_user", "b_user")
    assert _names(_pair(PRINCIPALS, anyone, "a", "c")) == ("a_admin", "c_admin")


def test_pairs_fall_back_to_any_allowed_roles_and_respect_x_roles() -> None:
    assert _names(_pair(PRINCIPALS, Operation("GET", "/t/{id}", {}), "b", "c")) == ("b_user", "c_admin")
    admins = Operation("GET", "/t/{id}", {}, roles=("ADMIN",))
    assert _names(_pair(PRINCIPALS, admins, "a", "c")) == ("a_admin", "c_admin")
    assert _pair(PRINCIPALS, admins, "a", "b") is None


def _answer(status: int | None, text: str = "") -> Exchange:
    return Exchange("b_user", "GET", "http://h/t/1", status, None, text)


@pytest.mark.parametrize(
    ("status", "leaked", "outcome", "severity"),
    [
        (200, ["name"], Outcome.FAIL, Severity.CRITICAL),
        (200, [], Outcome.FAIL, Severity.HIGH),
        (404, ["name"], Outcome.FAIL, Severity.HIGH),
        (404, [], Outcome.PASS, Severity.INFO),
        (403, [], Outcome.PASS, Severity.INFO),
        (401, [], Outcome.INCONCLUSIVE, Severity.INFO),
        (500, [], Outcome.INCONCLUSIVE, Severity.INFO),
        (None, [], Outcome.INCONCLUSIVE, Severity.INFO),
    ],
)
def test_judge_read(status: int | None, leaked: list[str], outcome: Outcome, severity: Severity) -> None:
    verdict = _judge_read(_answer(status), leaked, {"k": 1})
    assert (verdict.outcome, verdict.severity) == (outcome, severity)
    assert verdict.evidence == {"k": 1}


@pytest.mark.parametrize(
    ("status", "changed", "outcome", "severity"),
    [
        (200, True, Outcome.FAIL, Severity.CRITICAL),
        (404, True, Outcome.FAIL, Severity.CRITICAL),  # refused, yet the object changed
        (None, True, Outcome.FAIL, Severity.CRITICAL),
        (204, False, Outcome.FAIL, Severity.HIGH),
        (404, False, Outcome.PASS, Severity.INFO),
        (403, False, Outcome.PASS, Severity.INFO),
        (422, False, Outcome.INCONCLUSIVE, Severity.INFO),
        (409, False, Outcome.INCONCLUSIVE, Severity.INFO),
    ],
)
def test_judge_write(status: int | None, changed: bool, outcome: Outcome, severity: Severity) -> None:
    verdict = _judge_write(_answer(status), changed, {})
    assert (verdict.outcome, verdict.severity) == (outcome, severity)


def test_judge_list() -> None:
    assert _judge_list(["x"], {}).outcome is Outcome.FAIL
    assert _judge_list(["x"], {}).severity is Severity.CRITICAL
    assert _judge_list([], {}).outcome is Outcome.PASS


def test_the_state_compared_around_a_write_is_status_and_body() -> None:
    before = Exchange("a", "GET", "u", 200, {"notes": "x"}, '{"notes": "x"}')
    assert _state(before) == _state(Exchange("a", "GET", "u", 200, {"notes": "x"}, '{"notes":"x"}'))
    assert _state(before) != _state(Exchange("a", "GET", "u", 200, {"notes": "probity-1"}, ""))
    assert _state(before) != _state(Exchange("a", "GET", "u", 404, {"notes": "x"}, ""))
    assert _state(Exchange("a", "GET", "u", 200, None, "plain")) == (200, "plain")


OWNER_OBJECT = {"id": "9f1c2b3a-0000-4000-8000-00000000abcd", "notes": "Allergic to penicillin", "sex": "FEMALE"}


def test_leaked_fields_name_fields_not_values() -> None:
    body = '{"id": "9f1c2b3a-0000-4000-8000-00000000abcd", "notes": "Allergic to penicillin", "sex": "FEMALE"}'
    assert leaked_fields(OWNER_OBJECT, _answer(200, body), sent=[]) == ["id", "notes"]


def test_values_the_request_carried_are_not_leaks() -> None:
    echo = '{"code": "not_found", "message": "no patient 9f1c2b3a-0000-4000-8000-00000000abcd"}'
    assert leaked_fields(OWNER_OBJECT, _answer(404, echo), sent=[OWNER_OBJECT["id"]]) == []
    assert leaked_fields(OWNER_OBJECT, _answer(404, echo), sent=[]) == ["id"]


def test_summary_reports_the_worst_failure() -> None:
    verdicts = [
        Verdict(Outcome.PASS, "held", {"n": 1}),
        Verdict(Outcome.FAIL, "accepted", {"n": 2}, Severity.HIGH),
        Verdict(Outcome.FAIL, "landed", {"n": 3}, Severity.CRITICAL),
    ]
    result = summarize(CHECK, f"{CHECK}.write", Category.TENANCY, "PATCH /t/{id}", verdicts)
    assert (result.outcome, result.message, result.severity, result.evidence) == (
        Outcome.FAIL,
        "landed",
        Severity.CRITICAL,
        {"n": 3},
    )
    assert "OWASP API1:2023" in result.controls and "HIPAA 164.312(a)(1)" in result.controls


def test_summary_never_turns_inconclusive_into_a_pass() -> None:
    verdicts = [Verdict(Outcome.INCONCLUSIVE, "owner refused", {"n": 1}), Verdict(Outcome.INCONCLUSIVE, "x", {})]
    result = summarize(CHECK, f"{CHECK}.read", Category.TENANCY, "GET /t/{id}", verdicts)
    assert (result.outcome, result.message) == (Outcome.INCONCLUSIVE, "owner refused")
    assert summarize(CHECK, f"{CHECK}.read", Category.TENANCY, "GET /t/{id}", []).outcome is Outcome.INCONCLUSIVE
