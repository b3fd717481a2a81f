"""The examples in the docstrings of ``probity.contracts`` run, and every module says what it exports."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import probity.contracts
from probity.contracts import build_openapi, derive, derive_contract, parse_reference, to_yaml
from probity.contracts.bodies import parse_body
from probity.contracts.cells import parse_constraints
from probity.contracts.markdown import tokenize
from probity.contracts.operations import parse_operation
from probity.contracts.schemas import field_schema
from probity.contracts.tables import parse_fields

MODULES = sorted(info.name for info in pkgutil.iter_modules(probity.contracts.__path__, "probity.contracts."))
MAIN_FUNCTIONS = [
    parse_reference,
    build_openapi,
    derive,
    derive_contract,
    to_yaml,
    tokenize,
    parse_constraints,
    parse_fields,
    parse_body,
    parse_operation,
    field_schema,
]


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", ["probity.contracts", *MODULES])
def test_docstring_examples_pass(name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(_module(name)):
        runner.run(test)
    assert runner.failures == 0


@pytest.mark.parametrize("function", MAIN_FUNCTIONS, ids=lambda function: function.__name__)
def test_main_functions_show_an_example(function: object) -> None:
    assert ">>>" in (getattr(function, "__doc__", None) or "")


@pytest.mark.parametrize("name", ["probity.contracts", *MODULES])
def test_every_module_exports_what_exists(name: str) -> None:
    module = _module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    assert all(hasattr(module, attribute) for attribute in exported)
