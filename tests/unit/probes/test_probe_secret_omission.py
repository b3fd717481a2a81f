"""secret_omission over tests/fixtures/probes/secret_omission.yaml (the case format: conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from probity.probes.secret_omission import secret_omission

CORPUS = "secret_omission"


def test_secret_omission(case: dict[str, Any], run_case: Callable[..., Any]) -> None:
    run_case(secret_omission, case)
