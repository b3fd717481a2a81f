"""parameterization over tests/fixtures/probes/parameterization.yaml (the case format: conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from probity.probes.parameterization import parameterization

CORPUS = "parameterization"


def test_parameterization(case: dict[str, Any], run_case: Callable[..., Any]) -> None:
    run_case(parameterization, case)
