"""Overhead of Probity against plain schemathesis on the same operations, examples, seed and credentials.

Run it as ``.venv/bin/python bench/overhead.py [--rounds 3] [--max-examples 3]`` (see bench/README.md). It
starts the embedded clinic stack once (PostgreSQL and the backend, sqlcommenter on), then alternates, round
after round, with the database reset to its seed (untimed) before every run:

A  plain schemathesis: its engine through its Python API, configured as a Probity pass is (same operations,
   ``max-examples``, seed, phases, every built-in check, the pinned principal with one peer per tenant in a
   Web Fuzzing Commons auth document), with no hook and nothing of Probity's SQL view;
B  the same pass with Probity's SQL view: every request tied to its SQL by its traceparent, every probe run
   (``probity run --attribution traceparent``);
C  the same with fence attribution (one request at a time, as ``--attribution fence`` runs it).

For B and C it also times what a full ``probity run`` does after its passes (cross-tenant, role, session and
header checks, the oversized-page requests) and reports both figures: "pass" (comparable request for
request with A) and "full" (pass + those checks, which plain schemathesis does not do). Medians, and their
ratios to A, are printed as a Markdown table and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from probity.contracts.load import load_contract
from probity.core.findings import Outcome, Result
from probity.core.policy import load_policy
from probity.core.principals import load_principals
from probity.core.redact import Redactor
from probity.core.target import Target, load_target
from probity.core.trace import Attribution
from probity.engine import run as engine_run
from probity.engine.auth import TokenBroker
from probity.engine.contract_run import PassOutcome, run_contract_pass
from probity.engine.judge_process import judged_aside, spare_core
from probity.engine.observer import Observer, ObserverHooks, fold
from probity.engine.plan import Pass, RunPlan, default_passes, never_sent
from probity.engine.sqlview import embedded_view
from probity.runtime.stack import EmbeddedStack

__all__ = ["ROOT", "Setup", "Timing", "machine", "main", "run_plain", "run_probity", "setup_for"]

ROOT = Path(__file__).resolve().parents[1]
ALL_PHASES = "examples,coverage,fuzzing,stateful"


@dataclass(frozen=True)
class Setup:
    """What every run shares: the documents, the stack, the passes (one per role, run in this order) and the
    plan."""

    documents: engine_run.Documents  # the contract, policy and principals
    stack: EmbeddedStack
    passes: tuple[Pass, ...]
    plan: RunPlan


@dataclass(frozen=True)
class Timing:
    """One run: the pass's wall time (and this process's CPU time in it), the after-pass checks' (0 for A), and
    what the pass did."""

    variant: str
    round: int
    pass_seconds: float
    pass_cpu: float
    after_seconds: float
    scenarios: int
    probed: int  # requests judged against their SQL (0 for A)
    failing: tuple[str, ...]  # "rule on operation" of every failing result (the correct clinic has none)
    inconclusive: int

    @property
    def full_seconds(self) -> float:
        return self.pass_seconds + self.after_seconds


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    target = load_target(Path(args.target).resolve())
    work = Path(tempfile.mkdtemp(prefix="probity-bench-overhead-"))
    with EmbeddedStack(target, work, sqlcommenter=True) as stack:
        setup = setup_for(target, stack, args)
        timings = _alternate(setup, args.rounds, args.variants.split(","))
    summary = _summary(timings, args)
    print(_table(summary))
    Path(args.output).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=str(ROOT / "contracts/clinic/target.yaml"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-examples", type=int, default=3)
    parser.add_argument("--phases", default=ALL_PHASES)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--role", default="ADMIN", help="the roles whose passes are run: a comma list, or all")
    parser.add_argument("--variants", default="A,B,C", help="comma list of A, B, C (run in this order per round)")
    parser.add_argument("--output", default=str(Path(tempfile.gettempdir()) / "probity-bench-overhead.json"))
    return parser.parse_args(argv)


def setup_for(target: Target, stack: EmbeddedStack, args: argparse.Namespace) -> Setup:
    assert target.contract and target.policy and target.principals
    policy = load_policy(target.resolve(target.policy))
    principals = load_principals(target.resolve(target.principals))
    documents = engine_run.Documents(load_contract(target.resolve(target.contract)), policy, principals)
    passes = _passes_of(default_passes(principals), args.role)
    assert stack.backend is not None
    plan = RunPlan(
        api_root=stack.backend.base_url,
        passes=passes,
        seed=args.seed,
        max_examples=args.max_examples,
        phases=tuple(args.phases.split(",")),
        read_only=False,
        never_send=never_sent(policy),
    )
    return Setup(documents, stack, passes, plan)


def _passes_of(passes: tuple[Pass, ...], roles: str) -> tuple[Pass, ...]:
    """The passes of *roles* ("all": every pass ``probity run`` makes, in its order)."""
    if roles == "all":
        return passes
    wanted = roles.split(",")
    chosen = tuple(p for p in passes if p.role in wanted)
    if len(chosen) != len(wanted):
        raise SystemExit(f"--role {roles}: the passes are {', '.join(p.role for p in passes)}")
    return chosen


def _alternate(setup: Setup, rounds: int, variants: list[str]) -> list[Timing]:
    runners: dict[str, Callable[[Setup, int], Timing]] = {"A": run_plain, "B": _traced, "C": _fenced}
    setup.stack.reset()
    run_plain(setup, 0)  # warm-up, not counted: imports, schema compilation, the backend's first requests
    timings = []
    for number in range(1, rounds + 1):
        for variant in variants:
            setup.stack.reset()  # every run starts from the seed, untimed
            timing = runners[variant](setup, number)
            seconds = f"pass {timing.pass_seconds:.2f}s, full {timing.full_seconds:.2f}s"
            print(f"round {number} {variant}: {seconds}, {timing.probed} probed", file=sys.stderr)
            timings.append(timing)
    return timings


def run_plain(setup: Setup, number: int) -> Timing:
    outcome, seconds, cpu = _run_passes(setup, setup.plan, None)
    return Timing("A", number, seconds, cpu, 0.0, outcome.scenarios, 0, _failing(outcome.results), 0)


def _traced(setup: Setup, number: int) -> Timing:
    return run_probity(setup, number, "B", Attribution.TRACEPARENT, setup.plan)


def _fenced(setup: Setup, number: int) -> Timing:
    plan = replace(setup.plan, workers=1)  # fences tie statements to one request at a time
    return run_probity(setup, number, "C", Attribution.FENCE, plan)


def run_probity(
    setup: Setup, number: int, variant: str, mode: Attribution, plan: RunPlan, spin: bool | None = None
) -> Timing:
    """One Probity pass (and what a run does after it) with the SQL view of *mode*; *spin*: whether the judging
    process busy-waits (``--judge-wait spin`` or ``sleep``; None: as ``auto`` decides)."""
    with ExitStack() as scope:
        started, cpu = time.perf_counter(), time.process_time()
        observer = _observer(setup, mode, scope, spin)
        starting, cpu = time.perf_counter() - started, time.process_time() - cpu
        outcome, passing, passing_cpu = _run_passes(setup, plan, observer)
        setup.stack.reset()  # as a run does before these checks, untimed as every reset here
        resumed = time.perf_counter()
        report = _after_pass(setup, observer)
        after = time.perf_counter() - resumed
    results = [*outcome.results, *report.results]
    inconclusive = sum(1 for r in results if r.outcome is Outcome.INCONCLUSIVE)
    failing = _failing(results)
    pass_seconds, cpu = starting + passing, cpu + passing_cpu
    return Timing(variant, number, pass_seconds, cpu, after, outcome.scenarios, observer.probed, failing, inconclusive)


def _observer(setup: Setup, mode: Attribution, scope: ExitStack, spin: bool | None = None) -> ObserverHooks:
    """The observer as ``probity run`` makes it: with traceparents, judging in a process of its own."""
    documents, redactor = setup.documents, _redactor(setup)

    def build(closing: ExitStack) -> Observer:
        view = embedded_view(setup.stack, mode, closing)
        return Observer(view, documents.policy, documents.principals, documents.contract, redactor)

    if mode is not Attribution.TRACEPARENT:
        return build(scope)
    if spin is None:  # as `probity run --judge-wait auto` decides
        return judged_aside(build, redactor, scope, spare_core(setup.plan.workers), watch=True)
    return judged_aside(build, redactor, scope, spin)


def _run_passes(setup: Setup, plan: RunPlan, observer: ObserverHooks | None) -> tuple[PassOutcome, float, float]:
    """Every pass of the setup in turn, as ``probity run`` runs them (one observer for all), the database reset
    to its seed before each one after the first (untimed); what they did, their wall and CPU seconds."""
    merged, seconds, cpu = PassOutcome(), 0.0, 0.0
    for number, run_pass in enumerate(setup.passes):
        if number:
            setup.stack.reset()
        started, cpu_started = time.perf_counter(), time.process_time()
        broker = TokenBroker(plan.api_root, setup.documents.principals)
        outcome = run_contract_pass(setup.documents.contract, plan, run_pass, broker, _redactor(setup), observer)
        seconds, cpu = seconds + time.perf_counter() - started, cpu + time.process_time() - cpu_started
        merged.results += outcome.results
        merged.scenarios += outcome.scenarios
    return merged, seconds, cpu


def _after_pass(setup: Setup, observer: ObserverHooks) -> engine_run.RunReport:
    """What ``probity run`` does after its passes, timed as it runs it (the run's own private steps: the
    benchmark measures exactly them), on a database reset to its seed as in a run."""
    report = engine_run.RunReport("bench", "bench", setup.plan.api_root, setup.plan.seed, False, "")
    report.passes = list(setup.passes)
    engine_run.http_checks(setup.documents, report, None)
    engine_run.oversized_pages(setup.documents, report, observer)
    report.results += fold(observer.results)
    return report


def _redactor(setup: Setup) -> Redactor:
    policy = setup.documents.policy
    return Redactor(policy.redact_headers, policy.phi.fields, policy.canary_values())


def _failing(results: list[Result]) -> tuple[str, ...]:
    return tuple(sorted({f"{r.rule} on {r.operation}" for r in results if r.outcome is Outcome.FAIL}))


# -- figures ---------------------------------------------------------------------------------------------------


def _summary(timings: list[Timing], args: argparse.Namespace) -> dict[str, Any]:
    medians: dict[str, dict[str, float]] = {}
    plain = {t.round: t for t in timings if t.variant == "A"}
    for variant in sorted({t.variant for t in timings}):
        mine = [t for t in timings if t.variant == variant]
        medians[variant] = {
            "pass": statistics.median(t.pass_seconds for t in mine),
            "full": statistics.median(t.full_seconds for t in mine),
            "pass_cpu": statistics.median(t.pass_cpu for t in mine),
            # Each run against the A of its own round: the machine's slower moments cancel out.
            "paired_pass_ratio": _paired(mine, plain, lambda t: t.pass_seconds),
            "paired_full_ratio": _paired(mine, plain, lambda t: t.full_seconds),
            "scenarios": statistics.median(t.scenarios for t in mine),
            "probed": statistics.median(t.probed for t in mine),
            "failing": max(len(t.failing) for t in mine),
            "inconclusive": max(t.inconclusive for t in mine),
        }
    budget = {"max_examples": args.max_examples, "phases": args.phases, "seed": args.seed, "role": args.role}
    return {"machine": machine(), "budget": budget, "medians": medians, "runs": [t.__dict__ for t in timings]}


def _paired(mine: list[Timing], plain: dict[int, Timing], seconds: Callable[[Timing], float]) -> float:
    ratios = [seconds(t) / plain[t.round].pass_seconds for t in mine if t.round in plain]
    return statistics.median(ratios) if ratios else 0.0


def _table(summary: dict[str, Any]) -> str:
    medians = summary["medians"]
    base = medians.get("A", {}).get("pass")
    header = "| variant | pass s | × A | paired × A | full s | × A | paired × A | CPU s | probed | failing | inconcl. |"
    lines = [header, "| --- " * 11 + "|"]
    for variant, m in medians.items():
        cells = [variant, f"{m['pass']:.1f}", _ratio(m["pass"], base), f"{m['paired_pass_ratio']:.2f}"]
        cells += [f"{m['full']:.1f}", _ratio(m["full"], base), f"{m['paired_full_ratio']:.2f}", f"{m['pass_cpu']:.1f}"]
        cells += [f"{m['probed']:.0f}", str(m["failing"]), str(m["inconclusive"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio(seconds: float, base: float | None) -> str:
    return f"{seconds / base:.2f}" if base else "-"


def machine() -> dict[str, Any]:
    """Where the figures come from: cores, CPU model, memory, Python, date."""
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="minutes"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
