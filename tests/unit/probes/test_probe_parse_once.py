"""Every probe over many requests: sqlglot parses each distinct statement text (or literal shape) once, however
many requests repeat it, whether the backend binds its values or writes them into the SQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from probity.core.catalog import Catalog
from probity.core.findings import Outcome
from probity.core.policy import load_policy
from probity.core.principals import load_principals
from probity.core.trace import Attribution, Exchange, RequestTrace, Statement
from probity.probes import PROBES
from probity.probes.base import OperationFacts, ProbeContext
from probity.sql import catalog_from_ddl, clear_cache

ROOT = Path(__file__).resolve().parents[3]
POLICY = ROOT / "contracts" / "clinic" / "policy.yaml"
PRINCIPALS = ROOT / "contracts" / "clinic" / "principals.yaml"
ORG = "5cadbce9-673f-5b44-8793-4fadbbcf5307"
SESSION_CHECK = (
    "SELECT m.id AS membership_id, m.role FROM sessions s JOIN memberships m ON m.user_id = s.user_id"
    " AND m.organization_id = s.organization_id WHERE s.id = $1 AND s.organization_id = $2 AND s.user_id = $3"
)


def _request(user: str, literal: bool) -> RequestTrace:
    """A request of the clinic: its session check bound, then a read and its audit row, bound or inlined."""
    patient, session = str(uuid.uuid4()), str(uuid.uuid4())
    read = "SELECT p.id, p.mrn FROM patients p WHERE p.id = {0} AND p.organization_id = {1} AND p.deleted_at IS NULL"
    audit = "INSERT INTO audit_logs (organization_id, actor_user_id, action, resource_type, resource_id) VALUES ({1}, {2}, 'patient.read', 'patient', {0})"  # noqa: E501
    values = (patient, ORG, user)
    if literal:
        statements = [Statement(sql.format(*(f"'{v}'" for v in values)), (), "s1") for sql in (read, audit)]
    else:
        statements = [
            Statement(sql.format("$1", "$2", "$3"), values, "s1", protocol="extended") for sql in (read, audit)
        ]
    begin, commit = Statement("BEGIN", (), "s1"), Statement("COMMIT", (), "s1")
    check = Statement(SESSION_CHECK, (session, ORG, user), "s1", protocol="extended")
    exchange = Exchange("GET", f"http://api.test/api/v1/patients/{patient}", "GET /patients/{patient_id}", 200,
                        response_body=f'{{"id": "{patient}"}}'.encode())  # fmt: skip
    return RequestTrace(exchange, (begin, check, *statements, commit), Attribution.TRACEPARENT)


@cache
def _catalog() -> Catalog:
    return catalog_from_ddl((ROOT / "fixtures" / "clinic" / "schema.sql").read_text(encoding="utf-8"))


def _context(trace: RequestTrace, principal: Any) -> ProbeContext:
    policy = load_policy(POLICY)
    catalog = _catalog()
    operation = OperationFacts("GET /patients/{patient_id}", phi=True)
    body = trace.exchange.response_body.decode()
    return ProbeContext(policy, catalog, catalog.tag(policy), operation, principal, response_text=body)


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    calls = [0]
    for name in ("parse", "parse_one"):
        real = getattr(sqlglot, name)

        def counted(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            calls[0] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(sqlglot, name, counted)
    return lambda: calls[0]


@pytest.mark.parametrize("literal", [False, True], ids=["bound", "inlined"])
def test_repeated_requests_parse_nothing_new(literal: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    clear_cache()
    parses = _count_parses(monkeypatch)
    principal = next(p for p in load_principals(PRINCIPALS).principals if p.name == "northwind_provider1")
    user = principal.attributes["user_id"]
    outcomes = []
    for n in range(30):
        trace = _request(user, literal)
        ctx = _context(trace, principal)
        results = [result for probe in PROBES for result in probe(trace, ctx)]
        outcomes.append({(r.rule, r.outcome) for r in results})
        if n == 0:
            first = parses()
    assert first > 0
    assert parses() == first  # 29 more requests, every text new when inlined: nothing parsed again
    assert all(found == outcomes[0] for found in outcomes)  # and the same judgement for each
    assert ("audit_insert.recorded", Outcome.PASS) in outcomes[0]
    assert ("tenancy_filter.scoped", Outcome.PASS) in outcomes[0]
