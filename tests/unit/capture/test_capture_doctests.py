"""The examples in the capture modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import probity.capture

MODULES = sorted(m.name for m in pkgutil.iter_modules(probity.capture.__path__, "probity.capture."))


def test_every_module_is_listed() -> None:
    assert {"probity.capture.records", "probity.capture.fence", "probity.capture.traceparent"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0


def test_the_pure_functions_have_examples() -> None:
    from probity.capture import fence, records, traceparent

    pure = [
        records.as_record, records.decode_line, records.decode_block, records.parse_parameters,
        records.split_sqlcomment, records.parse_duration, records.parse_lines, fence.marker_sql, fence.fenced,
        traceparent.new_traceparent, traceparent.trace_id, traceparent.transaction_control,
        traceparent.traced,
    ]  # fmt: skip
    assert [f.__name__ for f in pure if ">>>" not in (f.__doc__ or "")] == []
