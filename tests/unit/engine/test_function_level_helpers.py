"""The pure parts of the function-level authorization check: refused roles, random ids, judging answers."""

from __future__ import annotations

import uuid

import pytest

from probity.core.findings import Outcome, Severity
from probity.core.principals import Principals
from probity.engine.function_level import _judge, random_bindings, refused_roles
from probity.engine.http_probe import Exchange
from probity.engine.openapi_ops import Operation

PRINCIPALS = Principals.model_validate(
    {
        "principals": [
            {"name": n, "tenant": t, "role": r, "token": {"env": "X"}}
            for n, t, r in [("a1", "a", "ADMIN"), ("a2", "a", "USER"), ("b1", "b", "USER"), ("b2", "b", "AUDITOR")]
        ]
    }
)


@pytest.mark.parametrize(
    ("roles", "refused"),
    [
        (("ADMIN",), ("USER", "AUDITOR")),
        (("ADMIN", "USER", "AUDITOR"), ()),
        (("SOMEONE_ELSE",), ("ADMIN", "USER", "AUDITOR")),
        ((), ()),  # public
        (None, ()),  # the contract does not say
    ],
)
def test_refused_roles(roles: tuple[str, ...] | None, refused: tuple[str, ...]) -> None:
    assert refused_roles(Operation("GET", "/x", {}, roles=roles), PRINCIPALS) == refused


def test_random_bindings_are_well_formed() -> None:
    params = ({"name": "n", "in": "path", "schema": {"type": "integer"}},)
    bound = random_bindings(Operation("GET", "/a/{id}/b/{n}", {}, params))
    assert str(uuid.UUID(bound["id"])) == bound["id"]
    assert bound["n"].isdigit()
    assert random_bindings(Operation("GET", "/a", {})) == {}


READ = Operation("GET", "/x/{id}", {}, roles=("ADMIN",))
WRITE = Operation("DELETE", "/x/{id}", {}, roles=("ADMIN",))


@pytest.mark.parametrize(
    ("op", "status", "random", "outcome", "severity"),
    [
        (READ, 403, False, Outcome.PASS, Severity.INFO),
        (READ, 404, True, Outcome.PASS, Severity.INFO),
        (READ, 404, False, Outcome.FAIL, Severity.LOW),
        (READ, 200, False, Outcome.FAIL, Severity.HIGH),
        (WRITE, 204, False, Outcome.FAIL, Severity.CRITICAL),
        (WRITE, 201, True, Outcome.FAIL, Severity.CRITICAL),
        (READ, 401, False, Outcome.FAIL, Severity.MEDIUM),
        (READ, 422, False, Outcome.INCONCLUSIVE, Severity.INFO),
        (READ, None, False, Outcome.INCONCLUSIVE, Severity.INFO),
    ],
)
def test_judge(op: Operation, status: int | None, random: bool, outcome: Outcome, severity: Severity) -> None:
    verdict = _judge(op, "USER", Exchange("a2", op.method, "u", status), random, {})
    assert (verdict.outcome, verdict.severity) == (outcome, severity)
    assert "USER" in verdict.message


def test_a_404_on_a_random_id_is_noted() -> None:
    verdict = _judge(READ, "USER", Exchange("a2", "GET", "u", 404), True, {})
    assert "random id" in verdict.message
