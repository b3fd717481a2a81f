"""``probity report [RUN_DIR]``: rewrite a run's reports from its ``findings.json`` and build the HTML report.

The HTML report is Allure 3's (``RUN_DIR/html``), built from ``RUN_DIR/allure-results``; it loads its data
over HTTP, so it is opened through a web server (``allure open`` or ``python3 -m http.server``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from probity.cli.project import find_project
from probity.core.errors import ConfigError, HarnessError
from probity.reporting.findings_json import read_findings
from probity.reporting.html import build_html
from probity.reporting.outputs import write_outputs

__all__ = ["add_report_arguments", "build_report", "build_report_or_warn", "run_report"]


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", nargs="?", type=Path, metavar="RUN_DIR", help="a run's folder (default: reports/latest)"
    )


def run_report(args: argparse.Namespace, console: Console | None = None) -> int:
    out = console or Console()
    run_dir = _run_dir(args.run_dir)
    record = read_findings(run_dir)
    write_outputs(record, run_dir)
    build_report(run_dir, out)
    return 0


def build_report(run_dir: Path, console: Console) -> Path:
    """Build the HTML report of *run_dir* (whose Allure results are written) and say where it is."""
    name = f"Probity: {run_dir.name}"
    index = build_html(run_dir, find_project().root, name)
    console.print(f"[bold]HTML report[/]: {escape(str(index))}")
    console.print(f"[dim]open it through a web server: python3 -m http.server -d {escape(str(index.parent))}[/]")
    return index


def build_report_or_warn(run_dir: Path, console: Console) -> None:
    """:func:`build_report`, where a missing or failing Allure is a warning, not an error (``probity demo``)."""
    try:
        build_report(run_dir, console)
    except HarnessError as exc:
        console.print(f"[yellow]warning[/]: no HTML report: {escape(str(exc))}")


def _run_dir(given: Path | None) -> Path:
    folder = given if given is not None else find_project().reports_dir / "latest"
    if folder.is_file() and folder.name == "findings.json":
        folder = folder.parent
    if not (folder / "findings.json").is_file():
        raise ConfigError(f"no findings.json in {folder}: name a run's folder (reports/run-…) or run probity first")
    return folder.resolve()  # reports/latest is a link: the report belongs in the run's own folder
