"""Shared fixtures of Probity's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project_root() -> Path:
    return ROOT


@pytest.fixture
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private folder for clusters, so a test's stale-cluster sweep touches only its own clusters."""
    state = tmp_path / "state"
    monkeypatch.setenv("PROBITY_STATE_DIR", str(state))
    # The server's unprivileged account must be able to walk down to its cluster.
    for folder in (tmp_path, *tmp_path.parents):
        if folder == Path("/"):
            break
        folder.chmod(folder.stat().st_mode | 0o005)
    return state
