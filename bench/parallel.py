"""Parallel workers: a Probity pass with ``--workers 1`` against ``--workers N``, traceparent attribution.

Run it as ``.venv/bin/python bench/parallel.py [--rounds 3] [--workers 2]`` (see bench/README.md). On one
embedded clinic stack (started once, the database reset to its seed before every run, untimed) it alternates
W1, WN, W1, WN, …: the same pass as ``probity run --roles ADMIN --attribution traceparent``, with the
after-pass checks, once with one schemathesis worker and once with N. It reports the median wall times, the
speed-up, the peak number of requests in flight (counted by a pair of schemathesis call hooks, so it shows
that N workers really overlap), and whether every run concluded the same: the same failing findings and no
inconclusive result (attribution stays exact with concurrent requests). ``--defects`` switches planted
defects on, so there is something to find.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import ROOT, Setup, Timing, machine, run_plain, run_probity, setup_for  # noqa: E402
from probity.core.target import load_target  # noqa: E402
from probity.core.trace import Attribution  # noqa: E402
from probity.runtime.stack import EmbeddedStack  # noqa: E402

__all__ = ["InFlight", "main"]


class InFlight:
    """Counts requests between schemathesis's ``before_call`` and ``after_call``, and the peak."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self._lock = threading.Lock()

    def before_call(self, context: Any, case: Any, kwargs: dict[str, Any]) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def after_call(self, context: Any, case: Any, response: Any) -> None:
        with self._lock:
            self.now -= 1


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    target = load_target(Path(args.target).resolve())
    work = Path(tempfile.mkdtemp(prefix="probity-bench-parallel-"))
    with EmbeddedStack(target, work, defects=args.defects, sqlcommenter=True) as stack:
        setup = setup_for(target, stack, args)
        runs = _alternate(setup, args.rounds, args.workers)
    summary = _summary(runs, args)
    print(_table(summary))
    Path(args.output).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=str(ROOT / "contracts/clinic/target.yaml"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="N, compared with one worker")
    parser.add_argument("--max-examples", type=int, default=3)
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--role", default="ADMIN")
    parser.add_argument("--defects", default="", help="planted defects to switch on (comma list or all)")
    parser.add_argument("--output", default=str(Path(tempfile.gettempdir()) / "probity-bench-parallel.json"))
    return parser.parse_args(argv)


def _alternate(setup: Setup, rounds: int, workers: int) -> list[tuple[Timing, int]]:
    setup.stack.reset()
    run_plain(setup, 0)  # warm-up, not counted
    runs = []
    for number in range(1, rounds + 1):
        for count in (1, workers):
            setup.stack.reset()
            plan = replace(setup.plan, workers=count)
            with _counted() as in_flight:
                timing = run_probity(replace(setup, plan=plan), number, f"W{count}", Attribution.TRACEPARENT, plan)
            print(f"round {number} W{count}: pass {timing.pass_seconds:.2f}s, peak {in_flight.peak}", file=sys.stderr)
            runs.append((timing, in_flight.peak))
    return runs


@contextmanager
def _counted() -> Iterator[InFlight]:
    from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER as hooks

    counter = InFlight()
    before, after = counter.before_call, counter.after_call  # unregistered by identity
    hooks.register_hook_with_name(before, "before_call")
    hooks.register_hook_with_name(after, "after_call")
    try:
        yield counter
    finally:
        hooks.unregister(before)
        hooks.unregister(after)


def _summary(runs: list[tuple[Timing, int]], args: argparse.Namespace) -> dict[str, Any]:
    variants: dict[str, dict[str, Any]] = {}
    for variant in dict.fromkeys(t.variant for t, _ in runs):
        mine = [(t, peak) for t, peak in runs if t.variant == variant]
        variants[variant] = {
            "pass": statistics.median(t.pass_seconds for t, _ in mine),
            "full": statistics.median(t.full_seconds for t, _ in mine),
            "peak_in_flight": max(peak for _, peak in mine),
            "probed": statistics.median(t.probed for t, _ in mine),
            "failing": sorted({f for t, _ in mine for f in t.failing}),
            "inconclusive": max(t.inconclusive for t, _ in mine),
        }
    same = len({tuple(t.failing) for t, _ in runs}) == 1
    budget = {"max_examples": args.max_examples, "phases": args.phases, "seed": args.seed, "role": args.role}
    budget["defects"] = args.defects
    runs_data = [{**t.__dict__, "peak_in_flight": peak} for t, peak in runs]
    return {"machine": machine(), "budget": budget, "variants": variants, "same_findings": same, "runs": runs_data}


def _table(summary: dict[str, Any]) -> str:
    variants = summary["variants"]
    one = variants["W1"]["pass"]
    lines = ["| workers | pass s | speed-up | full s | peak in flight | probed | failing | inconclusive |"]
    lines.append("| --- " * 8 + "|")
    for name, v in variants.items():
        cells = [name[1:], f"{v['pass']:.1f}", f"{one / v['pass']:.2f}", f"{v['full']:.1f}", str(v["peak_in_flight"])]
        cells += [f"{v['probed']:.0f}", str(len(v["failing"])), str(v["inconclusive"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\nsame failing findings in every run: {summary['same_findings']}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
