"""The judging process: exchanges posted from the sending side are judged in a forked process that follows the
statement log itself; results, redaction of secrets learnt later, and a judge that dies or cannot start."""

from __future__ import annotations

import doctest
import json
import multiprocessing
import os
import signal
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from probity.capture.collector import Collector
from probity.capture.follow import LogFollower
from probity.contracts.load import load_contract
from probity.core.errors import HarnessError
from probity.core.findings import Outcome
from probity.core.policy import load_policy
from probity.core.principals import load_principals
from probity.core.redact import Redactor
from probity.core.trace import Attribution, Exchange
from probity.engine import judge_process
from probity.engine.judge_process import (
    BUSY_PRESSURE,
    LOOK_EVERY,
    LOOK_SECONDS,
    ProcessObserver,
    WaitMode,
    cpu_quota,
    cpu_stalled,
    judged_aside,
    spins,
)
from probity.engine.observer import Observer, SqlView
from probity.sql import catalog_from_ddl

CLINIC = Path(__file__).resolve().parents[3] / "contracts" / "clinic"
DDL = Path(__file__).resolve().parents[3] / "fixtures" / "clinic" / "schema.sql"
LEAKED = "tok_live_9f8e7d6c5b4a"  # a token the sending side learns after the judge started
LABEL = "GET /patients"
LARGE = json.dumps([{"id": n, "note": "x" * 90} for n in range(400)]).encode()  # over one pipe write


class JsonLog:
    """A jsonlog file the test writes as PostgreSQL would; the judging process follows it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("", encoding="utf-8")
        self.lines = 0

    def statement(self, sql: str, session: str, vxid: str) -> None:
        for message in (f"statement: {sql}", "duration: 0.010 ms"):
            self.lines += 1
            record = {
                "timestamp": "2026-11-24 10:00:00.000 UTC", "user": "clinic_app", "dbname": "clinic",
                "session_id": session, "line_num": self.lines, "vxid": vxid, "error_severity": "LOG",
                "message": message, "backend_type": "client backend",
            }  # fmt: skip
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def _build(log: JsonLog, redactor: Redactor) -> Observer:
    policy = load_policy(CLINIC / "policy.yaml")
    collector = Collector(LogFollower(log.path), Attribution.TRACEPARENT, settle=0)
    view = SqlView(collector, catalog_from_ddl(DDL.read_text(encoding="utf-8")))
    principals = load_principals(CLINIC / "principals.yaml")
    return Observer(view, policy, principals, load_contract(CLINIC / "openapi.yaml"), redactor)


@pytest.fixture
def log(tmp_path: Path) -> JsonLog:
    return JsonLog(tmp_path / "postgresql.json")


@pytest.fixture
def redactor() -> Redactor:
    policy = load_policy(CLINIC / "policy.yaml")
    return Redactor(policy.redact_headers, policy.phi.fields, policy.canary_values())


def _unscoped_read(observer: ProcessObserver, log: JsonLog, exchange_id: str, body: bytes, session: str = "s1") -> None:
    traceparent = observer.begin(exchange_id)
    log.statement(f"SELECT id, mrn FROM patients /*traceparent='{traceparent}'*/", session, "3/1")
    exchange = Exchange("GET", "http://api/patients", LABEL, 200, response_body=body, traceparent=traceparent)
    observer.finished(exchange_id, exchange, (LABEL, "northwind_admin", ()))


# spin: the judging process busy-waits for messages and through the log's polls (a core to spare); the same results
SPIN = pytest.mark.parametrize("spin", [False, True], ids=["sleeping", "spinning"])


@SPIN
def test_the_judge_ties_sql_follows_the_log_and_masks_secrets_learnt_later(
    log: JsonLog, redactor: Redactor, spin: bool
) -> None:
    with ExitStack() as scope:
        observer = judged_aside(lambda _: _build(log, redactor), redactor, scope, spin)
        redactor.add_secret(LEAKED)  # after the fork: the judge only knows it if it is told
        _unscoped_read(observer, log, "r1", json.dumps({"items": [{"note": LEAKED}]}).encode())
        observer.flush()
        assert observer.probed == 1 and observer.process.is_alive()
    assert not observer.process.is_alive()
    tenancy = [r for r in observer.results if r.check == "tenancy_filter"]
    assert [r.outcome for r in tenancy] == [Outcome.FAIL]
    assert tenancy[0].operation == LABEL and "patients" in tenancy[0].message
    shown = json.dumps([r.evidence for r in observer.results])
    assert "exchange" in tenancy[0].evidence and LEAKED not in shown and "***" in shown


def test_a_judge_that_dies_is_a_clear_error_and_earlier_results_are_kept(log: JsonLog, redactor: Redactor) -> None:
    with ExitStack() as scope:
        observer = judged_aside(lambda _: _build(log, redactor), redactor, scope)
        _unscoped_read(observer, log, "r1", b"[]")
        observer.flush()
        kept = list(observer.results)
        observer.process.kill()
        observer.process.join()
        with pytest.raises(HarnessError, match="judging process ended unexpectedly.*results judged before are kept"):
            _unscoped_read(observer, log, "r2", b"[]")
            observer.flush()
        assert observer.results == kept and kept


def test_a_judge_that_cannot_start_says_why(redactor: Redactor) -> None:
    def unreachable(_: ExitStack) -> Observer:
        raise HarnessError("cannot read the target's catalog: connection refused")

    with ExitStack() as scope, pytest.raises(HarnessError, match="cannot read the target's catalog"):
        judged_aside(unreachable, redactor, scope)


@SPIN
def test_requests_sent_from_several_threads_are_each_judged_on_their_own_sql(
    log: JsonLog, redactor: Redactor, spin: bool
) -> None:
    def worker(n: int) -> None:
        for k in range(25):
            _unscoped_read(observer, log, f"w{n}r{k}", LARGE, session=f"s{n}")

    with ExitStack() as scope:
        observer = judged_aside(lambda _: _build(log, redactor), redactor, scope, spin)
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        observer.flush()
    tenancy = [r for r in observer.results if r.check == "tenancy_filter"]
    assert observer.probed == 100 and len(tenancy) == 100
    assert {r.outcome for r in tenancy} == {Outcome.FAIL}  # each one saw its own unscoped read


def test_a_judge_behind_its_sender_still_ties_every_request(
    log: JsonLog, redactor: Redactor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The judge takes each message late, so the pipe never empties and it reads requests' statements before it
    # hears they began: each must still find its own (the judge holds the log from where it started).
    slow_next = judge_process._Judge._next

    def late(judge: judge_process._Judge) -> list[tuple[object, ...]]:
        time.sleep(0.1)
        return slow_next(judge)

    monkeypatch.setattr(judge_process._Judge, "_next", late)  # the forked judge inherits it
    with ExitStack() as scope:
        observer = judged_aside(lambda _: _build(log, redactor), redactor, scope)
        for k in range(12):
            _unscoped_read(observer, log, f"r{k}", b"[]")
        observer.flush()
    tenancy = [r for r in observer.results if r.check == "tenancy_filter"]
    assert [r.outcome for r in tenancy] == [Outcome.FAIL] * 12


def test_a_judge_whose_sender_is_killed_ends_too(log: JsonLog, redactor: Redactor, tmp_path: Path) -> None:
    # The sender in a process of its own, killed without a chance to stop its judge: the judge must see the
    # pipe's end and exit, not wait forever (an orphan holding connections to the target's database).
    context = multiprocessing.get_context("fork")
    report, told = context.Pipe(duplex=False)

    def sender() -> None:
        observer = ProcessObserver.start(lambda _: _build(log, redactor), redactor)
        told.send(observer.process.pid)
        time.sleep(60)

    process = context.Process(target=sender)  # not a daemon: those may not start processes of their own
    process.start()
    assert report.poll(30), "the sender did not start its judge"
    judge = report.recv()
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    deadline = time.monotonic() + 10
    while _alive(judge) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphaned = _alive(judge)
    if orphaned:
        os.kill(judge, signal.SIGKILL)  # not left behind when this test fails
    assert not orphaned


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; its parent is gone, so nobody reaps it at once


def test_the_modules_examples_pass() -> None:
    failures, attempted = doctest.testmod(judge_process)
    assert failures == 0 and attempted >= 2


@pytest.mark.parametrize(("wait", "spinning"), [("spin", True), ("sleep", False)])
def test_the_judge_waits_as_asked_whatever_the_cores(wait: str, spinning: bool) -> None:
    assert spins(wait, 1) is spinning and spins(wait, 10_000) is spinning


def test_auto_spins_only_with_a_core_to_spare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(judge_process, "cpu_quota", lambda: None)  # no container limit, whatever this machine's
    cores = len(os.sched_getaffinity(0))
    assert spins("auto", cores - 1) and not spins("auto", cores)


def test_an_unknown_way_to_wait_is_refused() -> None:
    with pytest.raises(ValueError, match="one of auto, spin, sleep, not 'nap'"):
        spins("nap", 1)


@pytest.mark.parametrize(
    ("files", "cpus"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2: a container limited to one and a half CPUs
        ({"cpu.max": "max 100000\n"}, None),  # v2, unlimited
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1.0),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, unlimited
        ({"cpu.max": ""}, None),  # unreadable: unknown, as no cgroup at all
        ({}, None),
    ],
)
def test_a_control_groups_cpu_quota_is_read(tmp_path: Path, files: dict[str, str], cpus: float | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="ascii")
    assert cpu_quota(tmp_path) == cpus


def test_auto_does_not_spin_a_quota_of_one_cpu_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(judge_process, "cpu_quota", lambda: 1.5)  # however many CPUs the host shows
    assert not spins("auto", 1)
    monkeypatch.setattr(judge_process, "cpu_quota", lambda: 2.0)
    assert spins("auto", 1) is (len(os.sched_getaffinity(0)) >= 2)


class Machine:
    """A clock and Linux's stall counter, as a test sets them: *pressure* is the share of the time some
    runnable task waits for a CPU from now on (None: the kernel does not tell)."""

    def __init__(self, pressure: float | None) -> None:
        self.at, self.total, self.pressure = 100.0, 5.0, pressure

    def clock(self) -> float:
        return self.at

    def stalled(self) -> float | None:
        return None if self.pressure is None else self.total

    def run(self, seconds: float) -> None:
        self.at += seconds
        self.total += seconds * (self.pressure or 0.0)


def _watching(machine: Machine) -> WaitMode:
    return WaitMode(spin=True, watch=True, stalled=machine.stalled, clock=machine.clock)


def test_a_watching_judge_spins_after_a_look_at_an_idle_machine_and_looks_again_later() -> None:
    machine = Machine(pressure=BUSY_PRESSURE / 2)
    mode = _watching(machine)
    assert not mode.now()  # it starts asleep, looking
    machine.run(LOOK_SECONDS)
    assert mode.now()
    machine.run(LOOK_EVERY - 0.01)
    assert mode.now()
    machine.run(0.02)
    assert not mode.now()  # a new look, asleep: its own spinning would blur what it sees
    machine.run(LOOK_SECONDS)
    assert mode.now()


def test_a_watching_judge_sleeps_while_other_work_waits_for_a_cpu_and_spins_once_it_does_not() -> None:
    machine = Machine(pressure=BUSY_PRESSURE * 1.6)  # 40%: another load on the same CPUs
    mode = _watching(machine)
    for _ in range(5):
        assert not mode.now()
        machine.run(LOOK_SECONDS)
    assert not mode.now()
    machine.pressure = BUSY_PRESSURE / 3
    machine.run(LOOK_SECONDS)
    assert mode.now()


def test_a_watching_judge_spins_where_the_kernel_does_not_tell() -> None:
    machine = Machine(pressure=None)
    mode = _watching(machine)
    assert mode.now()  # no look at all: as without watching
    machine.run(10 * LOOK_EVERY)
    assert mode.now()


@pytest.mark.parametrize(("spin", "watch"), [(True, False), (False, False), (False, True)])
def test_a_judge_not_watching_or_not_allowed_to_spin_never_changes(spin: bool, watch: bool) -> None:
    machine = Machine(pressure=0.0)
    mode = WaitMode(spin=spin, watch=watch, stalled=machine.stalled, clock=machine.clock)
    for _ in range(3):
        assert mode.now() is spin
        machine.run(LOOK_EVERY)


def test_the_stall_counter_is_read_from_the_first_file_that_tells(tmp_path: Path) -> None:
    empty, psi = tmp_path / "cpu.pressure", tmp_path / "pressure-cpu"
    empty.write_text("", encoding="ascii")
    psi.write_text(
        "some avg10=8.59 avg60=26.76 avg300=24.39 total=6995873172\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        encoding="ascii",
    )
    assert cpu_stalled((empty, psi)) == pytest.approx(6995.873172)
    assert cpu_stalled((empty, tmp_path / "missing")) is None
