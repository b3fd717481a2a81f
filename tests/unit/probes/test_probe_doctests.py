"""The examples in every probe module's docstrings run and hold (the way sqlglot's tests/test_docs.py runs its
modules' doctests), and every probe module documents its rule with at least one example."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import probity.probes

MODULES = sorted(m.name for m in pkgutil.iter_modules(probity.probes.__path__, "probity.probes."))
PROBE_MODULES = [name for name in MODULES if name != "probity.probes.base" and "._" not in name]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0


@pytest.mark.parametrize("name", PROBE_MODULES)
def test_every_probe_module_exports_its_probe_with_an_example(name: str) -> None:
    module = importlib.import_module(name)
    probe = name.rsplit(".", 1)[1]
    assert module.__all__ == [probe]
    assert callable(getattr(module, probe))
    assert ">>>" in (module.__doc__ or "")
