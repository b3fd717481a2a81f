"""n_plus_one over tests/fixtures/probes/n_plus_one.yaml (the case format: conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from probity.probes.n_plus_one import n_plus_one

CORPUS = "n_plus_one"


def test_n_plus_one(case: dict[str, Any], run_case: Callable[..., Any]) -> None:
    run_case(n_plus_one, case)
