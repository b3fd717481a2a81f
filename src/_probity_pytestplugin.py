"""Probity's pytest plugin, loaded through the ``pytest11`` entry point.

This module is deliberately thin and imports nothing of Probity at load time, so that every pytest run in
an environment where Probity is installed pays nothing for it. The work happens in fixtures, which import
what they need when a test asks for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from probity.runtime.stack import EmbeddedStack

__all__ = ["pytest_addoption", "probity_stack"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("probity", "Probity compliance harness")
    group.addoption(
        "--probity-target",
        type=Path,
        default=None,
        help="target file to start for the probity_stack fixture (default: [tool.probity] target)",
    )
    group.addoption(
        "--probity-defects",
        default="",
        help="planted defects the target backend switches on: id,id… or 'all'",
    )


@pytest.fixture(scope="session")
def probity_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    """The embedded stack (PostgreSQL, seeded database, backend) of the configured target, for a session."""
    from probity.cli.project import find_project
    from probity.core.target import load_target
    from probity.runtime.stack import EmbeddedStack

    path = request.config.getoption("--probity-target") or find_project(request.config.rootpath).default_target
    if path is None:
        pytest.fail("probity_stack needs a target: --probity-target FILE or [tool.probity] target")
    defects = request.config.getoption("--probity-defects")
    with EmbeddedStack(load_target(path), tmp_path_factory.mktemp("probity"), defects=defects) as stack:
        yield stack
