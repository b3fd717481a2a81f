"""The gate's part of ``probity run``: its options read before a run starts, and the verdict after it ends.

Both inputs are read first, so a mistyped threshold or a malformed waivers file costs a second, not a run.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from probity.core.errors import ConfigError
from probity.core.target import Target
from probity.core.waivers import ProblemKind, Waivers, apply_waivers, load_waivers
from probity.engine.run import RunReport
from probity.reporting.findings_json import RunRecord, as_record
from probity.reporting.gate import DEFAULT_MAX_INCONCLUSIVE, Threshold, Verdict, gate, with_verdict
from probity.reporting.junit import FILENAME as JUNIT_FILENAME

__all__ = ["DEFAULT_WAIVERS", "GateOptions", "add_gate_arguments", "copy_junit", "gate_options", "judge"]

DEFAULT_WAIVERS = "waivers.yaml"  # looked for beside the target file


@dataclass(frozen=True)
class GateOptions:
    threshold: Threshold
    waivers: Waivers
    waivers_path: Path | None  # None: no waivers file


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--waivers",
        type=Path,
        metavar="FILE",
        help=f"accepted findings (key, justification, owner, expires); default: {DEFAULT_WAIVERS} beside the target",
    )
    parser.add_argument(
        "--max-inconclusive",
        default=DEFAULT_MAX_INCONCLUSIVE,
        metavar="N|P%",
        help="INCONCLUSIVE results the gate allows, a count or a percentage of applicable results (default 0); "
        "more exit 3",
    )
    parser.add_argument("--junit", type=Path, metavar="FILE", help="also write the JUnit XML report here")


def gate_options(target: Target, args: argparse.Namespace) -> GateOptions:
    threshold = Threshold.parse(args.max_inconclusive)
    path = args.waivers or _beside(target)
    return GateOptions(threshold, load_waivers(path) if path else Waivers(), path)


def judge(report: RunReport, options: GateOptions) -> tuple[RunRecord, Verdict]:
    """Apply the waivers to *report* (stale ones become notes), then the gate; the record carries the verdict."""
    today = datetime.now(UTC).date()
    results, problems = apply_waivers(report.results, options.waivers.waivers, today)
    report.results = list(results)
    report.notes += [f"waivers: {p.message}" for p in problems if p.kind is ProblemKind.STALE]
    record = as_record(report)
    verdict = gate(record, options.threshold)
    waivers = str(options.waivers_path) if options.waivers_path else None
    return with_verdict(record, verdict, waivers=waivers), verdict


def copy_junit(run_dir: Path, destination: Path | None) -> None:
    """Copy the run's JUnit report to where ``--junit`` asked (the run folder keeps its own)."""
    if destination is None:
        return
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / JUNIT_FILENAME, destination)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the JUnit report (the run's is in {run_dir}): {exc.strerror}", destination
        ) from exc


def _beside(target: Target) -> Path | None:
    candidate = target.root / DEFAULT_WAIVERS
    return candidate if candidate.is_file() else None
