"""Trace-pipeline throughput: statements per second from the JSON statement log to findings, on one core.

Run it as ``.venv/bin/python bench/trace_throughput.py [--statements N]`` (see bench/README.md). It measures,
side by side in one run and pinned to one CPU:

(a) raw sqlglot: ``sqlglot.parse_one(sql, read="postgres")`` over a sample of the log's statement texts;
(b) Probity's pipeline: log line → decoded record → statement → traceparent attribution → facts → every
    probe → folded findings, as the engine runs it (a :class:`~probity.capture.collector.Collector` and an
    :class:`~probity.engine.observer.Observer` on the clinic's policy, principals, contract and DDL catalog);
(c) memory: the process's resident set sampled every 100,000 statements of (b), and its peak;
(d) the two halves of (b), timed apart wave by wave: the capture (log lines → attributed traces) and the
    judging (traces → folded findings). Each sets a ceiling: the whole is never faster than either alone.

The log is synthesized by ``bench/trace_mix.py`` from a real clinic run's log (captured once with
``probity run`` on the embedded clinic unless ``--log`` names one) and cached in the work folder.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import sqlglot
from sqlglot.errors import SqlglotError

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probity.capture.collector import Collector  # noqa: E402
from probity.capture.records import LogLine, StatementParser, decode_block, parse_lines  # noqa: E402
from probity.contracts.load import load_contract  # noqa: E402
from probity.core.findings import Outcome, Result  # noqa: E402
from probity.core.policy import load_policy  # noqa: E402
from probity.core.principals import load_principals  # noqa: E402
from probity.core.redact import Redactor  # noqa: E402
from probity.core.target import load_target  # noqa: E402
from probity.core.trace import Attribution, Exchange, RequestTrace  # noqa: E402
from probity.engine.judge_process import judging_gc  # noqa: E402
from probity.engine.observer import Observer, SqlView  # noqa: E402
from probity.sql import cache_info, catalog_from_ddl, clear_cache  # noqa: E402
from trace_mix import ROOT  # noqa: E402

__all__ = ["main"]

SAMPLE_EVERY = 100_000
STAGE_LINES = 125_000  # about 50,000 statements: the decoding stages are timed over a prefix held in memory
_RANK = {Outcome.PASS: 0, Outcome.INCONCLUSIVE: 1, Outcome.NOT_APPLICABLE: 2}  # observer.fold's preference


# -- inputs ----------------------------------------------------------------------------------------------------


def _documents(target_file: Path) -> dict[str, Any]:
    target = load_target(target_file)
    assert target.policy and target.principals and target.contract and target.database
    policy = load_policy(target.resolve(target.policy))
    return {
        "policy": policy,
        "principals": load_principals(target.resolve(target.principals)),
        "contract": load_contract(target.resolve(target.contract)),
        "catalog": catalog_from_ddl(target.resolve(target.database.ddl).read_text(encoding="utf-8")),
        "redactor": Redactor(policy.redact_headers, policy.phi.fields, policy.canary_values()),
    }


def _mix_log(args: argparse.Namespace) -> Path:
    """The synthesized log, written by bench/trace_mix.py in a process of its own the first time."""
    if args.mix:
        return Path(args.mix)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    real = Path(args.log) if args.log else work / "clinic-run.json"
    size = real.stat().st_size if real.exists() else 0
    out = work / f"mix-{args.statements}-s{args.seed}-i{int(args.inline * 100)}-{size}.json"
    if size and out.exists():
        return out
    script = Path(__file__).with_name("trace_mix.py")
    options = {"--log": real, "--out": out, "--statements": args.statements, "--seed": args.seed}
    options["--inline"] = args.inline
    command = [sys.executable, str(script), *(str(part) for pair in options.items() for part in pair)]
    subprocess.run(command, check=True)
    return out if size else _mix_log(args)  # named after the log captured just now


# -- (a) raw sqlglot -------------------------------------------------------------------------------------------


def raw_parse_rate(log: Path, sample: int) -> tuple[float, int]:
    """Statements/s of ``sqlglot.parse_one`` over the first *sample* statement texts of the log (CPU time)."""
    with log.open("rb") as handle:
        texts = [s.text for s in parse_lines(islice(handle, sample * 4))][:sample]
    best = float("inf")
    for _ in range(3):  # the best of three: a short measure, and the one most favourable to sqlglot
        started = time.process_time()
        for text in texts:
            with suppress(SqlglotError):
                sqlglot.parse_one(text, read="postgres")
        best = min(best, time.process_time() - started)
    return len(texts) / best, len(texts)


# -- (b) the pipeline ------------------------------------------------------------------------------------------


class PacedSource:
    """A finished log file handed out one wave at a time, as a live log grows (a ``LogSource``)."""

    def __init__(self, path: Path) -> None:
        self._file: BinaryIO = path.open("rb")
        self._line = 0
        self._due = 0

    def release(self, lines: int) -> None:
        self._due += lines

    def read_new(self) -> list[LogLine]:
        block = b"".join(islice(self._file, self._due - self._line))
        lines = decode_block(block.rstrip(b"\n"), self._line)[0]  # [0]: the lines, in every version's result
        self._line = self._due
        return lines

    def close(self) -> None:
        self._file.close()


@dataclass
class Findings:
    """Results folded as they come (as ``observer.fold`` folds them at the end): per operation and check,
    every distinct failure, else the most telling outcome and how many requests it stands for."""

    failures: dict[str, Result] = field(default_factory=dict)
    best: dict[tuple[str, str], Result] = field(default_factory=dict)
    counts: dict[tuple[str, str, Outcome], int] = field(default_factory=dict)
    seen: int = 0
    digest: Any = None  # with --digest: a sha256 over every result in order, to compare verdicts across versions

    def add(self, result: Result) -> None:
        self.seen += 1
        if self.digest is not None:
            fields = (result.key, result.outcome.value, result.operation, result.message, result.evidence)
            self.digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
        group = (result.operation, result.check)
        if result.outcome is Outcome.FAIL:
            self.failures.setdefault(result.key, result)
            return
        key = (*group, result.outcome)
        self.counts[key] = self.counts.get(key, 0) + 1
        best = self.best.get(group)
        if best is None or _RANK[result.outcome] < _RANK[best.outcome]:
            self.best[group] = result

    @property
    def folded(self) -> int:
        failed = {(r.operation, r.check) for r in self.failures.values()}
        return len(self.failures) + sum(1 for group in self.best if group not in failed)


@dataclass
class PipelineRun:
    statements: int = 0
    requests: int = 0
    seconds: float = 0.0
    capturing: float = 0.0  # the part of seconds spent in the capture half
    judging: float = 0.0  # and in the judging half
    rss: list[tuple[int, int]] = field(default_factory=list)  # (statements, resident kB)
    findings: Findings = field(default_factory=Findings)
    buffered: int = 0
    peak_kb: int = 0


def run_pipeline(log: Path, documents: dict[str, Any], waves: int | None = None, digest: bool = False) -> PipelineRun:
    """Replay the log wave by wave through the collector and every probe; time it and sample memory."""
    source, collector, observer = _pipeline(log, documents)
    run = PipelineRun(rss=[(0, _resident_kb())])
    run.findings.digest = hashlib.sha256() if digest else None
    next_sample = SAMPLE_EVERY
    started = time.process_time()
    for wave in islice(_manifest(log), waves):
        _replay(wave, source, collector, observer, run)
        if run.statements >= next_sample:
            run.rss.append((run.statements, _resident_kb()))
            next_sample += SAMPLE_EVERY
    run.seconds = time.process_time() - started
    run.buffered = collector.buffered
    run.peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    source.close()
    return run


def _pipeline(log: Path, documents: dict[str, Any]) -> tuple[PacedSource, Collector, Observer]:
    source = PacedSource(log)
    collector = Collector(source, Attribution.TRACEPARENT, settle=0.0)
    view = SqlView(collector, documents["catalog"])
    observer = Observer(view, documents["policy"], documents["principals"], documents["contract"],
                        documents["redactor"])  # fmt: skip
    return source, collector, observer


def _manifest(log: Path) -> Iterator[dict[str, Any]]:
    with log.with_suffix(".manifest").open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def _replay(wave: dict[str, Any], source: PacedSource, collector: Collector, observer: Observer,
            run: PipelineRun) -> None:  # fmt: skip
    started = time.process_time()
    captured = _captured(wave, source, collector)
    judging = time.process_time()
    for trace, request in captured:
        _judged(trace, request, observer, run.findings)
    run.capturing += judging - started
    run.judging += time.process_time() - judging
    run.statements += wave["statements"]
    run.requests += len(wave["requests"])


def _captured(wave: dict[str, Any], source: PacedSource, collector: Collector) -> list[tuple[RequestTrace, Any]]:
    """The capture half: the wave's requests begun, its log lines read, each request's trace tied to it."""
    ids = [uuid.uuid4().hex for _ in wave["requests"]]
    for exchange_id in ids:
        collector.begin(exchange_id)
    source.release(wave["lines"])
    return [(collector.end(exchange_id, _exchange(request)), request)
            for exchange_id, request in zip(ids, wave["requests"], strict=True)]  # fmt: skip


def _judged(trace: RequestTrace, request: dict[str, Any], observer: Observer, findings: Findings) -> None:
    """The judging half: every probe on one trace, its results folded."""
    for result in observer.judge(trace, trace.exchange.operation, request["principal"], tuple(request["inputs"])):
        findings.add(result)


def _exchange(request: dict[str, Any]) -> Exchange:
    method, path = request["label"].split(" ", 1)
    return Exchange(
        method=method,
        url=f"http://127.0.0.1:8000/api/v1{path}",
        operation=request["label"],
        status=request["status"],
        response_headers={"content-type": "application/json"},
        response_body=request["body"].encode(),
        principal=request["principal"],
        traceparent=request["traceparent"],
    )


def _resident_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# -- stages ----------------------------------------------------------------------------------------------------


def stage_rates(log: Path, lines: int) -> dict[str, float]:
    """Records/s of decoding alone and of decoding plus statement assembly, over the first *lines* lines."""
    with log.open("rb") as handle:
        block = b"".join(islice(handle, lines)).rstrip(b"\n")
    started = time.process_time()
    decoded = decode_block(block, 0)[0]
    decoding = time.process_time() - started
    parser = StatementParser()
    started = time.process_time()
    statements = parser.feed_all(decoded)
    assembling = time.process_time() - started
    return {
        "statements": len(statements),
        "decode": len(statements) / decoding,
        "decode+assemble": len(statements) / (decoding + assembling),
    }


# -- report ----------------------------------------------------------------------------------------------------


def _machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "unknown CPU",
    )  # fmt: skip
    pinned = sorted(os.sched_getaffinity(0))
    return f"{os.cpu_count()} CPUs ({model}), pinned to CPU {pinned}, Python {sys.version.split()[0]}"


def report(raw: tuple[float, int], stages: dict[str, float], run: PipelineRun) -> None:
    rate = run.statements / run.seconds
    info = cache_info()
    print(f"\nmachine: {_machine()}")
    print(f"{'measure':<52}{'statements/s':>14}{'× raw parse':>13}")
    rows = [
        (f"(a) sqlglot.parse_one, {raw[1]:,} statements", raw[0]),
        (f"decode jsonlog only, {stages['statements']:,.0f} statements", stages["decode"]),
        ("decode + statement assembly", stages["decode+assemble"]),
        (f"(b) full pipeline, {run.statements:,} statements", rate),
    ]
    for name, value in rows:
        print(f"{name:<52}{value:>14,.0f}{value / raw[0]:>12.1f}×")
    print(f"\n{'(d) the halves of (b)':<52}{'statements/s':>14}{'µs/statement':>14}")
    for half, seconds in (("capture: log lines → attributed traces", run.capturing),
                          ("judging: traces → folded findings", run.judging)):  # fmt: skip
        print(f"{half:<52}{run.statements / seconds:>14,.0f}{seconds * 1e6 / run.statements:>14.1f}")
    findings = run.findings
    print(f"\nrequests {run.requests:,} ({run.requests / run.seconds:,.0f}/s), {run.seconds:.1f} CPU s")
    failing = len(findings.failures)
    print(f"results {findings.seen:,}, folded findings {findings.folded:,} ({failing} failing)")
    if findings.digest is not None:
        print(f"results digest {findings.digest.hexdigest()}")
    print(f"collector holds {run.buffered} statements at the end")
    print(f"facts cache: {info.hits:,} hits ({info.hit_rate:.1%}), {info.misses:,} misses")
    print(f"  of the misses, {info.shaped:,} filled in from a shape's template; size {info.size:,}")
    print("\n(c) resident memory")
    print(f"{'statements':>12}{'RSS MiB':>10}")
    for statements, kb in run.rss:
        print(f"{statements:>12,}{kb / 1024:>10.1f}")
    print(f"peak RSS of the pipeline {run.peak_kb / 1024:.1f} MiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=1_000_000, help="statements in the synthesized log")
    parser.add_argument("--log", help="a real clinic jsonlog to derive the mix from (default: capture one)")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "probity-bench-trace"))
    parser.add_argument("--mix", help="an already synthesized mix log (its .manifest beside it) to replay as is")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--inline", type=float, default=0.2, help="share of requests with inlined literals")
    parser.add_argument("--sample", type=int, default=3000, help="statements parsed by raw sqlglot")
    parser.add_argument("--profile", type=int, metavar="WAVES", help="profile the first WAVES waves instead")
    parser.add_argument("--digest", action="store_true", help="print a digest of every result (slower)")
    parser.add_argument("--sort", default="tottime", help="the profile's order (tottime, cumulative, …)")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    judging_gc()  # the garbage collector as in a run's judging process, for every measure alike
    log = _mix_log(args)
    documents = _documents(ROOT / "contracts/clinic/target.yaml")
    clear_cache()
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_pipeline, log, documents, args.profile)
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(30)
        return 0
    run = run_pipeline(log, documents, digest=args.digest)  # first: its memory figures are the pipeline's alone
    raw = raw_parse_rate(log, args.sample)
    stages = stage_rates(log, STAGE_LINES)
    report(raw, stages, run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
