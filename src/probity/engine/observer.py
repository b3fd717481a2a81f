"""Watch every request schemathesis sends: tie its SQL to it, run every probe, fold the results.

Registered as the schema's ``before_call`` and ``after_call`` hooks, so every generated case is probed.
With traceparent attribution the probing waits: finished exchanges are tied to their SQL and judged in
batches, behind one sync marker per batch instead of one per request: every :data:`BATCH` exchanges on a
thread of its own while requests go on, and, before the caller goes on, at the end of each pass and before
a request that may delete rows is sent. The probes' read-backs look up a row's tenant by its unique key and
count audit rows: later requests of the same pass may add rows (which can only repeat what an earlier
identical request already left) but must not take away the row a read-back is about, so a
:data:`BARRIER_METHODS` request waits until every finished exchange has been judged.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

from probity.capture.collector import Collector
from probity.core.catalog import Catalog, TaggedCatalog
from probity.core.errors import ProbityError
from probity.core.findings import Category, Outcome, Result
from probity.core.policy import Policy
from probity.core.principals import Principal, Principals
from probity.core.redact import Redactor
from probity.core.trace import Attribution, Exchange, RequestTrace
from probity.probes import CATEGORIES, PROBES, OperationFacts, Probe, ProbeContext, ReadBack

__all__ = ["BARRIER_METHODS", "BATCH", "About", "Observer", "ObserverHooks", "SqlView", "fold", "inputs_of"]

EXCHANGE_EXCERPT = 300  # characters of a failing exchange's (redacted) response kept in its evidence
BATCH = 32  # finished exchanges judged together behind one sync marker (traceparent attribution)
# Requests sent only once every finished exchange is judged: they may delete the rows read-backs look at.
BARRIER_METHODS = frozenset({"DELETE"})


@dataclass
class SqlView:
    """What the engine needs to look at SQL: the capture collector, the catalog, and optional read-back."""

    collector: Collector
    catalog: Catalog
    readback: ReadBack | None = None


About = tuple[str, str | None, tuple[str, ...]]  # an exchange's operation label, principal and inputs


class ObserverHooks(ABC):
    """The schemathesis hooks and Probity's own requests, whatever judges them: the subclass says how an
    exchange begins (its traceparent), is handed over after its response, and is judged at once."""

    redactor: Redactor
    results: list[Result]
    probed: int
    _open: dict[int, tuple[str, float]]  # id(case) -> (exchange id, when it was sent)
    _lock: threading.Lock

    @abstractmethod
    def begin(self, exchange_id: str) -> str:
        """Begin an exchange; the traceparent to send with it."""

    @abstractmethod
    def finished(self, exchange_id: str, exchange: Exchange, about: About) -> None:
        """Hand over an exchange whose response came back (judged now or with its batch)."""

    @abstractmethod
    def conclude(self, exchange_id: str, exchange: Exchange, about: About) -> None:
        """Judge one exchange now; its results are in ``results`` when this returns."""

    @abstractmethod
    def flush(self) -> None:
        """Judge every exchange handed over; return when done."""

    def before_call(self, context: Any, case: Any, kwargs: dict[str, Any]) -> None:
        """Begin the exchange; with traceparents, send the request's own one."""
        if str(case.method).upper() in BARRIER_METHODS:
            self.flush()
        exchange_id = uuid.uuid4().hex
        traceparent = self.begin(exchange_id)
        # On the case, not in kwargs: the transport passes the case's headers itself.
        case.headers = {**(case.headers or {}), "traceparent": traceparent}
        with self._lock:
            self._open[id(case)] = (exchange_id, time.monotonic())

    def after_call(self, context: Any, case: Any, response: Any) -> None:
        with self._lock:
            exchange_id, started = self._open.pop(id(case), ("", 0.0))
        if not exchange_id:
            return
        exchange = _exchange(case, response, (time.monotonic() - started) * 1000)
        # Checks replay the case (as a peer, without credentials) by copying it past the hooks: without this,
        # those replays would send the same traceparent, and their SQL would count as this exchange's.
        (case.headers or {}).pop("traceparent", None)
        self.finished(exchange_id, exchange, (str(case.operation.label), case.auth_identity, inputs_of(case)))

    def send(
        self,
        session: requests.Session,
        request: requests.Request,
        label: str,
        principal: str | None = None,
        inputs: tuple[str, ...] = (),
    ) -> requests.Response:
        """Send a request of Probity's own (not generated by schemathesis) through the same pipeline."""
        exchange_id = uuid.uuid4().hex
        request.headers = {**(request.headers or {}), "traceparent": self.begin(exchange_id)}
        started = time.monotonic()
        response = session.send(session.prepare_request(request), timeout=30)
        exchange = _exchange_of(response, label, principal, (time.monotonic() - started) * 1000)
        self.conclude(exchange_id, exchange, (label, principal, inputs))
        return response


@dataclass
class Observer(ObserverHooks):
    """Probes every exchange of a run in this process. Thread-safe: with traceparent attribution, requests
    overlap."""

    view: SqlView
    policy: Policy
    principals: Principals
    contract: dict[str, Any]
    redactor: Redactor
    probes: tuple[Probe, ...] = PROBES
    results: list[Result] = field(default_factory=list)
    probed: int = 0  # requests judged
    batch: int = BATCH
    _open: dict[int, tuple[str, float]] = field(default_factory=dict)
    # Exchange id -> (operation, principal, inputs) of finished exchanges waiting for their SQL.
    _waiting: dict[str, About] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _judging: threading.Lock = field(default_factory=threading.Lock)  # a drained batch is judged whole
    _aside: threading.Thread | None = None  # the thread judging a full batch, if any
    _failure: BaseException | None = None  # what stopped it, raised in the caller's thread

    def __post_init__(self) -> None:
        self.tagged: TaggedCatalog = self.view.catalog.tag(self.policy)

    def begin(self, exchange_id: str, traceparent: str | None = None) -> str:
        return self.view.collector.begin(exchange_id, traceparent)

    def finished(self, exchange_id: str, exchange: Exchange, about: About) -> None:
        collector = self.view.collector
        if collector.mode is not Attribution.TRACEPARENT:  # fences end one request at a time
            self.conclude(exchange_id, exchange, about)
            return
        with self._lock:
            self._waiting[exchange_id] = about
        collector.finish(exchange_id, exchange)
        if collector.waiting >= self.batch:
            self._judge_aside()

    def conclude(self, exchange_id: str, exchange: Exchange, about: About) -> None:
        self._record(self.view.collector.end(exchange_id, exchange), *about)

    def flush(self) -> None:
        """Tie every finished exchange to its SQL, behind one sync marker, and judge them; return when done."""
        aside = self._aside
        if aside is not None and aside is not threading.current_thread():
            aside.join()
        self._judge_waiting()
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def _judge_aside(self) -> None:
        """Judge the waiting exchanges on a thread of their own (unless one is at it): requests go on."""
        with self._lock:
            if self._aside is not None and self._aside.is_alive():
                return
            self._aside = threading.Thread(target=self._judge_or_keep_failure, name="probity-judge", daemon=True)
            self._aside.start()  # under the lock: flush() never sees a thread it cannot join yet

    def _judge_or_keep_failure(self) -> None:
        try:
            self._judge_waiting()
        except BaseException as exc:  # raised again by the next flush, in the thread that drives the run
            self._failure = exc

    def _judge_waiting(self) -> None:
        with self._judging:
            for exchange_id, trace in self.view.collector.drain().items():
                with self._lock:
                    about = self._waiting.pop(exchange_id)
                self._record(trace, *about)

    def _record(self, trace: RequestTrace, label: str, principal: str | None, inputs: tuple[str, ...]) -> None:
        found = list(self.judge(trace, label, principal, inputs))
        with self._lock:
            self.results.extend(found)
            self.probed += 1

    def judge(
        self, trace: RequestTrace, label: str, principal: str | None, inputs: tuple[str, ...]
    ) -> Iterator[Result]:
        """Every probe's results for one trace (also used for traffic Probity did not generate)."""
        ctx = self._context(trace, label, principal, inputs)
        shown: list[dict[str, Any]] = []  # the compact exchange, made on the first failure and shared by the rest
        for probe in self.probes:
            try:
                yield from (self._with_exchange(result, trace.exchange, shown) for result in probe(trace, ctx))
            except ProbityError:
                raise
            except Exception as exc:  # a probe bug must not end the run; it shows as inconclusive
                yield _crashed(ctx, probe, exc)

    def _with_exchange(self, result: Result, exchange: Exchange, shown: list[dict[str, Any]] | None = None) -> Result:
        """A failure with the request and response it was seen on, compact and redacted, for reports.
        *shown* holds the compact exchange once made: a request's failures share it (redacting the body is dear)."""
        if result.outcome is not Outcome.FAIL or "exchange" in result.evidence:
            return result
        shown = [] if shown is None else shown
        if not shown:
            shown.append(_compact(exchange, self.redactor))
        return replace(result, evidence={**result.evidence, "exchange": dict(shown[0])})

    def _context(self, trace: RequestTrace, label: str, principal: str | None, inputs: tuple[str, ...]) -> ProbeContext:
        body = trace.exchange.response_body
        operation, public = _operation(self.contract, label)
        return ProbeContext(
            policy=self.policy,
            catalog=self.view.catalog,
            tagged=self.tagged,
            operation=operation,
            # A public operation (login) has no caller: whatever credential went along is not its identity.
            principal=None if public else self._principal(principal),
            inputs=inputs,
            response=_json(body),
            response_text=body.decode("utf-8", errors="replace"),
            readback=self.view.readback,
            redactor=self.redactor,
        )

    def _principal(self, name: str | None) -> Any:
        if name is None:
            return None
        return _named(self.principals).get(name)


def _compact(exchange: Exchange, redactor: Redactor) -> dict[str, Any]:
    return {
        "method": exchange.method,
        "path": urlsplit(exchange.url).path,  # not the query: it may carry PHI search terms
        "status": exchange.status,
        "response": redactor.body(exchange.response_body)[:EXCHANGE_EXCERPT],
    }


# What every request asks of its operation and caller, worked out once per contract (or principals) and label
# (name): by object id, the object kept so its id is not reused while the entry lives.
_OPERATIONS: dict[tuple[int, str], tuple[dict[str, Any], OperationFacts, bool]] = {}
_NAMED: dict[int, tuple[tuple[Principal, ...], dict[str, Principal]]] = {}


def _operation(contract: dict[str, Any], label: str) -> tuple[OperationFacts, bool]:
    """The operation's facts and whether it is public, as :func:`operation_facts` and :func:`_public` say."""
    entry = _OPERATIONS.get((id(contract), label))
    if entry is None or entry[0] is not contract:
        if len(_OPERATIONS) >= 4096:  # a run has one contract and a few dozen operations: stay small
            _OPERATIONS.clear()
        found = (contract, operation_facts(contract, label), _public(contract, label))
        entry = _OPERATIONS[(id(contract), label)] = found
    return entry[1], entry[2]


def _named(principals: Principals) -> dict[str, Principal]:
    """The principals by name; the first of a name wins, as a scan in order would find it."""
    every = principals.principals
    entry = _NAMED.get(id(every))
    if entry is None or entry[0] is not every:
        if len(_NAMED) >= 8:
            _NAMED.clear()
        named: dict[str, Principal] = {}
        for principal in every:
            named.setdefault(principal.name, principal)
        entry = _NAMED[id(every)] = (every, named)
    return entry[1]


def operation_facts(contract: dict[str, Any], label: str) -> OperationFacts:
    """What the contract says of *label* ("METHOD /path"): PHI, paginated, roles."""
    method, path = label.split(" ", 1)
    spec = contract.get("paths", {}).get(path, {}).get(method.lower(), {})
    return OperationFacts(
        label=label,
        phi=bool(spec.get("x-phi", False)),
        paginated=bool(spec.get("x-paginated", False)),
        roles=tuple(spec.get("x-roles", ())),
    )


def _public(contract: dict[str, Any], label: str) -> bool:
    """Whether the contract declares *label* open to anyone (``security: []``)."""
    method, path = label.split(" ", 1)
    spec = contract.get("paths", {}).get(path, {}).get(method.lower(), {})
    security = spec.get("security", contract.get("security"))
    return security is not None and not any(security)


def inputs_of(case: Any) -> tuple[str, ...]:
    """The generated values a case carries (path, query, body leaves), as strings, for the injection probe."""
    values: list[str] = []
    for container in (case.path_parameters, case.query, case.body):
        values.extend(_leaves(container))
    return tuple(dict.fromkeys(values))


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bytes):
        yield str(value)


def _exchange(case: Any, response: Any, elapsed_ms: float) -> Exchange:
    request = response.request
    return Exchange(
        method=str(request.method),
        url=str(request.url),
        operation=str(case.operation.label),
        status=int(response.status_code),
        request_headers={k: str(v) for k, v in request.headers.items()},
        request_body=request.body if isinstance(request.body, bytes) else str(request.body or "").encode(),
        response_headers={k: ", ".join(v) if isinstance(v, list) else str(v) for k, v in response.headers.items()},
        response_body=bytes(response.content or b""),
        principal=case.auth_identity,
        traceparent=request.headers.get("traceparent"),
        elapsed_ms=elapsed_ms,
    )


def _exchange_of(response: requests.Response, label: str, principal: str | None, elapsed_ms: float) -> Exchange:
    request = response.request
    body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
    return Exchange(
        method=str(request.method),
        url=str(request.url),
        operation=label,
        status=response.status_code,
        request_headers=dict(request.headers),
        request_body=body,
        response_headers=dict(response.headers),
        response_body=response.content,
        principal=principal,
        traceparent=request.headers.get("traceparent"),
        elapsed_ms=elapsed_ms,
    )


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)  # the same values as json's, several times faster, on every response
    except orjson.JSONDecodeError:
        pass  # what orjson refuses and json reads: NaN, integers past 64 bits, lone surrogates, a BOM
    try:
        return json.loads(body)
    except ValueError:
        return None


def _crashed(ctx: ProbeContext, probe: Probe, exc: Exception) -> Result:
    name = probe.__name__
    category = CATEGORIES.get(name, Category.CONTRACT)
    message = f"the probe failed: {type(exc).__name__}"
    return ctx.result(
        name, f"{name}.crashed", category, Outcome.INCONCLUSIVE, message, evidence={"error": str(exc)[:300]}
    )


_PREFERENCE = (Outcome.PASS, Outcome.INCONCLUSIVE, Outcome.NOT_APPLICABLE)


def fold(results: Iterable[Result]) -> list[Result]:
    """Per operation and check: every distinct failure; otherwise one result, the most telling outcome
    seen (PASS over INCONCLUSIVE over N/A), counting how many requests it stands for."""
    groups: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        groups.setdefault((result.operation, result.check), []).append(result)
    folded: list[Result] = []
    for group in groups.values():
        failures = {r.key: r for r in group if r.outcome is Outcome.FAIL}
        folded.extend(failures.values() or [_representative(group)])
    return folded


def _representative(group: list[Result]) -> Result:
    best = min(group, key=lambda r: _PREFERENCE.index(r.outcome))
    count = sum(1 for r in group if r.outcome is best.outcome)
    return Result(**{**best.__dict__, "evidence": {**best.evidence, "requests": count, "of": len(group)}})
