"""``probity merge``: the shards of one run (``probity run --shard K/N``) as one run folder with every report.

Exit codes are the gate's on the merged results (0 pass, 1 failing findings, 3 too many inconclusive); 2 with
one line when the folders are not every shard of one run exactly once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from probity.core.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from probity.reporting.findings_json import RunRecord

__all__ = ["add_merge_command", "run_merge"]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # generic for mypy only


def add_merge_command(commands: Subparsers) -> None:
    merge = commands.add_parser(
        "merge", help="merge the run folders of every shard (probity run --shard K/N) into one run and its reports"
    )
    merge.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="one run folder per shard")
    merge.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR", help="the merged run's folder")
    merge.set_defaults(command=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    from rich.console import Console  # the reporting layer loads only for the command that needs it

    from probity.reporting.findings_json import read_findings
    from probity.reporting.gate import verdict_of
    from probity.reporting.merge import merge_shards
    from probity.reporting.outputs import write_outputs

    output: Path = args.output
    inputs = [path.resolve() for path in args.run_dirs]
    if output.resolve() in inputs:
        raise ConfigError("the merged run needs a folder of its own, not one of the shards'", output)
    record = merge_shards([read_findings(path) for path in inputs], run_id=output.name)
    _make_folder(output)
    written = write_outputs(record, output)
    _print(Console(), record, written[0])
    return verdict_of(record).exit_code


def _make_folder(output: Path) -> None:
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot make the merged run's folder: {exc.strerror}", output) from exc


def _print(console: Console, record: RunRecord, findings: Path) -> None:
    from probity.core.findings import Outcome
    from probity.reporting.gate import verdict_of

    counts = ", ".join(f"{sum(1 for r in record.results if r.outcome is o)} {o}" for o in Outcome)
    shards = len(record.metadata["shards"])
    console.print(f"[bold]probity merge[/]: {shards} shards, {len(record.operations)} operations; {counts}")
    for reason in verdict_of(record).reasons:
        console.print(f"- {reason}")
    console.print(f"results in {findings}")
