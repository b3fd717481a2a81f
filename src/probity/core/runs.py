"""Run identity: every run gets a sortable id and its own folder under the reports folder."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["new_run_dir", "new_run_id"]


def new_run_id(prefix: str = "run") -> str:
    """A sortable, unique id such as ``run-20261124T063000Z-3fa2``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{prefix}-{stamp}-{secrets.token_hex(2)}"


def new_run_dir(reports_dir: Path, prefix: str = "run") -> Path:
    """Create and return ``reports_dir/<run id>``."""
    run_dir = reports_dir / new_run_id(prefix)
    run_dir.mkdir(parents=True, exist_ok=False)
    return run_dir
