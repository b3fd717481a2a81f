"""Project settings for the command line: the default target and where reports go.

They come from ``[tool.probity]`` in the nearest ``pyproject.toml`` (the current folder or a parent), so
the harness itself names no target. ``PROBITY_REPORTS_DIR`` overrides where reports go.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from probity.core.errors import ConfigError

__all__ = ["ProjectSettings", "find_project"]


@dataclass(frozen=True)
class ProjectSettings:
    """Where the project is, and the defaults it declares."""

    root: Path
    default_target: Path | None
    reports_dir: Path


def find_project(start: Path | None = None) -> ProjectSettings:
    """Settings of the project around *start* (default: the current folder)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            return _settings(folder, _tool_table(pyproject))
    return _settings(here, {})


def _tool_table(pyproject: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read project settings: {exc}", pyproject) from exc
    table = data.get("tool", {}).get("probity", {})
    return table if isinstance(table, dict) else {}


def _settings(root: Path, table: dict[str, object]) -> ProjectSettings:
    target = table.get("target")
    reports = os.environ.get("PROBITY_REPORTS_DIR") or table.get("reports", "reports")
    return ProjectSettings(
        root=root,
        default_target=root / str(target) if target else None,
        reports_dir=root / str(reports),
    )
