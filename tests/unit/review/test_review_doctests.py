"""The examples in the review modules' docstrings hold, and every rule module exports one rule of its name."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import probity.review
from probity.core.compliance import controls_for
from probity.review import COLUMNS, REVIEW_CHECKS, RULES

MODULES = sorted(m.name for m in pkgutil.iter_modules(probity.review.__path__, "probity.review."))


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_every_rule_is_a_module_exporting_a_function_of_its_name(rule: object) -> None:
    name = getattr(rule, "__name__", "")
    module = importlib.import_module(f"probity.review.{name}")
    assert getattr(module, name) is rule
    assert name in module.__all__
    assert f"review.{name}" in (module.__doc__ or "")  # the module documents its rule ids


def test_the_tracking_table_has_one_column_per_rule_in_registry_order() -> None:
    assert list(COLUMNS) == [f"review.{rule.__name__}" for rule in RULES]


@pytest.mark.parametrize("check", REVIEW_CHECKS)
def test_every_review_check_bears_on_a_control(check: str) -> None:
    assert controls_for(check), f"{check} is in no framework: its findings would map to no control"
