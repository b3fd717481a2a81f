"""The capture façade the engine uses: ``begin`` before a request is sent, ``end`` after its response.

It reads a :class:`~probity.capture.source.LogSource` only when a request ends, parses what is new, and hands
the statements since the request began to the chosen attribution: fences (one request at a time) or the
request's traceparent (any number in flight). With traceparents, attribution can also wait: ``finish``
keeps a finished exchange with its traceparent, and ``drain`` ties the statements of every finished exchange
at once, behind one sync marker (one settle pause and one wait for the log per batch, not per request).
Memory stays flat: statements older than every open or finished request, and marker records of concluded
requests, are dropped as soon as they are read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from probity.capture.fence import fenced, marker_sql
from probity.capture.records import ParsedStatement, StatementParser
from probity.capture.source import LogSource
from probity.capture.traceparent import new_traceparent, trace_id, traced
from probity.core.trace import Attribution, Exchange, RequestTrace, Statement

__all__ = ["Collector"]

Marker = Callable[[str], None]  # runs one marker statement on Probity's own connection
_MARKER_PREFIX = "SELECT 'probity:fence:"


@dataclass(frozen=True)
class _Open:
    start: int  # the parser's record count when the request began: nothing of it is older
    traceparent: str


@dataclass(frozen=True)
class _Finished:
    """An exchange whose response came back, waiting for its statements."""

    exchange_id: str
    opened: _Open
    exchange: Exchange
    at: float  # time.monotonic() when it finished: the settle pause counts from the newest

    @property
    def traceparent(self) -> str:
        return self.exchange.traceparent or self.opened.traceparent


class Collector:
    """Ties the statement log to HTTP exchanges with fences or traceparents.

    *marker* runs a statement on Probity's own connection (a
    :class:`~probity.capture.fence.FenceConnection`): required for fences; with traceparents it is
    optional and, when given, ``end`` (or ``drain``, once for its whole batch) waits for a sync marker so
    that it knows the log has caught up, and reports ``observed=False`` if the marker never shows. *settle*
    is the pause after the newest response before the end (or sync) marker; *timeout* how long to wait for
    that marker in the log. *database*, *user* and
    *application* narrow fenced statements to the backend's sessions (the database defaults to the fence
    connection's).
    """

    def __init__(
        self,
        source: LogSource,
        mode: Attribution,
        *,
        marker: Marker | None = None,
        # The backend's statements end before its response (their log records are written as they end); the
        # pause only covers work a backend does after answering (a commit in a teardown hook): 3 ms is ample
        # for that and costs a barrier (observer.BARRIER_METHODS) a third of what 10 ms did.
        settle: float = 0.003,
        timeout: float = 5.0,
        poll: float = 0.002,  # how often the log is read while waiting for a marker
        database: str | None = None,
        user: str | None = None,
        application: str | None = None,
    ) -> None:
        if mode is Attribution.NONE:
            raise ValueError("a collector attributes by fence or by traceparent")
        if mode is Attribution.FENCE and marker is None:
            raise ValueError("fence attribution needs a marker connection")
        self.source = source
        self.mode = mode
        self._marker = marker
        self.settle, self.timeout, self.poll = settle, timeout, poll
        self._scope = {"database": database, "user": user, "application": application}
        self._parser = StatementParser()
        self._buffer: list[ParsedStatement] = []
        self._markers: dict[str, int] = {}  # marker text -> sequence number, while it may matter
        self._claimed: set[int] = set()  # statements already given to a request
        self._open: dict[str, _Open] = {}
        self._finished: list[_Finished] = []  # finished exchanges not yet drained, in finishing order
        self._hold: int | None = None  # see hold()
        self._lock = threading.Lock()
        self._draining = threading.Lock()  # one drain at a time: a second one waits, then takes the rest

    @property
    def buffered(self) -> int:
        """How many statements and markers the collector holds now (flat over a run)."""
        with self._lock:
            return len(self._buffer) + len(self._markers) + len(self._claimed)

    @property
    def waiting(self) -> int:
        """How many finished exchanges wait for ``drain``."""
        with self._lock:
            return len(self._finished)

    def begin(self, exchange_id: str, traceparent: str | None = None) -> str:
        """Start an exchange; return the traceparent to send as its ``traceparent`` header: *traceparent* if
        the caller made one (a process that sends requests while another reads the log), else a fresh one."""
        marker_sql("begin", exchange_id)  # checks the id early
        with self._lock:
            if exchange_id in self._open:
                raise ValueError(f"exchange {exchange_id!r} has already begun")
            if self.mode is Attribution.FENCE and self._open:
                raise RuntimeError("fence attribution runs one request at a time; end the open one first")
            start = self._parser.seen if self._hold is None else min(self._hold, self._parser.seen)
            opened = self._open[exchange_id] = _Open(start, traceparent or new_traceparent())
        if self.mode is Attribution.FENCE:
            try:
                self._mark("begin", exchange_id)
            except BaseException:
                with self._lock:
                    del self._open[exchange_id]
                raise
        return opened.traceparent

    def end(self, exchange_id: str, exchange: Exchange) -> RequestTrace:
        """Finish an exchange after its response: the statements the log ties to it."""
        with self._lock:
            opened = self._open.get(exchange_id)
        if opened is None:
            raise ValueError(f"exchange {exchange_id!r} was not begun")
        try:
            finished = _Finished(exchange_id, opened, exchange, time.monotonic())
            return self._conclude([finished])[exchange_id]
        finally:
            with self._lock:
                del self._open[exchange_id]
                self._trim()

    @property
    def position(self) -> int:
        """How many log records have been read so far: a point in the log, for :meth:`hold`."""
        with self._lock:
            return self._parser.seen

    def hold(self, position: int) -> None:
        """Keep every statement from *position* on, and start exchanges begun from now on there.

        For a reader in another process than the sender: it hears of a request only after it was sent, and
        may have read the request's statements by then. *position* is where the log stood when it last knew
        of every request sent so far; nothing of a request it has not heard of yet is older.
        """
        with self._lock:
            self._hold = position

    def finish(self, exchange_id: str, exchange: Exchange) -> None:
        """Traceparents only: keep a finished exchange until ``drain`` ties its statements to it."""
        if self.mode is not Attribution.TRACEPARENT:
            raise ValueError("only traceparent attribution can tie statements after the fact; fences end()")
        at = time.monotonic()
        with self._lock:
            opened = self._open.pop(exchange_id, None)
            if opened is None:
                raise ValueError(f"exchange {exchange_id!r} was not begun")
            self._finished.append(_Finished(exchange_id, opened, exchange, at))

    def drain(self) -> dict[str, RequestTrace]:
        """Tie their statements to every finished exchange, behind one sync marker: exchange id -> trace."""
        with self._draining:
            with self._lock:
                batch = list(self._finished)  # they stay in the horizon until concluded
            if not batch:
                return {}
            try:
                return self._conclude(batch)
            finally:
                with self._lock:
                    del self._finished[: len(batch)]  # only finish() appends meanwhile, at the end
                    self._trim()

    # -- steps ----------------------------------------------------------------------------------------

    def _conclude(self, batch: list[_Finished]) -> dict[str, RequestTrace]:
        observed = self._catch_up(batch[-1].exchange_id, max(f.at for f in batch))
        with self._lock:
            window = self._window(min(f.opened.start for f in batch))
            if self.mode is Attribution.FENCE:
                return {f.exchange_id: self._fenced(f, window, observed) for f in batch}
            sessions = _Sessions(window)
            return {f.exchange_id: self._traced(f, sessions, observed) for f in batch}

    def _catch_up(self, exchange_id: str, newest: float) -> bool:
        """Wait until the log holds everything up to now (the end or sync marker); whether it showed."""
        pause = self.settle - (time.monotonic() - newest)
        if pause > 0:
            time.sleep(pause)
        kind = "end" if self.mode is Attribution.FENCE else "sync"
        if self._marker is None:
            with self._lock:
                self._pull()
            return True
        self._mark(kind, exchange_id)
        return self._wait_for(marker_sql(kind, exchange_id))

    def _fenced(self, finished: _Finished, window: list[ParsedStatement], observed: bool) -> RequestTrace:
        found = fenced([p.statement for p in window], finished.exchange_id, **self._scope)
        observed = observed and found is not None
        return self._trace(finished, self._claim(window, found or ()), observed)

    def _traced(self, finished: _Finished, sessions: _Sessions, observed: bool) -> RequestTrace:
        mine = sessions.of(finished.traceparent, finished.opened.start)
        found = traced([p.statement for p in mine], finished.traceparent)
        return self._trace(finished, self._claim(mine, found), observed)

    def _trace(self, finished: _Finished, statements: tuple[Statement, ...], observed: bool) -> RequestTrace:
        return RequestTrace(finished.exchange, statements if observed else (), self.mode, observed=observed)

    def _mark(self, kind: str, exchange_id: str) -> None:
        assert self._marker is not None
        self._marker(marker_sql(kind, exchange_id))

    def _wait_for(self, text: str) -> bool:
        deadline = time.monotonic() + self.timeout
        while True:
            with self._lock:
                self._pull()
                if text in self._markers:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.poll)

    def _pull(self) -> None:
        """Read and parse what the log has new; keep what an open request may still need."""
        horizon = self._horizon()
        for line in self.source.read_new():
            for parsed in self._parser.feed(line):
                if parsed.seq >= horizon:
                    self._buffer.append(parsed)
                    self._note_marker(parsed)
        for parsed in self._parser.pending():  # a marker is known before its duration line arrives
            if parsed.seq >= horizon:
                self._note_marker(parsed)

    def _note_marker(self, parsed: ParsedStatement) -> None:
        text = parsed.statement.text
        if text.startswith(_MARKER_PREFIX):
            self._markers.setdefault(text, parsed.seq)

    def _window(self, start: int) -> list[ParsedStatement]:
        """Every statement since *start* in log order, those still waiting for their duration included."""
        done = {p.seq for p in self._buffer}
        waiting = [p for p in self._parser.pending() if p.seq not in done]
        return sorted((p for p in [*self._buffer, *waiting] if p.seq >= start), key=lambda p: p.seq)

    def _claim(self, window: list[ParsedStatement], found: tuple[Statement, ...]) -> tuple[Statement, ...]:
        seq_of = {id(p.statement): p.seq for p in window}
        mine = tuple(s for s in found if seq_of[id(s)] not in self._claimed)
        self._claimed.update(seq_of[id(s)] for s in mine)
        return mine

    def _horizon(self) -> int:
        starts = [o.start for o in self._open.values()] + [f.opened.start for f in self._finished]
        if self._hold is not None:
            starts.append(self._hold)
        return min(starts, default=self._parser.seen)

    def _trim(self) -> None:
        horizon = self._horizon()
        self._buffer = [p for p in self._buffer if p.seq >= horizon]
        self._markers = {text: seq for text, seq in self._markers.items() if seq >= horizon}
        self._claimed = {seq for seq in self._claimed if seq >= horizon}


class _Sessions:
    """A window's statements grouped by session, and which sessions carry each trace id: each exchange of a
    batch looks only at its own sessions, so a batch costs about as much as its statements, not their square."""

    def __init__(self, window: list[ParsedStatement]) -> None:
        self._by_session: dict[str, list[ParsedStatement]] = {}
        self._sessions_of: dict[str, set[str]] = {}
        for parsed in window:
            session = parsed.statement.session_id
            self._by_session.setdefault(session, []).append(parsed)
            tid = trace_id(parsed.statement.traceparent)
            if tid is not None:
                self._sessions_of.setdefault(tid, set()).add(session)

    def of(self, traceparent: str, start: int) -> list[ParsedStatement]:
        """Since *start*, in log order, the statements of every session where *traceparent*'s trace id shows."""
        sessions = self._sessions_of.get(trace_id(traceparent) or "", set())
        mine = [p for session in sessions for p in self._by_session[session] if p.seq >= start]
        return sorted(mine, key=lambda p: p.seq)
