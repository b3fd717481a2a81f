"""The examples in the SQL layer's docstrings (and the catalog model's) run and hold, and every public
function has one (the way sqlglot's tests/test_docs.py runs its modules' doctests)."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import probity.sql

MODULES = sorted(m.name for m in pkgutil.iter_modules(probity.sql.__path__, "probity.sql.")) + ["probity.core.catalog"]
PUBLIC_API = ["probity.core.catalog", "probity.sql.ddl", "probity.sql.facts", "probity.sql.live", "probity.sql.model"]


def test_every_module_is_listed() -> None:
    assert {"probity.sql.ddl", "probity.sql.live", "probity.sql.facts", "probity.sql.model"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0


def _public_callables(module: ModuleType) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in module.__all__:
        item = getattr(module, name)
        if inspect.isfunction(item):
            found.append((name, item))
        elif inspect.isclass(item) and item.__module__ == module.__name__:
            methods = inspect.getmembers(item, inspect.isfunction)
            found += [
                (f"{name}.{m}", f) for m, f in methods if not m.startswith("_") and f.__qualname__.startswith(name)
            ]
    return found


@pytest.mark.parametrize("name", PUBLIC_API)
def test_every_public_function_has_an_example(name: str) -> None:
    module = importlib.import_module(name)
    missing = [label for label, item in _public_callables(module) if ">>>" not in (inspect.getdoc(item) or "")]
    assert missing == []
