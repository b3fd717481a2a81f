"""The HTTP-level checks against the real reference clinic.

One embedded stack (PostgreSQL, the clinic) and a second clinic process on the same database with every planted
defect on. The correct clinic must pass everywhere; the defective one must fail exactly where its tenancy defects
are planted (``fixtures/clinic/defects.yaml``) and nowhere else. The correct run goes first: the defective run's
landed cross-tenant write changes the shared database.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from probity.core.findings import Outcome, Result, Severity
from probity.core.policy import Policy, load_policy
from probity.core.principals import Principals, load_principals
from probity.core.redact import Redactor
from probity.core.target import Target, load_target
from probity.engine.auth import TokenBroker
from probity.engine.cross_tenant import cross_tenant_access
from probity.engine.function_level import function_level_authorization
from probity.engine.plan import is_write_allowed, never_sent
from probity.engine.security_headers import security_headers
from probity.engine.session_revocation import session_revocation
from probity.runtime.backend import BackendProcess
from probity.runtime.stack import EmbeddedStack

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[3]
CLINIC = ROOT / "contracts" / "clinic"
# The defects these checks must find, with the rule that finds each; the operation comes from defects.yaml.
DEFECT_RULES = {
    "tenancy-read-unscoped": "cross_tenant_access.read",
    "tenancy-update-by-id": "cross_tenant_access.write",
    "tenancy-or-filter": "cross_tenant_access.list",
}
CHECKS = ("cross_tenant_access", "function_level_authorization", "session_revocation", "security_headers")


def _defect_operations() -> dict[str, str]:
    defects = yaml.safe_load((ROOT / "fixtures" / "clinic" / "defects.yaml").read_text(encoding="utf-8"))["defects"]
    return {d["id"]: d["operation"] for d in defects if d["id"] in DEFECT_RULES}


@dataclass(frozen=True)
class Runs:
    correct: list[Result]
    defects: list[Result]
    relative: list[Result]  # the derived contract (server /api/v1, relative paths) on the defective clinic
    secrets: tuple[str, ...]  # every token and canary the runs could have leaked into evidence
    seconds: float


@dataclass(frozen=True)
class _Setup:
    target: Target
    policy: Policy
    principals: Principals


def _run_all(
    setup: _Setup, contract: dict[str, Any], backend: BackendProcess, brokers: list[TokenBroker]
) -> list[Result]:
    broker = TokenBroker(backend.base_url, setup.principals)
    brokers.append(broker)
    policy = setup.policy
    redactor = Redactor(policy.redact_headers, policy.phi.fields, policy.canary_values())
    writes = is_write_allowed(backend.origin, setup.target.allow_writes_to)
    never = never_sent(policy)
    args = (contract, backend.origin, setup.principals, broker, redactor)
    return [
        *cross_tenant_access(*args, write_allowed=writes, never_send=never),
        *function_level_authorization(*args, write_allowed=writes, never_send=never),
        *session_revocation(*args, session_ending=policy.session_ending_operations),
        *security_headers(
            *args, policy=policy.security_headers, write_allowed=writes, principal=setup.principals.principals[0].name
        ),
    ]


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    base = Path(tempfile.mkdtemp(prefix="probity-http-checks-"))
    base.chmod(0o755)  # as root, the server's own account must reach its cluster below this folder
    setup = _Setup(
        load_target(CLINIC / "target.yaml"),
        load_policy(CLINIC / "policy.yaml"),
        load_principals(CLINIC / "principals.yaml"),
    )
    stack = EmbeddedStack(setup.target, base / "work")
    defective: BackendProcess | None = None
    try:
        with pytest.MonkeyPatch.context() as env:  # a private cluster folder, only while the cluster starts
            env.setenv("PROBITY_STATE_DIR", str(base / "state"))
            stack.start()
        assert stack.database is not None and stack.backend is not None and stack.backend.openapi_url
        defective = BackendProcess(setup.target, stack.database.app_url, base / "work" / "defects.log", "all").start()
        live = requests.get(stack.backend.openapi_url, timeout=30).json()
        derived = yaml.safe_load((CLINIC / "openapi.yaml").read_text(encoding="utf-8"))
        brokers: list[TokenBroker] = []
        started = time.monotonic()
        correct = _run_all(setup, live, stack.backend, brokers)
        defects = _run_all(setup, live, defective, brokers)
        relative = _run_all(setup, derived, defective, brokers)
        seconds = time.monotonic() - started
        tokens = tuple(c.value.split(" ")[-1] for b in brokers for c in b._cache.values())
        yield Runs(correct, defects, relative, (*tokens, *setup.policy.canary_values()), seconds)
    finally:
        if defective is not None:
            defective.stop()
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)


def _table(results: list[Result]) -> str:
    rows = [f"{r.severity.value:8} {r.rule:42} {r.operation:55} {r.message}" for r in results if r.failed]
    return "\n".join(rows) or "(no failures)"


def _outcomes(results: list[Result], check: str) -> set[Outcome]:
    return {r.outcome for r in results if r.check == check}


def test_the_correct_clinic_fails_nothing(runs: Runs) -> None:
    print("\nFAILs on the correct clinic:\n" + _table(runs.correct))
    assert not [r for r in runs.correct if r.failed]


@pytest.mark.parametrize("check", CHECKS)
def test_every_check_tests_something_on_the_correct_clinic(runs: Runs, check: str) -> None:
    assert Outcome.PASS in _outcomes(runs.correct, check)


def test_the_correct_clinic_passes_where_it_matters(runs: Runs) -> None:
    passed = {(r.rule, r.operation) for r in runs.correct if r.outcome is Outcome.PASS}
    for rule, operation in [
        ("cross_tenant_access.read", "GET /api/v1/patients/{patient_id}"),
        ("cross_tenant_access.write", "PATCH /api/v1/appointments/{appointment_id}"),
        ("cross_tenant_access.list", "GET /api/v1/support/tickets"),
        ("function_level_authorization.role_refused", "DELETE /api/v1/patients/{patient_id}"),
        ("function_level_authorization.role_refused", "GET /api/v1/billing/account"),
        ("session_revocation.reused_after_end", "POST /api/v1/auth/logout"),
    ]:
        assert (rule, operation) in passed


def test_revocation_is_checked_once_per_tenant(runs: Runs) -> None:
    revocations = [r for r in runs.correct if r.check == "session_revocation"]
    principals = [r.evidence["observations"][0]["principal"] for r in revocations]
    assert principals == ["northwind_admin", "southbay_admin"]


@pytest.mark.parametrize("defect", sorted(DEFECT_RULES))
def test_each_tenancy_defect_fails_under_its_operation(runs: Runs, defect: str) -> None:
    operation = _defect_operations()[defect]
    failed = [r for r in runs.defects if r.failed and r.operation == operation]
    assert {r.rule for r in failed} == {DEFECT_RULES[defect]}, _table(runs.defects)
    assert {r.severity for r in failed} == {Severity.CRITICAL}
    assert {r.evidence["principal"] for r in failed} == {"northwind_admin", "southbay_admin"}  # both directions


def test_the_defective_clinic_fails_nowhere_else(runs: Runs) -> None:
    print("\nFAILs on the defective clinic:\n" + _table(runs.defects))
    expected = {(DEFECT_RULES[d], operation) for d, operation in _defect_operations().items()}
    assert {(r.rule, r.operation) for r in runs.defects if r.failed} == expected


def test_the_landed_write_was_seen_by_reading_back(runs: Runs) -> None:
    landed = [r for r in runs.defects if r.failed and r.rule == "cross_tenant_access.write"]
    assert landed and all(r.evidence["changed"] for r in landed)
    assert {r.evidence["read_back_with"] for r in landed} == {"GET /api/v1/appointments/{appointment_id}"}


def _relative(operation: str) -> str:
    method, path = operation.split(" ", 1)
    return f"{method} {path.removeprefix('/api/v1')}"


def test_a_contract_with_its_base_path_in_the_server_url_finds_the_same(runs: Runs) -> None:
    print("\nFAILs with the derived contract:\n" + _table(runs.relative))
    expected = {(DEFECT_RULES[d], _relative(operation)) for d, operation in _defect_operations().items()}
    assert {(r.rule, r.operation) for r in runs.relative if r.failed} == expected


def test_evidence_holds_no_secret_and_no_phi(runs: Runs) -> None:
    evidence = json.dumps([r.evidence for r in (*runs.correct, *runs.defects, *runs.relative)])
    assert runs.secrets and not [secret for secret in runs.secrets if secret in evidence]
    leaked = next(r for r in runs.defects if r.failed and r.rule == "cross_tenant_access.read")
    assert '"family_name": "***"' in leaked.evidence["body"] and '"given_name": "***"' in leaked.evidence["body"]
    assert "Bearer" not in evidence


def test_messages_hold_no_ids(runs: Runs) -> None:
    ids = {value for r in runs.defects for value in (r.evidence.get("ids") or {}).values()}
    assert ids and not [r.message for r in (*runs.correct, *runs.defects) if any(i in r.message for i in ids)]


def test_the_checks_are_bounded(runs: Runs) -> None:
    assert runs.seconds < 30, f"three runs of the three checks took {runs.seconds:.1f}s"
