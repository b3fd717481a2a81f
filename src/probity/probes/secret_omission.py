"""secret_omission: secret columns stay in the database, and secret values never reach a response.

Two rules, kept apart because they differ in kind (field notes: ORMs load whole rows to authenticate):

- ``secret_omission.selected`` (medium, minimum necessary): a statement *returns* a secret column of the
  policy (``secrets.columns``) — in its SELECT list, through ``*`` or ``t.*`` (expanded through the catalog; a
  ``*`` over a table the catalog lacks returns all of that table's secrets), through a CTE or derived table, or
  in RETURNING — and the policy does not allow the operation to read it (``secrets.allowed``). A secret used
  only in WHERE, or written by INSERT/UPDATE, is not selected. It needs SQL: INCONCLUSIVE when none was
  observed, or when a statement could not be parsed and no other statement fails.
- ``secret_omission.returned`` (critical, whatever the policy allows): a seeded secret value
  (``secrets.canaries``) appears in the response body or a response header, under any key and in any of these
  encodings: raw, JSON-escaped (``\\/``, ``\\uXXXX``, and JSON strings nested in JSON strings), URL-encoded
  (once or twice), base64 (standard or URL-safe alphabet, padded or not, at any alignment within a longer
  blob), or hex. A fragment of at least 12 characters of a canary counts (shorter canaries must appear
  whole; canaries under 6 characters are ignored). It needs no SQL and is judged for every response.

Evidence never holds a secret: it names the canary by its position in the canary file, the encoding, where
it was found (a JSON path or an offset) and how long the match is, with at most three leading characters.
NOT_APPLICABLE when the policy has no ``secrets`` section.

>>> from probity.core.policy import Policy
>>> from probity.core.trace import Attribution, Exchange, RequestTrace, Statement
>>> from probity.probes.base import OperationFacts, ProbeContext
>>> from probity.sql import catalog_from_ddl
>>> catalog = catalog_from_ddl("CREATE TABLE members (id int PRIMARY KEY, email text, pw text)")
>>> policy = Policy.model_validate({
...     "tenancy": {"scopes": [{"name": "own", "column": "id", "attribute": "uid", "tables": ["members"]}]},
...     "secrets": {"columns": ["members.pw"]}})
>>> ctx = ProbeContext(policy, catalog, catalog.tag(policy), OperationFacts("GET /me"), response_text='{"id": 1}')
>>> trace = RequestTrace(Exchange("GET", "http://api/me", "GET /me", 200),
...     (Statement("SELECT * FROM members WHERE id = $1", ("1",), "s1"),), Attribution.FENCE)
>>> [(r.rule, r.outcome.value) for r in secret_omission(trace, ctx)]
[('secret_omission.selected', 'fail'), ('secret_omission.returned', 'inconclusive')]
>>> encoded = binascii.b2a_base64(b"tok_live_0123456789abcdef", newline=False).decode()
>>> found = _leaks("…" + encoded, {}, ("tok_live_0123456789abcdef",))
>>> [(leak.canary, leak.encoding, leak.length, leak.fragment) for leak in found]
[(1, 'base64', 25, 'tok***')]
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any
from urllib.parse import unquote

from probity.core.catalog import split_name
from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.policy import Policy
from probity.core.redact import MASK
from probity.core.trace import RequestTrace
from probity.probes.base import ProbeContext, facts_of, statement_evidence, unobserved
from probity.sql import StatementFacts

__all__ = ["secret_omission"]

PROBE = "secret_omission"
CATEGORY = Category.SECRETS
SELECTED = f"{PROBE}.selected"
RETURNED = f"{PROBE}.returned"

FRAGMENT = 12  # a leaked fragment this long counts
SHORTEST = 6  # canaries shorter than this are too common to look for
_GRAM = 7  # sampled gram: every fragment of FRAGMENT characters holds one at a multiple of _STEP
_STEP = FRAGMENT - _GRAM + 1
_REMEMBERED = 256  # texts up to this long have their hits cached
_RECURRING = ("raw", "json")  # views whose text is the response's own, not a decoding of it
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{24,}")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})")


def secret_omission(trace: RequestTrace, ctx: ProbeContext) -> Iterator[Result]:
    """Judge one request: see the module's docstring for the rules."""
    if ctx.policy.secrets is None:
        for rule in (SELECTED, RETURNED):
            yield _result(ctx, rule, Outcome.NOT_APPLICABLE, "the policy names no secret columns")
        return
    if trace.conclusive:
        yield _selected(trace, ctx)
    else:  # the selected rule needs SQL; the returned rule does not
        yield from unobserved(PROBE, CATEGORY, trace, ctx)
    yield _returned(trace, ctx)


def _result(
    ctx: ProbeContext, rule: str, outcome: Outcome, message: str, evidence: dict[str, Any] | None = None
) -> Result:
    severity = Severity.CRITICAL if rule == RETURNED else Severity.MEDIUM
    return ctx.result(PROBE, rule, CATEGORY, outcome, message, severity, evidence)


# -- selected ---------------------------------------------------------------------------------------------------


def _selected(trace: RequestTrace, ctx: ProbeContext) -> Result:
    allowed = _allowed(ctx)
    offending: list[dict[str, Any]] = []
    permitted: set[str] = set()
    unparsed: list[dict[str, Any]] = []
    for statement, facts in facts_of(trace, ctx):
        if facts.parse_error is not None:
            unparsed.append({"error": facts.parse_error, **statement_evidence(statement, ctx)})
            continue
        read = facts.planned(ctx.tagged, PROBE, partial(_secrets_read, facts, ctx))  # once per text
        if not read:
            continue
        permitted.update(column for column in read if column in allowed)
        over = sorted(column for column in read if column not in allowed)
        if over:
            offending.append({"columns": over, "star": facts.star, **statement_evidence(statement, ctx)})
    evidence: dict[str, Any] = {"allowed_read": sorted(permitted)} if permitted else {}
    if offending:
        message = "a statement selects secret columns the operation is not allowed to read"
        return _result(ctx, SELECTED, Outcome.FAIL, message, {**evidence, "statements": offending})
    if unparsed:
        message = "some statements could not be parsed to see what they select"
        return _result(ctx, SELECTED, Outcome.INCONCLUSIVE, message, {**evidence, "unparsed": unparsed})
    return _result(ctx, SELECTED, Outcome.PASS, "no statement selects a secret column it may not read", evidence)


def _allowed(ctx: ProbeContext) -> frozenset[str]:
    secrets = ctx.policy.secrets
    granted = secrets.allowed_for(ctx.operation.label) if secrets else frozenset()
    return frozenset(_column_key(ref) for ref in granted)


def _column_key(ref: str) -> str:
    table, _, column = ref.rpartition(".")
    return f"{split_name(table)[1]}.{column.lower()}"


def _secrets_read(facts: StatementFacts, ctx: ProbeContext) -> frozenset[str]:
    """The secret columns (``table.column``) the statement returns: of the text and the tagged catalog only."""
    tables = {ref.table for ref in facts.tables} | {write.table for write in facts.writes}
    found: set[str] = set()
    for table in tables:
        secrets = ctx.tagged.secrets_of(table)
        if not secrets:
            continue
        selected = {column.lower() for column in facts.selected(table)}
        hit = secrets if "*" in selected else secrets & selected
        found.update(f"{split_name(table)[1]}.{column}" for column in hit)
    return frozenset(found) if found else _NONE


_NONE: frozenset[str] = frozenset()  # shared by every text that returns no secret (one object, not one per text)


# -- returned ---------------------------------------------------------------------------------------------------


def _returned(trace: RequestTrace, ctx: ProbeContext) -> Result:
    try:
        usable = _usable_canaries(ctx.policy)
    except OSError as exc:
        return _result(ctx, RETURNED, Outcome.INCONCLUSIVE, "the canary file could not be read", {"error": str(exc)})
    if not usable:
        return _result(ctx, RETURNED, Outcome.INCONCLUSIVE, "the policy seeds no secret values to look for")
    text = ctx.response_text or trace.exchange.response_body.decode("utf-8", errors="replace")
    leaks = _leaks(text, trace.exchange.response_headers, usable, ctx.response)
    evidence: dict[str, Any] = {"canaries": len(usable), "response_chars": len(text)}
    if leaks:
        shown = [leak.evidence() for leak in leaks[:10]]
        evidence |= {"leaks": shown, "leak_count": len(leaks)}
        return _result(ctx, RETURNED, Outcome.FAIL, "the response carries a seeded secret value", evidence)
    return _result(ctx, RETURNED, Outcome.PASS, "no seeded secret value is in the response", evidence)


_USABLE: dict[int, tuple[Policy, tuple[str, ...]]] = {}  # by policy id; the policy is kept so its id is not reused


def _usable_canaries(policy: Policy) -> tuple[str, ...]:
    """The policy's canaries long enough to look for, worked out once per policy (asked on every response)."""
    entry = _USABLE.get(id(policy))
    if entry is None or entry[0] is not policy:
        usable = tuple(canary for canary in policy.canary_values() if len(canary) >= SHORTEST)
        if len(_USABLE) >= 8:  # a run has one policy; a test session many: stay small
            _USABLE.clear()
        entry = _USABLE[id(policy)] = (policy, usable)
    return entry[1]


@dataclass(frozen=True)
class _Leak:
    canary: int  # 1-based position among the canaries
    encoding: str
    where: str  # a JSON path, a header, or an offset in the text
    length: int  # characters of the canary matched
    whole: bool
    fragment: str  # at most three leading characters, then the mask

    def evidence(self) -> dict[str, Any]:
        return {
            "canary": self.canary,
            "encoding": self.encoding,
            "where": self.where,
            "length": self.length,
            "whole": self.whole,
            "fragment": self.fragment,
        }


def _leaks(text: str, headers: Mapping[str, str], canaries: Sequence[str], parsed: Any = None) -> list[_Leak]:
    """Every place a canary (or a fragment of one) shows in the response, in any encoding, deduplicated."""
    index = _index(tuple(canaries))
    found: dict[tuple[int, str], _Leak] = {}
    searched: dict[str, tuple[tuple[int, int, int, int], ...]] = {}  # a text seen in several views: searched once
    for encoding, where, view in _views(text, headers, parsed, index.shortest):
        hits = searched.get(view)
        if hits is None:
            hits = searched[view] = _search(index, view, encoding in _RECURRING)
        for hit in hits:
            leak = index.leak(hit, encoding, where)
            key = (leak.canary, leak.where)
            if key not in found or found[key].length < leak.length:
                found[key] = leak
    return sorted(found.values(), key=lambda leak: (leak.canary, leak.where))


def _search(index: _Index, view: str, recurring: bool = True) -> tuple[tuple[int, int, int, int], ...]:
    # Short strings as written (keys, enumerations, names) recur from response to response: remember what they
    # held. A long text (a whole body) or a decoding (mostly of fresh ids, as base64) rarely recurs: remembering
    # it would only push the recurring ones out.
    if recurring and len(view) <= _REMEMBERED:
        return _hits(index, view)
    found = list(index.search(view))
    return tuple(_longest(found)) if found else ()  # almost every view holds nothing: no sorting then


@lru_cache(maxsize=8192)
def _hits(index: _Index, view: str) -> tuple[tuple[int, int, int, int], ...]:
    return tuple(_longest(index.search(view)))


def _longest(hits: Iterable[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """The hits that are not part of a longer one: canaries sharing a prefix (a hash's format, a salt) match
    the same text, and only the canary matched longest there is named."""
    kept: list[tuple[int, int, int, int]] = []
    for hit in sorted(hits, key=lambda hit: -hit[2]):
        _, _, length, at = hit
        if all(at + length <= other[3] or other[3] + other[2] <= at for other in kept):
            kept.append(hit)
    return kept


def _views(text: str, headers: Mapping[str, str], parsed: Any, floor: int = 0) -> Iterator[tuple[str, str, str]]:
    """``(encoding, where, text)``: the response as written, and decoded every way a secret could hide.

    A JSON string shorter than *floor* is passed over: neither it nor any decoding of it (never longer; base64
    and hex runs need more characters) can hold a canary or a fragment of one."""
    yield "raw", "body", text
    for name, value in headers.items():
        yield "raw", f"header {name}", value
    if parsed is None:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    for path, value in _json_strings(parsed, "$"):
        if len(value) < floor:
            continue
        yield "json", path, value
        yield from _decoded(value, path)
    unescaped = _json_unescaped(text)
    if unescaped != text:
        yield "json-escaped", "body", unescaped
    yield from _decoded(unescaped, "body")


def _decoded(text: str, where: str) -> Iterator[tuple[str, str, str]]:
    once = unquote(text)
    if once != text:
        yield "url-encoded", where, once
        twice = unquote(once)
        if twice != once:
            yield "url-encoded twice", where, twice
    for source in {text, once}:
        yield from _base64_views(source, where)
        yield from _hex_views(source, where)


def _json_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a parsed JSON value, keys included, with its path; JSON inside a string is opened too."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}"
            yield f"{child} (key)", str(key)
            yield from _json_strings(item, child)
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from _json_strings(item, f"{path}[{number}]")
    elif isinstance(value, str):
        yield path, value
        if value[:1] in '{["' and len(value) >= FRAGMENT:
            try:
                nested = json.loads(value)
            except ValueError:
                return
            yield from _json_strings(nested, f"{path} (json)")


def _json_unescaped(text: str, rounds: int = 3) -> str:
    for _ in range(rounds):
        opened = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
        opened = opened.replace("\\\\", "\\").replace("\\/", "/").replace('\\"', '"')
        if opened == text:
            break
        text = opened
    return text


def _base64_views(text: str, where: str) -> Iterator[tuple[str, str, str]]:
    # A run of base64 characters may start mid-group (glued to a word) and hold the secret at any byte
    # offset: decoding from each of the four character offsets covers every alignment. "-_" are the URL-safe
    # alphabet's "+/"; padding is optional.
    for match in _BASE64_RUN.finditer(text):
        for decoded in _base64_decodings(match.group()):
            yield "base64", f"{where} @{match.start()}", decoded


@lru_cache(maxsize=4096)  # the same ids come back in every response, and in the body and its strings
def _base64_decodings(run: str) -> tuple[str, ...]:
    """A base64 run decoded from each of its four character offsets (those that decode)."""
    run = run.rstrip("=").replace("-", "+").replace("_", "/")
    found: list[str] = []
    for offset in range(4):
        chunk = run[offset:]
        rest = len(chunk) % 4  # a last group of 2 or 3 characters is 1 or 2 bytes; of 1, nothing
        chunk = chunk[:-1] if rest == 1 else chunk + "=" * (-rest % 4)
        try:  # the run holds only the standard alphabet now: what b64decode's validation would check
            decoded = binascii.a2b_base64(chunk, strict_mode=True)
        except (binascii.Error, ValueError):
            continue
        found.append(decoded.decode("utf-8", errors="replace"))
    return tuple(found)


def _hex_views(text: str, where: str) -> Iterator[tuple[str, str, str]]:
    for match in _HEX_RUN.finditer(text):
        for offset in range(2):
            chunk = match.group()[offset:]
            chunk = chunk[: len(chunk) - len(chunk) % 2]
            yield "hex", f"{where} @{match.start()}", bytes.fromhex(chunk).decode("utf-8", errors="replace")


@lru_cache(maxsize=8)
def _index(canaries: tuple[str, ...]) -> _Index:
    return _Index(canaries)


class _Index:
    """Grams of the canaries, for finding any fragment of FRAGMENT characters in one pass over a text."""

    def __init__(self, canaries: tuple[str, ...]) -> None:
        self.canaries = canaries
        self.grams: dict[str, list[tuple[int, int]]] = {}
        self.short: list[int] = []  # canaries shorter than FRAGMENT: matched whole
        # no text shorter than this holds a match: the shortest canary matched whole, else a FRAGMENT
        self.shortest = min([FRAGMENT, *(len(canary) for canary in canaries)])
        for number, canary in enumerate(canaries):
            if len(canary) < FRAGMENT:
                self.short.append(number)
                continue
            for start in range(len(canary) - _GRAM + 1):
                self.grams.setdefault(canary[start : start + _GRAM], []).append((number, start))

    def search(self, text: str) -> Iterator[tuple[int, int, int, int]]:
        """``(canary, canary start, length, text start)`` of every canary fragment in *text*."""
        for number in self.short:
            at = text.find(self.canaries[number])
            if at >= 0:
                yield number, 0, len(self.canaries[number]), at
        seen: set[tuple[int, int]] = set()
        for position in range(0, len(text) - _GRAM + 1, _STEP):
            for number, start in self.grams.get(text[position : position + _GRAM], ()):
                match = self._extend(text, position, self.canaries[number], start)
                if match is not None and (number, match[0]) not in seen:
                    seen.add((number, match[0]))
                    yield number, match[1], match[2], match[0]

    def scrub(self, text: str) -> str:
        """*text* with every canary fragment masked (for a JSON path or header name that holds one)."""
        for _, _, length, at in sorted(self.search(text), key=lambda hit: -hit[3]):
            text = text[:at] + MASK + text[at + length :]
        return text

    @staticmethod
    def _extend(text: str, position: int, canary: str, start: int) -> tuple[int, int, int] | None:
        """``(text start, canary start, length)`` of the common run through a gram hit, if long enough."""
        left, right = 0, _GRAM
        while min(position, start) > left and text[position - left - 1] == canary[start - left - 1]:
            left += 1
        while position + right < len(text) and start + right < len(canary):
            if text[position + right] != canary[start + right]:
                break
            right += 1
        length = left + right
        return (position - left, start - left, length) if length >= FRAGMENT else None

    def leak(self, hit: tuple[int, int, int, int], encoding: str, where: str) -> _Leak:
        number, start, length, at = hit
        canary = self.canaries[number]
        shown = canary[start : start + 3] if length >= 2 * FRAGMENT else ""
        place = f"{where} @{at}" if encoding in ("raw", "json-escaped") and where == "body" else self.scrub(where)
        return _Leak(number + 1, encoding, place, length, length == len(canary), f"{shown}{MASK}")
