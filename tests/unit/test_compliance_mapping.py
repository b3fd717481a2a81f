"""The compliance mapping is data: every check a framework names must exist, and every check must count."""

from __future__ import annotations

import doctest
import importlib

import pytest

from probity.core.compliance import controls_for, frameworks
from probity.engine.checks import RUN_CHECKS

# What the frameworks must cover (HIPAA 45 CFR 164.312 and OWASP API Security Top 10, 2023).
REQUIRED_CONTROLS = {
    "hipaa": {"164.312(a)(1)", "164.312(b)", "164.312(c)(1)", "164.312(d)"},
    "owasp-api-2023": {f"API{n}:2023" for n in (1, 2, 3, 4, 5, 8, 9)},
}


def known_checks() -> set[str]:
    checks = set(RUN_CHECKS)
    try:
        from probity.review import REVIEW_CHECKS  # the design review's checks, when that layer is present
    except ImportError:
        return checks
    return checks | set(REVIEW_CHECKS)


def named_checks() -> list[tuple[str, str, str]]:
    return [(f.id, c.id, check) for f in frameworks() for c in f.controls for check in c.checks]


@pytest.mark.parametrize(("framework", "control", "check"), named_checks())
def test_every_named_check_exists(framework: str, control: str, check: str) -> None:
    assert check in known_checks(), f"{framework} {control} names {check!r}, which no part of Probity emits"


@pytest.mark.parametrize("check", RUN_CHECKS)
def test_every_run_check_bears_on_a_control(check: str) -> None:
    assert controls_for(check), f"{check} is in no framework: its findings would map to no control"


@pytest.mark.parametrize("framework_id", sorted(REQUIRED_CONTROLS))
def test_required_controls_are_mapped(framework_id: str) -> None:
    framework = next(f for f in frameworks() if f.id == framework_id)
    assert REQUIRED_CONTROLS[framework_id] <= {c.id for c in framework.controls}


def test_check_ids_are_unique() -> None:
    assert len(RUN_CHECKS) == len(set(RUN_CHECKS))


def test_a_control_lists_a_check_once() -> None:
    for framework in frameworks():
        for control in framework.controls:
            assert len(control.checks) == len(set(control.checks)), f"{framework.id} {control.id}"


@pytest.mark.parametrize("name", ["probity.core.compliance", "probity.core.findings"])
def test_the_docstring_examples_of_the_mapping_hold(name: str) -> None:
    runner = doctest.DocTestRunner()
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    for test in tests:
        runner.run(test)
    assert runner.failures == 0
    assert sum(len(test.examples) for test in tests) > 0
