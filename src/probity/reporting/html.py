"""The HTML report: ``run_dir/html``, built from ``run_dir/allure-results`` by the Allure 3 command line.

Allure 3 is the npm package ``allure``, pinned in ``tools/allure/package.json`` and installed by ``./dev setup``
into ``tools/allure/node_modules`` (``PROBITY_ALLURE`` names another ``allure`` executable). This module is
the glue: it writes the report's configuration (name, grouping by control then operation, the categories of
:mod:`probity.reporting.allure`, and a history file beside the run folders so trends span runs), runs
``allure generate`` with a timeout, and turns every way that can go wrong into a :class:`HarnessError`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from probity.core.errors import HarnessError
from probity.reporting.allure import FOLDER

__all__ = ["ALLURE_ENV", "FOLDER_HTML", "HISTORY_FILE", "allure_executable", "build_html"]

ALLURE_ENV = "PROBITY_ALLURE"
FOLDER_HTML = "html"
HISTORY_FILE = "allure-history.jsonl"  # in the folder of the run folders: one point per report built
_INSTALLED = Path("tools") / "allure" / "node_modules" / ".bin" / "allure"
_TIMEOUT = 300  # seconds; a report of a few thousand cases builds in seconds
_HISTORY_LIMIT = 50  # runs the trend charts remember
_FIX = "run ./dev setup (it installs Node's Allure 3 into tools/allure) or set PROBITY_ALLURE=/path/to/allure"


def allure_executable(project_root: Path) -> Path:
    """The Allure 3 command line to use: ``$PROBITY_ALLURE`` or the project's own install."""
    chosen = os.environ.get(ALLURE_ENV)
    executable = Path(chosen) if chosen else project_root / _INSTALLED
    if not executable.is_file():
        origin = ALLURE_ENV if chosen else "the project's tools/allure"
        raise HarnessError(f"no Allure 3 command line at {executable} ({origin}): {_FIX}")
    if shutil.which("node") is None:
        raise HarnessError(f"Node.js is not installed, and the Allure 3 command line needs it: {_FIX}")
    return executable


def build_html(run_dir: Path, project_root: Path, name: str = "Probity") -> Path:
    """Build ``run_dir/html`` from ``run_dir/allure-results``; return the report's ``index.html``."""
    results = run_dir / FOLDER
    if not (results / "categories.json").is_file():
        raise HarnessError(f"no Allure results in {results}: write them first (probity report {run_dir})")
    executable = allure_executable(project_root)
    output = run_dir / FOLDER_HTML
    shutil.rmtree(output, ignore_errors=True)
    config = run_dir / "allurerc.json"
    config.write_text(json.dumps(_config(results, run_dir.parent / HISTORY_FILE, name), indent=1), encoding="utf-8")
    _generate([str(executable), "generate", str(results), "--output", str(output), "--config", str(config)], run_dir)
    index = output / "index.html"
    if not index.is_file():
        raise HarnessError(f"Allure finished without writing {index}")
    return index


def _config(results: Path, history: Path, name: str) -> dict[str, Any]:
    categories = json.loads((results / "categories.json").read_text(encoding="utf-8"))
    return {
        "name": name,
        "historyPath": str(history),
        "historyLimit": _HISTORY_LIMIT,
        "categories": categories,
        # The tree a reader opens: control (feature), then operation (story), then each check's case.
        "plugins": {"awesome": {"options": {"reportName": name, "groupBy": ["feature", "story"]}}},
    }


def _generate(command: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"Allure did not build the report within {_TIMEOUT}s") from exc
    except OSError as exc:
        raise HarnessError(f"cannot run Allure ({command[0]}): {exc}: {_FIX}") from exc
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-5:]
        raise HarnessError(f"Allure failed (exit {done.returncode}): {' | '.join(said) or 'no output'}")
