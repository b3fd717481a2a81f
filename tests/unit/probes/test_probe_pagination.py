"""pagination over tests/fixtures/probes/pagination.yaml (the case format: conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from probity.probes.pagination import pagination

CORPUS = "pagination"


def test_pagination(case: dict[str, Any], run_case: Callable[..., Any]) -> None:
    run_case(pagination, case)
