"""Judge in a process of its own: reading the statement log, attribution and probes away from the requests.

Why: schemathesis sends one request, waits for the backend, then makes the next case, so a run keeps about
one core busy. Judging on a thread of the same process takes that process's GIL from the loop that makes and
sends the cases, and the run gets slower by nearly all the judging's CPU time; in a process of its own the
judging runs on a core that would otherwise wait. Only with traceparent attribution: fences need each request
judged before the next one is sent.

The sending side (:class:`ProcessObserver`) keeps the observer's API and posts every exchange to the judging
process, which runs an ordinary :class:`~probity.engine.observer.Observer` built there (its own log reader,
marker and read-back connections: nothing of the sender's is shared). Messages go through a pipe, synchronously:
a request's "begin" is in the pipe before the request is sent. The judging process reads the pipe and the log
on one thread, so when it finds the pipe empty it has heard of every request sent so far: the log's position
then is a point nothing of a request still to come is older than
(:meth:`~probity.capture.collector.Collector.hold`), which keeps attribution exact. The pipe's buffers are
widened so the sender rarely waits for a judge busy with a batch. One thread and few wake-ups matter: on a
small machine a helper process that keeps waking up slows the request loop even when it uses little CPU.

So, when the machine has a core to spare for it (:func:`spare_core`), the judging process does not sleep while
requests flow: it busy-waits for the next message (up to :data:`SPIN_SECONDS`, then it blocks) and through
the collector's settle pause and log polls. A process that never sleeps does not slow the request loop, one
that sleeps and wakes every few milliseconds does (bench/README.md: 1.22x -> 1.08x against plain schemathesis
on 2 cores); it costs a core's CPU while a pass runs. Under ``auto`` it also looks at whether other work waits
for a CPU, and sleeps while it does (:class:`WaitMode`): a spinning process would take that CPU from it.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from probity.capture.traceparent import new_traceparent
from probity.core.errors import HarnessError
from probity.core.findings import Result
from probity.core.redact import Redactor
from probity.core.trace import Exchange
from probity.engine.observer import About, Observer, ObserverHooks

__all__ = [
    "BUSY_PRESSURE",
    "CAN_FORK",
    "CPU_PRESSURE",
    "GC_THRESHOLDS",
    "JUDGE_WAITS",
    "SPIN_SECONDS",
    "ProcessObserver",
    "WaitMode",
    "cpu_quota",
    "cpu_stalled",
    "judged_aside",
    "judging_gc",
    "spare_core",
    "spins",
]

# Where processes cannot be forked (Windows), judging stays in the sending process, on a thread.
CAN_FORK = "fork" in multiprocessing.get_all_start_methods()
Build = Callable[[ExitStack], Observer]  # makes the observer, in the judging process, closing what it opens
STOP_TIMEOUT = 10.0  # seconds the judging process has to close its connections before it is killed
# Smaller batches than in-process: a sync marker costs the sender nothing here, and a request that must wait
# for every earlier one to be judged (a barrier, see observer.BARRIER_METHODS) then waits for fewer.
JUDGE_BATCH = 4
PIPE_BUFFER = 4 << 20  # bytes asked for each way (the kernel caps it at net.core.[rw]mem_max)
# Judging makes many short-lived objects per statement and keeps bounded caches of parsed facts and their plans:
# with CPython's default thresholds (700, 10, 10) the collector walks those caches again and again, about a tenth
# of the trace pipeline's CPU (bench/README.md). Rarer collections; cycles are still freed, memory stays flat.
GC_THRESHOLDS = (20_000, 50, 100)
# How long the judging process busy-waits for the next message before it blocks: far longer than the gap
# between two requests of a pass, far shorter than a pause between passes (a database reset).
SPIN_SECONDS = 0.05
# How the judging process waits for requests (``probity run --judge-wait``): busy, asleep, or busy when it may.
JUDGE_WAITS = ("auto", "spin", "sleep")
CGROUP_ROOT = Path("/sys/fs/cgroup")  # where a container sees its own control group's CPU quota
# Busy-waiting helps only while a CPU would otherwise idle. Where other work keeps the CPUs busy (a runner shared
# with other jobs, a database on the same machine), the spinning process takes a CPU the others then wait for:
# with 2,000 statements/s of other clients on a 2-CPU machine, 1.21-1.32x against 1.08-1.17x asleep
# (bench/README.md, busy_log.py). So under `auto` the judging process looks, asleep, at how long runnable tasks
# waited for a CPU (Linux's pressure stall information: its control group's, else the machine's) and spins only
# while that stays under BUSY_PRESSURE; while it spins, it looks again every LOOK_EVERY seconds.
CPU_PRESSURE = (CGROUP_ROOT / "cpu.pressure", Path("/proc/pressure/cpu"))
BUSY_PRESSURE = 0.2  # share of the time some runnable task waited for a CPU: asleep, 11% unloaded, 40% loaded
LOOK_SECONDS = 1.0  # how long one look lasts
LOOK_EVERY = 10.0  # seconds of spinning between two looks


def spare_core(workers: int) -> bool:
    """Whether this process may use a whole CPU more than *workers* request loops keep busy, so the judging
    process can busy-wait: the CPUs it may run on, fewer if its control group's CPU quota allows fewer (a
    container limited to one CPU on a large host must not spin one away).

    >>> spare_core(10_000)
    False
    """
    usable: float = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cpu_quota()
    if quota is not None:
        usable = min(usable, quota)
    return usable >= workers + 1


def cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """The CPUs this process's control group may use (its CFS quota over its period), None when unlimited or
    unknown; *root* is where cgroup v2 (``cpu.max``) or v1 (``cpu/cpu.cfs_quota_us``) shows them.

    >>> cpu_quota(Path("/nonexistent")) is None
    True
    """
    v2 = _read_words(root / "cpu.max")
    if v2 is not None:
        return _ratio(v2[0], v2[1] if len(v2) > 1 else "100000")
    quota, period = _read_words(root / "cpu" / "cpu.cfs_quota_us"), _read_words(root / "cpu" / "cpu.cfs_period_us")
    return _ratio(quota[0], period[0]) if quota and period else None


def _read_words(path: Path) -> list[str] | None:
    try:
        return path.read_text(encoding="ascii").split() or None
    except (OSError, UnicodeDecodeError):
        return None


def _ratio(quota: str, period: str) -> float | None:
    """*quota* over *period* in CPUs; None for "max" or -1 (no limit) and anything unreadable."""
    try:
        value, every = int(quota), int(period)
    except ValueError:
        return None  # "max": unlimited
    return value / every if value > 0 and every > 0 else None


def spins(wait: str, workers: int) -> bool:
    """Whether the judging process busy-waits, as *wait* (one of :data:`JUDGE_WAITS`) asks, for *workers*.

    >>> spins("spin", 10_000), spins("sleep", 1), spins("auto", 10_000)
    (True, False, False)
    """
    if wait not in JUDGE_WAITS:
        raise ValueError(f"the judging process waits by one of {', '.join(JUDGE_WAITS)}, not {wait!r}")
    return spare_core(workers) if wait == "auto" else wait == "spin"


def cpu_stalled(paths: tuple[Path, ...] = CPU_PRESSURE) -> float | None:
    """Seconds some runnable task has waited for a CPU (``some … total=`` of the first of *paths* that tells),
    None where the kernel does not tell.

    >>> cpu_stalled((Path("/nonexistent"),)) is None
    True
    """
    for path in paths:
        words = _read_words(path)
        if words and words[0] == "some":
            totals = [word.removeprefix("total=") for word in words if word.startswith("total=")]
            if totals and totals[0].isdigit():
                return int(totals[0]) / 1e6
    return None


class WaitMode:
    """Whether the judging process busy-waits now: when *spin* allows it and, with *watch* (``auto``), while
    runnable tasks wait for a CPU less than :data:`BUSY_PRESSURE` of the time (see :data:`CPU_PRESSURE`).

    >>> WaitMode(spin=True).now(), WaitMode(spin=False, watch=True).now()
    (True, False)
    """

    def __init__(
        self,
        spin: bool,
        watch: bool = False,
        stalled: Callable[[], float | None] = cpu_stalled,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spin, self.watch = spin, watch
        self._stalled, self._clock = stalled, clock
        self.spinning = spin and not watch  # a watching mode starts asleep, looking
        self._until: float | None = None  # when the current look (or spell of spinning) ends
        self._look_from = (0.0, 0.0)  # when the current look began, and the stall counter then

    def now(self) -> bool:
        """Whether to busy-wait now."""
        if not (self.spin and self.watch):
            return self.spinning
        at = self._clock()
        if self._until is None or at >= self._until:
            self._next(at)
        return self.spinning

    def _next(self, at: float) -> None:
        if self._until is not None and not self.spinning and not self._busy(at):  # a look saw CPUs to spare
            self.spinning, self._until = True, at + LOOK_EVERY
        else:  # the first look, a spell of spinning over, or a look that saw others wait: look (on), asleep
            self._look(at)

    def _busy(self, at: float) -> bool:
        """Whether runnable tasks waited for a CPU :data:`BUSY_PRESSURE` of the look's time or more."""
        since, stalled = self._look_from
        now = self._stalled()
        return now is not None and (now - stalled) / max(at - since, 1e-9) >= BUSY_PRESSURE

    def _look(self, at: float) -> None:
        stalled = self._stalled()
        if stalled is None:  # the kernel does not tell: spin, as without watching
            self.spinning, self._until = True, float("inf")
            return
        self.spinning, self._until, self._look_from = False, at + LOOK_SECONDS, (at, stalled)


def judging_gc() -> None:
    """Set the garbage collector as a judging process does (also what bench/trace_throughput.py measures):
    what the process holds now (inherited from the sender at the fork) is left out of every collection."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def judged_aside(
    build: Build, redactor: Redactor, scope: ExitStack, spin: bool = False, watch: bool = False
) -> ProcessObserver:
    """A :class:`ProcessObserver` whose judging process *build* s its observer; stopped with *scope*. With
    *spin*, the judging process busy-waits while requests flow (see the module's doc); with *watch* too, only while
    other work does not wait for a CPU (:class:`WaitMode`)."""
    observer = ProcessObserver.start(build, redactor, WaitMode(spin, watch))
    scope.callback(observer.stop)
    return observer


@dataclass
class ProcessObserver(ObserverHooks):
    """The observer's API on the sending side; the judging happens in a child process."""

    redactor: Redactor
    process: multiprocessing.process.BaseProcess
    connection: Connection
    results: list[Result] = field(default_factory=list)
    probed: int = 0
    _open: dict[int, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _secrets: list[str] = field(default_factory=list)  # the redactor's secrets the judge was told of
    # Finished exchanges not posted yet: they go with the next message (usually the next request's begin), so
    # the judge wakes up once per request, not twice.
    _outbox: list[tuple[Any, ...]] = field(default_factory=list)
    _pipe: threading.RLock = field(default_factory=threading.RLock)  # one writer (and one flush) at a time

    @classmethod
    def start(cls, build: Build, redactor: Redactor, wait: WaitMode | None = None) -> ProcessObserver:
        # fork: the judge starts at once with everything loaded, and *build* need not be picklable
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        arguments = (build, theirs, ours, wait or WaitMode(False))
        process = context.Process(target=_serve, args=arguments, name="probity-judge", daemon=True)
        process.start()
        theirs.close()
        _widen(ours)
        observer = cls(redactor, process, ours, _secrets=list(redactor.secrets))
        try:
            observer._answer("ready")
        except BaseException:
            observer.stop()
            raise
        return observer

    def begin(self, exchange_id: str) -> str:
        traceparent = new_traceparent()
        self._post(("begin", exchange_id, traceparent))  # before the request is sent: see the module's doc
        return traceparent

    def finished(self, exchange_id: str, exchange: Exchange, about: About) -> None:
        with self._pipe:
            self._outbox.append(("finish", exchange_id, exchange, about))

    def conclude(self, exchange_id: str, exchange: Exchange, about: About) -> None:
        self.finished(exchange_id, exchange, about)
        self.flush()  # judges it with whatever else waits, in one write and one sync marker

    def flush(self) -> None:
        with self._pipe:
            self._post(("flush",))
            results, probed, failure = self._answer("flushed")
        self.results.extend(results)
        self.probed = probed
        if failure is not None:
            raise failure

    def stop(self) -> None:
        """End the judging process (what it judged was fetched by the last flush)."""
        if self.process.is_alive():
            with suppress(OSError):
                self.connection.send([("stop",)])
            self.process.join(STOP_TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()

    def _post(self, message: tuple[Any, ...]) -> None:
        """Send *message* after what waits in the outbox, in one write."""
        with self._pipe:
            messages, self._outbox = [*self._outbox, message], []
            if self.redactor.secrets != self._secrets:  # a token fetched meanwhile: the judge masks it too
                self._secrets = list(self.redactor.secrets)
                messages.insert(0, ("secrets", self._secrets))
            try:
                self.connection.send(messages)
            except OSError as exc:
                raise self._ended() from exc

    def _answer(self, kind: str) -> tuple[Any, ...]:
        """The judge's next answer, which must be *kind*, without its kind."""
        try:
            answer: tuple[Any, ...] = self.connection.recv()
        except (EOFError, OSError) as exc:
            raise self._ended() from exc
        if answer[0] == "failed":  # it could not start
            raise answer[1]
        assert answer[0] == kind, f"expected {kind!r}, the judging process answered {answer[0]!r}"
        return answer[1:]

    def _ended(self) -> HarnessError:
        self.process.join(1.0)
        code = self.process.exitcode
        return HarnessError(
            f"Probity's judging process ended unexpectedly (exit code {code}); "
            f"the {len(self.results)} results judged before are kept, the requests since are not judged"
        )


# -- the judging process ----------------------------------------------------------------------------------------


def _serve(build: Build, connection: Connection, senders_end: Connection, wait: WaitMode) -> None:
    """The judging process: build the observer, then judge what the pipe brings until told to stop."""
    senders_end.close()  # our copy of it: else the pipe would outlive the sender, and we would wait forever
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sender's to handle; it stops us
    judging_gc()
    with ExitStack() as scope:
        try:
            observer = build(scope)
        except BaseException as exc:
            connection.send(("failed", _portable(exc)))
            return
        _widen(connection)
        _Judge(observer, connection, wait).serve()


def _widen(connection: Connection) -> None:
    """Let the pipe hold many exchanges: the sender writes on while the judge is busy with a batch."""
    with socket.fromfd(connection.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as end:
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            end.setsockopt(socket.SOL_SOCKET, option, PIPE_BUFFER)


class _Judge:
    """Takes the sender's messages in order and judges full batches, all on one thread: no log read can come
    between "the pipe is empty" and the hold taken then."""

    def __init__(self, observer: Observer, connection: Connection, wait: WaitMode) -> None:
        self.observer = observer
        self.collector = observer.view.collector
        observer.batch = sys.maxsize  # no judging thread of its own: batches are judged here, in order
        self.wait = wait
        self.collector.spin = self.spin = wait.spinning
        self.connection = connection
        self.reported = 0  # results already sent back
        self.failure: BaseException | None = None  # what stopped a step, raised on the sending side

    def serve(self) -> None:
        # No request has been sent yet (the sender waits for "ready"): nothing of one is older than this. Without
        # it, while the pipe never empties (a sender ahead of us), a request whose statements were read before
        # its begin came would start after them and be missed.
        self.collector.hold(self.collector.position)
        self.connection.send(("ready",))
        while ("stop",) not in (messages := self._next()):
            for message in messages:
                self._handle(message)
            if self.collector.waiting >= JUDGE_BATCH:
                self._judge(reply=False)

    def _next(self) -> list[tuple[Any, ...]]:
        try:
            if not self.connection.poll(0):
                # Every request sent so far is known here: nothing of one still to come is older than this.
                self.collector.hold(self.collector.position)
                self._await_message()
            messages: list[tuple[Any, ...]] = self.connection.recv()
        except (EOFError, OSError):  # the sender is gone
            return [("stop",)]
        # asked once messages came: the first look then sees requests flow, not the sender starting up
        self.collector.spin = self.spin = self.wait.now()
        return messages

    def _await_message(self) -> None:
        """With *spin*, busy-wait a while for the next message (``recv`` then blocks for the rest)."""
        until = time.monotonic() + SPIN_SECONDS if self.spin else 0.0
        while time.monotonic() < until and not self.connection.poll(0):
            pass

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "begin":
            self.observer.begin(message[1], message[2])
        elif kind == "finish":
            self.observer.finished(message[1], message[2], message[3])
        elif kind == "secrets":
            for secret in message[1]:
                self.observer.redactor.add_secret(secret)
        elif kind == "flush":
            self._judge(reply=True)

    def _judge(self, reply: bool) -> None:
        try:
            self.observer.flush()
        except Exception as exc:  # raised on the sending side at its next flush, as a judging thread's would be
            self.failure = _portable(exc)
        if reply:
            failure, self.failure = self.failure, None
            results = self.observer.results[self.reported :]
            self.reported = len(self.observer.results)
            self.connection.send(("flushed", results, self.observer.probed, failure))


def _portable(exc: BaseException) -> BaseException:
    """*exc* if it crosses the pipe intact, else a HarnessError with its message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return HarnessError(f"{type(exc).__name__}: {exc}")
    return exc
