"""audit_insert over tests/fixtures/probes/audit_insert.yaml (the case format: conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from probity.probes.audit_insert import audit_insert

CORPUS = "audit_insert"


def test_audit_insert(case: dict[str, Any], run_case: Callable[..., Any]) -> None:
    run_case(audit_insert, case)
