"""Shards: one unsharded ``probity run`` against ``--shard K/N`` runs merged with ``probity merge``.

On a generated target of ``--operations`` operations (``growth.py``'s generator: CRUD resources over
PostgreSQL, every statement filtered by the caller's organization), each round runs, alternating the order:
the whole run, then for every N in ``--shards`` the N shard runs one after another, each whole (stack
start-up included, as on a CI machine of its own), and ``probity merge`` of them. On N machines the shards
run at once, so their wall time is the slowest shard plus the merge; the speed-up is the unsharded run's
time over that. Every merge is checked against the unsharded run of the same round: the same operations and
the same results (rule, operation, status and result key), or the benchmark stops. Shards and the whole run
use ``--independent-operations`` and no stateful phase, as identical findings require (README.md, Scale).

    .venv/bin/python bench/shards.py [--operations 200] [--shards 2,4] [--rounds 2] [--max-examples 2]
                                     [--phases examples,coverage] [--seed 1] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# growth.py is a sibling script, not a package: found through the path set above.
from growth import add_budget_arguments, budget, generate_target, growth_env, run_probity, workspace  # noqa: E402

__all__ = ["main", "same_results"]


@dataclass(frozen=True)
class Timed:
    """One command's wall time and the run folder it wrote."""

    seconds: float
    folder: Path


@dataclass(frozen=True)
class Round:
    whole: float
    shards: dict[int, list[float]]  # N -> every shard's seconds
    merges: dict[int, float]  # N -> the merge's seconds


def _run(target: Path, args: argparse.Namespace, env: dict[str, str], *extra: str) -> Timed:
    command = ["run", "--target", str(target), *budget(args), "--independent-operations", *extra]
    seconds, _ = run_probity(command, env)
    return Timed(seconds, (Path(env["PROBITY_REPORTS_DIR"]) / "latest").resolve())


def _document(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "findings.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _results(document: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    sections = ("findings", "passed", "not_applicable")
    return {(r["rule"], r["operation"], r["status"], r["key"]) for s in sections for r in document[s]}


def same_results(merged: dict[str, Any], whole: dict[str, Any]) -> list[str]:
    """What differs between a merged document and the unsharded one; empty when they conclude the same.

    >>> doc = {"run": {"operations": ["GET /a"]}, "findings": [], "not_applicable": [],
    ...        "passed": [{"rule": "r", "operation": "GET /a", "status": "pass", "key": "k"}]}
    >>> same_results(doc, doc)
    []
    >>> same_results({**doc, "passed": []}, doc)
    ['1 results only in the unsharded run, 0 only in the merge']
    """
    problems = []
    if merged["run"]["operations"] != whole["run"]["operations"]:
        problems.append("the operations differ")
    ours, theirs = _results(merged), _results(whole)
    if ours != theirs:
        problems.append(
            f"{len(theirs - ours)} results only in the unsharded run, {len(ours - theirs)} only in the merge"
        )
    return problems


def _sharded(
    target: Path, n: int, args: argparse.Namespace, env: dict[str, str], whole: Path
) -> tuple[list[float], float]:
    shards = [_run(target, args, env, "--shard", f"{k}/{n}") for k in range(1, n + 1)]
    merged = Path(env["PROBITY_REPORTS_DIR"]) / f"merged-{n}-{time.monotonic_ns()}"
    merge_seconds, _ = run_probity(["merge", *(str(s.folder) for s in shards), "-o", str(merged)], env)
    problems = same_results(_document(merged), _document(whole))
    if problems:
        raise SystemExit(f"{n} merged shards do not conclude what the unsharded run does: {'; '.join(problems)}")
    return [s.seconds for s in shards], merge_seconds


def _round(index: int, target: Path, args: argparse.Namespace, env: dict[str, str]) -> Round:
    whole = _run(target, args, env)
    shards: dict[int, list[float]] = {}
    merges: dict[int, float] = {}
    order = args.shards if index % 2 == 0 else list(reversed(args.shards))  # no N always runs first
    for n in order:
        shards[n], merges[n] = _sharded(target, n, args, env, whole.folder)
        times = " ".join(f"{s:.1f}" for s in shards[n])
        print(f"round {index + 1}: whole {whole.seconds:.1f} s; {n} shards {times} s, merge {merges[n]:.1f} s")
    return Round(whole.seconds, shards, merges)


def _report(rounds: list[Round], args: argparse.Namespace) -> None:
    whole = median([r.whole for r in rounds])
    print("\n| shards | slowest shard s | merge s | on N machines s | speed-up | paired | all shards s, one machine |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| 1 (unsharded) | {whole:.1f} | — | {whole:.1f} | 1.00 | 1.00 | {whole:.1f} |")
    for n in args.shards:
        slowest = median([max(r.shards[n]) for r in rounds])
        merge = median([r.merges[n] for r in rounds])
        paired = median([r.whole / (max(r.shards[n]) + r.merges[n]) for r in rounds])
        total = median([sum(r.shards[n]) for r in rounds])
        print(f"| {n} | {slowest:.1f} | {merge:.1f} | {slowest + merge:.1f} | {whole / (slowest + merge):.2f} "
              f"| {paired:.2f} | {total:.1f} |")  # fmt: skip
    budget = f"--max-examples {args.max_examples} --phases {args.phases} --seed {args.seed} --independent-operations"
    print(f"\n{args.operations} operations; {budget}; {len(rounds)} rounds")
    print("every merge concluded what the unsharded run of its round did (same operations and results)")
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=200, help="the generated contract's size (a multiple of 5)")
    parser.add_argument("--shards", default="2,4", help="shard counts to compare with one unsharded run")
    add_budget_arguments(parser)
    args = parser.parse_args()
    args.shards = [int(n) for n in args.shards.split(",")]
    if "stateful" in args.phases.split(","):
        parser.error("the stateful phase links operations across shards: leave it out to compare findings")
    return args


def main() -> int:
    args = _arguments()
    with workspace("probity-shards-", args.keep) as workdir:
        tokens, env = growth_env(workdir)
        target = generate_target(args.operations, workdir / f"ops{args.operations}", tokens)
        _report([_round(index, target, args, env) for index in range(args.rounds)], args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
