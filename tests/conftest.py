"""Shared fixtures of Probity's own tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project_root() -> Path:
    return ROOT


@pytest.fixture
def isolated_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private folder for clusters, so a test's stale-cluster sweep touches only its own clusters.

    It is not under pytest's tmp_path: that tree is private to us (0700), and as root the server runs as
    another account that must reach its cluster folder.
    """
    base = Path(tempfile.mkdtemp(prefix="probity-test-"))
    base.chmod(0o755)
    monkeypatch.setenv("PROBITY_STATE_DIR", str(base / "state"))
    yield base / "state"
    shutil.rmtree(base, ignore_errors=True)
