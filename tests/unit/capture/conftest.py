"""Helpers for the capture unit tests: the recorded jsonlog fixtures and records shaped like them."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

JSONLOG = Path(__file__).resolve().parents[2] / "fixtures" / "jsonlog"

Record = dict[str, Any]


def recorded(name: str) -> list[str]:
    """The lines of one recorded fixture file (see tests/fixtures/jsonlog/record.py)."""
    return (JSONLOG / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()


@pytest.fixture
def fixture_lines() -> Callable[[str], list[str]]:
    return recorded


@pytest.fixture
def make_record() -> Callable[..., Record]:
    """A record copied from a real ``statement:`` record, with the fields a test names replaced."""
    template = next(json.loads(line) for line in recorded("simple") if '"statement: ' in line)

    def make(message: str, session: str = "s1", **fields: Any) -> Record:
        record = copy.deepcopy(template)
        record.update(message=message, session_id=session, **fields)
        return {k: v for k, v in record.items() if v is not None}

    return make
