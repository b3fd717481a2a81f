"""``probity observe --har FILE``: traffic Probity did not generate, judged like a run's own.

Every recorded exchange is validated against the contract; with ``--replay`` each request is sent again (to the
embedded target or ``--base-url``, state-changing ones only to allow-listed hosts) so its SQL is tied to it
and probed. Findings and every other report go to ``reports/<run-id>/``, and the same gate decides the exit
code, as for ``probity run``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from probity.cli.gate import add_gate_arguments, copy_junit, gate_options, judge
from probity.cli.project import find_project
from probity.cli.summary import print_summary
from probity.core.errors import ConfigError
from probity.core.runs import new_run_dir
from probity.core.target import Target, load_target
from probity.core.trace import Attribution
from probity.engine.traffic import ObserveOptions, observe_har
from probity.reporting.findings_json import point_latest
from probity.reporting.outputs import write_outputs

__all__ = ["add_observe_arguments", "run_observe"]


def add_observe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--har", type=Path, required=True, metavar="FILE", help="a HAR 1.2 file of recorded traffic")
    parser.add_argument("--target", type=Path, help="target file (default: [tool.probity] target)")
    parser.add_argument("--base-url", help="API root of a running backend (replays go there; default: embedded)")
    parser.add_argument(
        "--dsn", help="running target: a database role that may read the server's log (env: PROBITY_DSN)"
    )
    parser.add_argument(
        "--replay", action="store_true", help="send every recorded request again, so its SQL can be probed"
    )
    parser.add_argument("--principal", help="replay as this principal (a fresh login) instead of the recorded one")
    parser.add_argument(
        "--attribution",
        choices=("traceparent", "fence"),
        default="traceparent",
        help="tie SQL to replayed requests by the backend's SQL comments (exact) or by fences",
    )
    add_gate_arguments(parser)


def run_observe(args: argparse.Namespace, console: Console | None = None) -> int:
    """Judge the HAR file as *args* say; print the summary; return the gate's exit code, as ``probity run``."""
    out = console or Console()
    target = _target(args.target)
    gate = gate_options(target, args)  # a bad threshold or waivers file fails before anything is sent
    reports = find_project().reports_dir
    run_dir = new_run_dir(reports, prefix="observe")
    out.print(f"[bold]probity observe[/] {run_dir.name}: {args.har} against target [cyan]{target.name}[/]")
    report = observe_har(
        ObserveOptions(
            target=target,
            har=args.har,
            run_dir=run_dir,
            base_url=args.base_url,
            dsn=args.dsn or os.environ.get("PROBITY_DSN"),
            replay=args.replay,
            principal=args.principal,
            attribution=Attribution(args.attribution),
        )
    )
    record, verdict = judge(report, gate)
    written = write_outputs(record, run_dir)
    point_latest(reports, run_dir)
    copy_junit(run_dir, args.junit)
    print_summary(out, report, written[0], verdict)
    return verdict.exit_code


def _target(path: Path | None) -> Target:
    chosen = path or find_project().default_target
    if chosen is None:
        raise ConfigError("no target given: pass --target FILE or set [tool.probity] target in pyproject.toml")
    return load_target(chosen)
