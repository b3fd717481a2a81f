"""``probity run``: every check against a target, results in ``reports/<run-id>/``, exit code for CI."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from probity.cli.gate import add_gate_arguments, copy_junit, gate_options, judge
from probity.cli.project import find_project
from probity.core.errors import ConfigError
from probity.core.runs import new_run_dir
from probity.core.shards import Shard, parse_shard
from probity.core.target import Target, load_target
from probity.core.trace import Attribution
from probity.engine.judge_process import JUDGE_WAITS
from probity.engine.run import RunOptions, execute_run
from probity.reporting.findings_json import point_latest
from probity.reporting.outputs import write_outputs

__all__ = ["add_run_arguments", "run_command", "run_target"]

PHASES = ("examples", "coverage", "fuzzing", "stateful")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", type=Path, help="target file (default: [tool.probity] target)")
    parser.add_argument("--base-url", help="API root of a running backend (default: start the embedded target)")
    parser.add_argument("--contract", type=Path, help="OpenAPI contract (default: the target's)")
    parser.add_argument("--policy", type=Path, help="compliance policy (default: the target's)")
    parser.add_argument("--principals", type=Path, help="principals file (default: the target's)")
    parser.add_argument(
        "--allow-writes-to",
        action="append",
        default=None,
        metavar="HOST",
        help="a host that may receive state-changing requests (repeatable; replaces the target's)",
    )
    parser.add_argument("--seed", type=int, help="replay a run: the seed a previous run printed")
    parser.add_argument("--max-examples", type=int, default=20, help="generated cases per operation and phase")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma list of {', '.join(PHASES)}")
    parser.add_argument("--roles", default="", help="only passes of these roles (comma list)")
    parser.add_argument("--workers", type=int, default=1, help="schemathesis workers per pass")
    parser.add_argument("--defects", default="", help="embedded target only: planted defects to switch on")
    parser.add_argument(
        "--attribution",
        choices=("traceparent", "fence"),
        default="traceparent",
        help="tie SQL to requests by the backend's SQL comments (exact, concurrent) or by fences",
    )
    parser.add_argument(
        "--judge-wait",
        choices=JUDGE_WAITS,
        default="auto",
        help="traceparent attribution: whether the judging process busy-waits for requests (faster on a small "
        "machine, costs a core while a pass runs) or sleeps (better where other work keeps the CPUs busy); "
        "auto spins when a core is to spare and no other work waits for a CPU",
    )
    parser.add_argument(
        "--dsn", help="running target: a database role that may read the server's log (env: PROBITY_DSN)"
    )
    parser.add_argument("--backend-user", help="running target: the role the backend connects as")  # fmt: skip
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="run only shard K of N of the operations (merge the shards with probity merge)",
    )
    parser.add_argument(
        "--independent-operations",
        action="store_true",
        help="generate each operation's cases from the seed alone, not from other operations' answers; shards and "
        "a whole run, all with it and the same seed, then conclude the same (but for the stateful phase)",
    )
    add_gate_arguments(parser)


def _shard(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ConfigError as exc:  # argparse reports it with the usage line, before anything starts
        raise argparse.ArgumentTypeError(str(exc)) from exc


def run_command(args: argparse.Namespace) -> int:
    return run_target(_target(args), args, Console())


def run_target(target: Target, args: argparse.Namespace, console: Console) -> int:
    """Run everything against *target* as *args* say; print the summary; return the exit code."""
    from probity.cli.summary import print_summary

    gate = gate_options(target, args)  # before anything starts: a bad threshold or waivers file costs no run
    reports = find_project().reports_dir
    run_dir = new_run_dir(reports, prefix="run")
    console.print(f"[bold]probity run[/] {run_dir.name}: target [cyan]{target.name}[/]")
    report = execute_run(_options(target, args, run_dir))
    record, verdict = judge(report, gate)
    written = write_outputs(record, run_dir)
    point_latest(reports, run_dir)
    copy_junit(run_dir, args.junit)
    print_summary(console, report, written[0], verdict)
    return verdict.exit_code


def _target(args: argparse.Namespace) -> Target:
    path = args.target or find_project().default_target
    if path is None:
        raise ConfigError("no target given: pass --target FILE or set [tool.probity] target in pyproject.toml")
    target = load_target(path)
    overrides: dict[str, Any] = {
        name: getattr(args, name).resolve() for name in ("contract", "policy", "principals") if getattr(args, name)
    }
    if args.allow_writes_to is not None:
        overrides["allow_writes_to"] = tuple(args.allow_writes_to)
    return target.model_copy(update=overrides)


def _options(target: Target, args: argparse.Namespace, run_dir: Path) -> RunOptions:
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise ConfigError(f"unknown phases: {', '.join(unknown)} (known: {', '.join(PHASES)})")
    return RunOptions(
        target=target,
        run_dir=run_dir,
        base_url=args.base_url or target.base_url,
        seed=args.seed,
        max_examples=args.max_examples,
        phases=phases,
        roles=tuple(r.strip() for r in args.roles.split(",") if r.strip()),
        workers=args.workers,
        defects=args.defects,
        attribution=Attribution(args.attribution),
        judge_wait=args.judge_wait,
        dsn=args.dsn or os.environ.get("PROBITY_DSN"),
        backend_user=args.backend_user,
        shard=args.shard,
        independent_operations=args.independent_operations,
    )
