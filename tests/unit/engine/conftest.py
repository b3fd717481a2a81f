"""Fixtures of the HTTP-level checks' unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_stub import StubServer


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server
