"""A realistic statement-log mix for the trace-pipeline benchmark, derived from a real run of the clinic.

- :func:`capture_log` runs ``probity run`` on the embedded clinic once and keeps a copy of its cluster's
  jsonlog (the cluster and its log are deleted when the run ends).
- :class:`Mix` cuts a real log into *units*: each request's records on its pooled session (found by its
  traceparent), and the records of Probity's own sessions (fence markers, read-back transactions).
- :func:`synthesize` writes a jsonlog of about N statements: units sampled with the log's own distribution,
  requests on a pool of sessions interleaved in waves, fresh traceparents, vxids, line numbers and
  timestamps, the ids a request works on varied per request, and a share of requests sent the way a
  psycopg2 application sends them (simple protocol, values inlined as literals), so the facts cache meets
  many distinct texts. A manifest beside the log says, per wave, how many lines and statements it holds and
  the requests in it (traceparent, operation, principal, inputs, response), for the benchmark to replay.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot.dialects.dialect import Dialect
from sqlglot.tokenizer_core import TokenType

from probity.capture.records import parse_parameters, split_sqlcomment
from probity.capture.traceparent import trace_id
from probity.core.principals import load_principals

__all__ = ["Mix", "Request", "Unit", "capture_log", "synthesize"]

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = Dialect.get_or_raise("postgres")
POOL = 4  # backend sessions serving requests at once
_STEPS = ("PARSE", "BIND")
# Where a request's main table lives in the clinic's API (the benchmark's mix is the clinic's).
_RESOURCES = {
    "patients": "/patients",
    "appointments": "/appointments",
    "message_threads": "/threads",
    "messages": "/threads/{thread_id}/messages",
    "notifications": "/notifications",
    "support_tickets": "/support/tickets",
    "support_messages": "/support/tickets/{ticket_id}/messages",
    "proxies": "/patients/{patient_id}/proxies",
    "memberships": "/organizations/{organization_id}/members",
    "audit_logs": "/audit-logs",
    "telemetry_events": "/telemetry",
    "users": "/users/me",
    "organizations": "/organizations/{organization_id}",
}
_ITEM_PATHS = {
    "/threads": "/threads/{thread_id}",
    "/patients": "/patients/{patient_id}",
    "/appointments": "/appointments/{appointment_id}",
    "/support/tickets": "/support/tickets/{ticket_id}",
}


# -- capture ---------------------------------------------------------------------------------------------------


def capture_log(out: Path, max_examples: int = 3, roles: str = "ADMIN,PROVIDER") -> Path:
    """Run ``probity run`` on the embedded clinic and copy its statement log to *out*."""
    state = Path(tempfile.mkdtemp(prefix="probity-bench-state-"))
    env = {**os.environ, "PROBITY_STATE_DIR": str(state)}
    command = [str(ROOT / ".venv/bin/probity"), "run", "--max-examples", str(max_examples), "--roles", roles]
    run = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    copier = threading.Thread(target=_follow_copy, args=(state, out, run), daemon=True)
    copier.start()
    _, errors = run.communicate()
    copier.join(timeout=30)
    if run.returncode not in (0, 1) or not out.exists():
        raise SystemExit(f"capturing a clinic log failed ({run.returncode}): {errors.decode()[-2000:]}")
    return out


def _follow_copy(state: Path, out: Path, run: subprocess.Popen[bytes]) -> None:
    """Copy the cluster's jsonlog as it grows, until the run ends (the log is deleted with the cluster)."""
    source: Any = None
    with out.open("wb") as sink:
        while True:
            if source is None:
                found = sorted(state.glob("clusters/*/log/postgresql.json"))
                source = found[0].open("rb") if found else None
            chunk = source.read() if source is not None else b""
            sink.write(chunk)
            if not chunk:
                if run.poll() is not None:
                    return
                time.sleep(0.05)


# -- the real log cut into units ---------------------------------------------------------------------------------


@dataclass
class Unit:
    """Consecutive records of one session: a request's, or Probity's own (``trace`` empty)."""

    session: str
    records: list[dict[str, Any]] = field(default_factory=list)
    trace: str = ""
    label: str = ""
    principal: str | None = None
    inputs: tuple[str, ...] = ()
    body: str = ""


@dataclass
class Request:
    """A request of a synthesized wave, as the benchmark replays it."""

    traceparent: str
    label: str
    principal: str | None
    inputs: list[str]
    status: int
    body: str


class Mix:
    """A real log's units, and what identifies the principals in them."""

    def __init__(self, units: list[Unit], attributes: dict[str, dict[str, str]]) -> None:
        self.units = units
        self.attributes = attributes  # principal name -> attributes
        self.fixed = {value for attrs in attributes.values() for value in attrs.values()}

    @classmethod
    def from_log(cls, path: Path, principals: dict[str, dict[str, str]]) -> Mix:
        records = [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        clients = [r for r in records if r.get("backend_type") == "client backend" and "message" in r]
        mix = cls(_units(clients), principals)
        for unit in mix.units:
            if unit.trace:
                mix._describe(unit)
        return mix

    def _describe(self, unit: Unit) -> None:
        statements = [_sql_and_params(record) for record in unit.records]
        texts = [(sql, params) for sql, params in statements if sql is not None]
        values = [value for _, params in texts for value in params if value]
        unit.principal = next((name for name, attrs in self.attributes.items() if attrs.get("user_id") in values), None)
        unit.inputs = tuple(dict.fromkeys(v for v in values if v not in self.fixed and len(v) < 200))
        unit.label, listing = _label(texts)
        items = [{"id": v, "name": f"item {n}"} for n, v in enumerate(unit.inputs[:5])]
        unit.body = json.dumps({"items": items} if listing else (items[0] if items else {"ok": True}))


def _units(records: list[dict[str, Any]]) -> list[Unit]:
    """Each request's records (from its first traced record to the next request on its session), and
    Probity's own sessions cut where the session goes idle (a new transaction or command)."""
    units: list[Unit] = []
    current: dict[str, Unit] = {}
    for record in records:
        session = record["session_id"]
        found = trace_id(_traceparent(record))
        unit = current.get(session)
        mine = record.get("application_name", "").startswith("probity")
        if found and (unit is None or unit.trace != found):
            unit = current[session] = Unit(session, trace=found)
            units.append(unit)
        elif mine and (unit is None or record.get("ps") == "idle"):
            unit = current[session] = Unit(session)
            units.append(unit)
        if unit is not None:
            unit.records.append(record)
    return units


def _traceparent(record: dict[str, Any]) -> str | None:
    message = record.get("message", "")
    _, tags = split_sqlcomment(message)
    return tags.get("traceparent")


def _sql_and_params(record: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    message: str = record["message"]
    if message.startswith("statement: "):
        return split_sqlcomment(message[11:])[0], ()
    if message.startswith("execute ") and ": " in message:
        sql = split_sqlcomment(message.split(": ", 1)[1])[0]
        detail = record.get("detail", "")
        params = parse_parameters(detail) if detail.startswith("parameters: ") else ()
        return sql, tuple(p for p in params if p is not None)
    return None, ()


def _label(texts: list[tuple[str, tuple[str, ...]]]) -> tuple[str, bool]:
    """A plausible operation for a request's statements (the clinic's routes), and whether it lists."""
    main: tuple[str, str, bool] | None = None
    for sql, _ in texts:
        words = sql.split()
        verb = words[0].upper() if words else ""
        table = _table(words, verb)
        if table in ("sessions", "audit_logs", None) and verb != "SELECT":
            continue
        if table in _RESOURCES and table != "sessions" and (main is None or verb != "SELECT"):
            main = (verb, table, "LIMIT" in sql.upper())
            if verb != "SELECT":
                break
    if main is None:
        return "GET /users/me", False
    verb, table, listing = main
    path = _RESOURCES[table]
    if verb == "INSERT":
        return f"POST {path}", False
    if verb in ("UPDATE", "DELETE"):
        return f"{'PATCH' if verb == 'UPDATE' else 'DELETE'} {_ITEM_PATHS.get(path, path)}", False
    return (f"GET {path}", True) if listing else (f"GET {_ITEM_PATHS.get(path, path)}", False)


def _table(words: list[str], verb: str) -> str | None:
    keyword = {"SELECT": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE", "DELETE": "FROM"}.get(verb)
    upper = [w.upper() for w in words]
    if keyword is None or keyword not in upper:
        return None
    position = upper.index(keyword) + 1
    return words[position].strip('"').lower() if position < len(words) else None


# -- synthesis ---------------------------------------------------------------------------------------------------


@dataclass
class _Session:
    session_id: str
    pid: int
    backend: int
    line: int = 0
    transactions: int = 0


class _Writer:
    """Rewrites sampled units into one new log: sessions, line numbers, vxids, timestamps, ids."""

    def __init__(self, mix: Mix, rng: random.Random, inline_share: float) -> None:
        self.mix, self.rng, self.inline_share = mix, rng, inline_share
        self.clock = 1_790_000_000.0
        self.sessions: dict[str, _Session] = {}
        self.pool = [self._session(f"pool{n}") for n in range(POOL)]

    def _session(self, key: str) -> _Session:
        if key not in self.sessions:
            number = len(self.sessions) + 1
            self.sessions[key] = _Session(f"6b0{number:05x}.{number:04x}", 30000 + number, number + 2)
        return self.sessions[key]

    def wave(self, units: list[Unit]) -> tuple[list[str], list[Request], int]:
        """The lines of one wave (its requests on distinct pool sessions), its requests, its statements."""
        streams: dict[str, list[dict[str, Any]]] = {}
        requests: list[Request] = []
        for unit in units:
            if unit.trace:
                session = self.pool[len(requests) % POOL]
                records, request = self._request(unit, session)
                requests.append(request)
            else:
                session = self._session(unit.session)
                records = self._noise(unit, session)
            streams.setdefault(session.session_id, []).extend(records)
        lines = [json.dumps(record, separators=(",", ":")) for record in self._interleave(streams)]
        statements = sum(1 for line in lines if '"message":"statement: ' in line or '"message":"execute ' in line)
        return lines, requests, statements

    def _interleave(self, streams: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        queues = [list(reversed(stream)) for stream in streams.values()]
        while queues:
            queue = self.rng.choice(queues)
            record = queue.pop()
            self.clock += 0.00005
            millis = int(self.clock * 1000) % 1000
            record["timestamp"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.clock)) + f".{millis:03d} UTC"
            yield record
            if not queue:
                queues.remove(queue)

    def _request(self, unit: Unit, session: _Session) -> tuple[list[dict[str, Any]], Request]:
        traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
        replace = {unit.trace: traceparent.split("-")[1]}
        replace |= {value: str(uuid.uuid4()) for value in unit.inputs if _is_uuid(value)}
        inline = self.rng.random() < self.inline_share
        records = [r for r in self._rewritten(unit, session, replace) if not (inline and r.get("ps") in _STEPS)]
        if inline:
            records = [_inlined(record) for record in records]
        inputs = [replace.get(value, value) for value in unit.inputs]
        body = unit.body
        for old, new in replace.items():
            body = body.replace(old, new)
        status = 201 if unit.label.startswith("POST") else 200
        return records, Request(traceparent, unit.label, unit.principal, inputs, status, body)

    def _noise(self, unit: Unit, session: _Session) -> list[dict[str, Any]]:
        replace: dict[str, str] = {}
        for record in unit.records:
            message = record["message"]
            if "probity:fence:" in message:
                marker = message.rsplit(":", 1)[-1].rstrip("'")
                replace[marker] = uuid.uuid4().hex
        return list(self._rewritten(unit, session, replace))

    def _rewritten(self, unit: Unit, session: _Session, replace: dict[str, str]) -> Iterator[dict[str, Any]]:
        vxids: dict[str, str] = {}
        for original in unit.records:
            record = dict(original)
            for key in ("message", "detail", "statement"):
                if key in record:
                    for old, new in replace.items():
                        record[key] = record[key].replace(old, new)
            session.line += 1
            record |= {"session_id": session.session_id, "pid": session.pid, "line_num": session.line}
            vxid = record.get("vxid")
            if isinstance(vxid, str):
                record["vxid"] = vxids.get(vxid) or vxids.setdefault(vxid, self._vxid(vxid, session))
            yield record

    @staticmethod
    def _vxid(vxid: str, session: _Session) -> str:
        if vxid.endswith("/0"):
            return f"{session.backend}/0"
        session.transactions += 1
        return f"{session.backend}/{session.transactions}"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def _inlined(record: dict[str, Any]) -> dict[str, Any]:
    """An extended-protocol execute record as a psycopg2 application would have sent it: one simple-protocol
    statement with its values written into the SQL as literals."""
    message: str = record["message"]
    if not message.startswith("execute ") or ": " not in message:
        return record
    sql, tags = split_sqlcomment(message.split(": ", 1)[1])
    detail = record.pop("detail", "")
    params = parse_parameters(detail) if detail.startswith("parameters: ") else ()
    comment = "".join(f" /*{key}='{value}'*/" for key, value in tags.items())
    record["message"] = f"statement: {_with_literals(sql, params)}{comment}"
    return record


def _with_literals(sql: str, params: tuple[str | None, ...]) -> str:
    """*sql* with each ``$n`` replaced by its value as psycopg2 quotes it (found by sqlglot's tokenizer)."""
    tokens = POSTGRES.tokenize(sql)
    spans: list[tuple[int, int, str]] = []
    for token, following in zip(tokens, tokens[1:], strict=False):
        if token.token_type is TokenType.PARAMETER and following.token_type is TokenType.NUMBER:
            value = params[int(following.text) - 1]
            spans.append((token.start, following.end + 1, _quoted(value)))
    for start, end, literal in reversed(spans):
        sql = sql[:start] + literal + sql[end:]
    return sql


def _quoted(value: str | None) -> str:
    if value is None:
        return "NULL"
    if value.isdigit() and len(value) < 10:
        return value
    return "'" + value.replace("'", "''") + "'"


def synthesize(mix: Mix, statements: int, out: Path, *, seed: int = 7, inline_share: float = 0.2) -> Path:
    """Write a log of at least *statements* statements to *out*, and its manifest to ``<out>.manifest``."""
    rng = random.Random(seed)
    writer = _Writer(mix, rng, inline_share)
    written = 0
    partial_log, partial_manifest = out.with_suffix(".partial"), out.with_suffix(".manifest.partial")
    with partial_log.open("w", encoding="utf-8") as log, partial_manifest.open("w", encoding="utf-8") as manifest:
        while written < statements:
            lines, requests, count = writer.wave(_sample_wave(mix, rng))
            log.write("\n".join(lines) + "\n")
            wave = {"lines": len(lines), "statements": count, "requests": [r.__dict__ for r in requests]}
            manifest.write(json.dumps(wave) + "\n")
            written += count
    partial_manifest.replace(out.with_suffix(".manifest"))
    partial_log.replace(out)  # last: a log that exists is complete, and so is its manifest
    return out


def _sample_wave(mix: Mix, rng: random.Random) -> list[Unit]:
    """Units drawn with the log's own distribution until the wave holds POOL requests."""
    wave: list[Unit] = []
    while sum(1 for unit in wave if unit.trace) < POOL:
        wave.append(rng.choice(mix.units))
    return wave


def main(argv: list[str] | None = None) -> int:
    """Write a synthesized log (capturing the real one first when it is missing); run in its own process by
    bench/trace_throughput.py, so the benchmark's memory figures are the pipeline's alone."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", required=True, help="the real clinic jsonlog (captured when missing)")
    parser.add_argument("--out", required=True, help="the synthesized jsonlog to write (and OUT.manifest)")
    parser.add_argument("--statements", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--inline", type=float, default=0.2, help="share of requests with inlined literals")
    parser.add_argument("--principals", default=str(ROOT / "contracts/clinic/principals.yaml"))
    args = parser.parse_args(argv)
    real = Path(args.log)
    if not real.exists():
        print(f"capturing a real clinic log into {real} (one probity run) …", flush=True)
        capture_log(real)
    attributes = {p.name: dict(p.attributes) for p in load_principals(Path(args.principals)).principals}
    started = time.process_time()
    synthesize(Mix.from_log(real, attributes), args.statements, Path(args.out), seed=args.seed,
               inline_share=args.inline)  # fmt: skip
    print(f"synthesized {args.out} in {time.process_time() - started:.0f} CPU s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
