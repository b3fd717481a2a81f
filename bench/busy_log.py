"""A busy statement log: Probity's overhead while other clients keep the same database busy.

Run it as ``.venv/bin/python bench/busy_log.py [--rounds 3] [--rate 2000] [--clients 4] [--variants …]`` (see
bench/README.md). On a staging server Probity's requests are not alone in the log: other clients run their own
statements, which the judging process reads, decodes and sets aside. This script runs ``overhead.py``'s passes
on one embedded clinic stack: A, plain schemathesis; B, Probity with traceparent attribution and
``--judge-wait auto``; S, the same asleep between messages (``sleep``); P, the same always busy-waiting
(``spin``). Each runs without other traffic (A0, B0, …) and with a load of ``--rate`` statements per second
from ``--clients`` other sessions (A1, B1, …), alternated round after round, the database reset to its seed
before every run (untimed). The load runs in a process of its own, as the backend's own role on the backend's
own database (the capture cannot set it aside by user or database), every other statement carrying a
traceparent of a service Probity never called. It reports the median pass times, each variant's ratio to A at
the same load (paired per round), the load's achieved rate, whether every Probity run concluded the same (the
same failing findings, nothing inconclusive: attribution stays exact in a busy log), and the CPU pressure during
each run (Linux's ``/proc/pressure/cpu``: the share of the time some runnable task waited for a CPU).
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import ROOT, Setup, Timing, machine, run_plain, run_probity, setup_for  # noqa: E402
from probity.core.target import load_target  # noqa: E402
from probity.core.trace import Attribution  # noqa: E402
from probity.engine.judge_process import cpu_stalled  # noqa: E402
from probity.runtime.stack import EmbeddedStack  # noqa: E402

__all__ = ["main"]

# A plain, B Probity (`--judge-wait auto`), S Probity asleep between messages (`sleep`), P Probity always
# busy-waiting (`spin`); 0 without the load, 1 with it. Each B, S or P needs the A at the same load.
VARIANTS = "A0,B0,S0,A1,B1,S1"
QUERY = "SELECT id FROM patients WHERE organization_id = %s ORDER BY id LIMIT 5"


def _load(url: str, rate: float, clients: int, stop: Any, done: Synchronized[int]) -> None:
    """Run QUERY at *rate* per second over *clients* sessions until *stop* is set; reconnect after a reset."""
    connections: list[psycopg.Connection[Any] | None] = [None] * clients
    started, sent = time.monotonic(), 0
    while not stop.is_set():
        ahead = started + sent / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        slot = sent % clients
        try:
            conn = connections[slot] = connections[slot] or psycopg.connect(url, autocommit=True)
            conn.execute(_statement(sent), [secrets.choice(_ORGS)])
        except psycopg.Error:  # the database is being reset: it comes back as a copy of its template
            connections[slot] = None
            time.sleep(0.05)
        sent += 1
        done.value = sent


_ORGS = ("5cadbce9-673f-5b44-8793-4fadbbcf5307", "977c7ddb-9e5f-592f-9539-b635c074e545")


def _statement(number: int) -> str:
    if number % 2:
        return QUERY  # a client without tracing
    return f"{QUERY} /*traceparent='00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01'*/"


@contextmanager
def load(url: str, rate: float, clients: int) -> Iterator[Callable[[], int]]:
    """Other clients' traffic while the block runs; yields how many statements they have sent so far."""
    if rate <= 0:
        yield lambda: 0
        return
    context = multiprocessing.get_context("spawn")  # nothing of this process's state in the load's
    stop, done = context.Event(), context.Value("q", 0)
    process = context.Process(target=_load, args=(url, rate, clients, stop, done), daemon=True)
    process.start()
    time.sleep(1.0)  # connected and at its pace before the run starts
    try:
        yield lambda: int(done.value)
    finally:
        stop.set()
        process.join(10)


def _run(setup: Setup, variant: str, number: int) -> Timing:
    if variant.startswith("A"):
        return run_plain(setup, number)
    spin = {"S": False, "P": True}.get(variant[0])  # B: as `auto` decides
    return run_probity(setup, number, variant, Attribution.TRACEPARENT, setup.plan, spin)


Run = tuple[str, Timing, float, float]  # the variant, its timing, the load's achieved rate, the CPU pressure


def _stalled() -> float:
    """Seconds some runnable task has waited for a CPU since boot (0 where the kernel does not tell)."""
    return cpu_stalled() or 0.0


def _alternate(setup: Setup, args: argparse.Namespace) -> list[Run]:
    url = setup.stack.database.app_url if setup.stack.database else ""
    setup.stack.reset()
    run_plain(setup, 0)  # warm-up, not counted
    found: list[Run] = []
    for number in range(1, args.rounds + 1):
        for variant in args.variants.split(","):
            setup.stack.reset()
            with load(url, args.rate if variant.endswith("1") else 0, args.clients) as sent:
                before, stalled, started = sent(), _stalled(), time.perf_counter()
                timing = _run(setup, variant, number)
                elapsed = time.perf_counter() - started
                rate, pressure = (sent() - before) / elapsed, (_stalled() - stalled) / elapsed
            seconds = f"pass {timing.pass_seconds:.2f}s, load {rate:,.0f}/s, CPU pressure {pressure:.0%}"
            print(f"round {number} {variant}: {seconds}", file=sys.stderr)
            found.append((variant, timing, rate, pressure))
    return found


def report(found: list[Run], args: argparse.Namespace) -> None:
    print(f"machine: {machine()}; {args.rounds} rounds, {args.rate:,.0f} statements/s asked of the load")
    print("| variant | other clients' statements/s | pass s | × A at the same load | paired | CPU pressure | probed "
          "| failing | inconclusive |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for variant in args.variants.split(","):
        mine = [run for run in found if run[0] == variant]
        plain = {run[1].round: run[1] for run in found if run[0] == "A" + variant[1]}  # at the same load
        seconds = statistics.median(run[1].pass_seconds for run in mine)
        base = statistics.median(timing.pass_seconds for timing in plain.values())
        paired = statistics.median(run[1].pass_seconds / plain[run[1].round].pass_seconds for run in mine)
        rate, pressure = statistics.median(run[2] for run in mine), statistics.median(run[3] for run in mine)
        probed = statistics.median(run[1].probed for run in mine)
        failing = sorted({len(run[1].failing) for run in mine})
        inconclusive = sorted({run[1].inconclusive for run in mine})
        print(f"| {variant} | {rate:,.0f} | {seconds:.1f} | {seconds / base:.2f} | {paired:.2f} | {pressure:.0%} "
              f"| {probed:.0f} | {failing} | {inconclusive} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default=str(ROOT / "contracts/clinic/target.yaml"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=2000.0, help="other clients' statements per second")
    parser.add_argument("--clients", type=int, default=4, help="their sessions")
    parser.add_argument("--variants", default=VARIANTS, help="comma list of A0, B0, S0, P0, A1, B1, S1, P1")
    parser.add_argument("--max-examples", type=int, default=3)
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--role", default="ADMIN")
    args = parser.parse_args(argv)
    target = load_target(Path(args.target).resolve())
    with EmbeddedStack(target, Path(tempfile.mkdtemp(prefix="probity-bench-busy-")), sqlcommenter=True) as stack:
        report(_alternate(setup_for(target, stack, args), args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
