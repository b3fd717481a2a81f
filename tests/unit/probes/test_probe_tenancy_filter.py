"""tenancy_filter over tests/fixtures/probes/tenancy_filter.yaml (the case format: conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from probity.probes.tenancy_filter import tenancy_filter

CORPUS = "tenancy_filter"


def test_tenancy_filter(case: dict[str, Any], run_case: Callable[..., Any]) -> None:
    run_case(tenancy_filter, case)
