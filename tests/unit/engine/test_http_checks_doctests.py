"""The examples in the HTTP-level checks' docstrings run, each module says what it exports, and each check's
results cite the controls its id is mapped to."""

from __future__ import annotations

import doctest
import importlib

import pytest

from probity.core.compliance import controls_for

MODULES = [
    "probity.engine.openapi_ops",
    "probity.engine.http_probe",
    "probity.engine.cross_tenant",
    "probity.engine.function_level",
    "probity.engine.session_revocation",
    "probity.engine.security_headers",
    "probity.engine.confirm",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    for test in tests:
        runner.run(test)
    assert runner.failures == 0
    assert sum(len(test.examples) for test in tests) > 0


@pytest.mark.parametrize("name", MODULES)
def test_every_module_exports_what_exists(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__ and all(hasattr(module, attribute) for attribute in module.__all__)


@pytest.mark.parametrize(
    ("name", "controls"),
    [
        ("probity.engine.cross_tenant", {"OWASP API1:2023", "HIPAA 164.312(a)(1)", "HIPAA 164.312(c)(1)"}),
        ("probity.engine.function_level", {"OWASP API5:2023", "HIPAA 164.312(a)(1)"}),
        ("probity.engine.session_revocation", {"OWASP API2:2023", "HIPAA 164.312(d)"}),
    ],
)
def test_check_ids_are_mapped_to_controls(name: str, controls: set[str]) -> None:
    assert set(controls_for(importlib.import_module(name).CHECK)) == controls
