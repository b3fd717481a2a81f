"""Facts shared by statement texts that differ only in their string literals.

An application that writes its values into the SQL (psycopg2, literal SQL) sends a new text for every
request, so the facts cache keyed by text never hits. Such texts cut at their quotes (``text.split("'")``)
have the same parts outside the quotes: that is the *shape key*, with which literals are equal to each
other. For the first text of a shape, the facts are computed twice: for the text itself, and for a
*template* whose literals are sentinels (``'\\ue000' n '\\ue001'``, one per distinct value). The shape is
trusted only when

- sqlglot's tokenizer reads every quoted part as one plain string literal (not a comment, an ``E''`` string,
  a dollar-quoted string or a doubled quote), so any text with the same key tokenizes the same way;
- the template's facts hold the sentinels only where a literal's own SQL or value is echoed
  (``Value.sql``, ``Value.literal``) and in the text. A literal that shows anywhere else (a setting's name
  in ``set_config('app.org', …)``, a column named after its value) is *kept*: its value stays in the
  template, which then serves only the texts with that value (a few templates per shape at most);
- the template's facts with the first text's values put back are equal to the first text's own facts.

Then the facts of another text of the shape are the template's with its values put back: exact, and without
parsing. Values that are not plain (a quote, a backslash, an unprintable character, a sentinel character)
keep a text out of the shape cache; so does a shape that fails a check (every text of it is computed).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import TokenType

from probity.core.catalog import Catalog
from probity.sql.model import StatementFacts, Value

__all__ = ["MAX_LEARNED_LITERALS", "Lifted", "ShapeCache", "lift"]

DIALECT = Dialect.get_or_raise("postgres")
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: never in SQL the shape cache accepts


@dataclass(frozen=True)
class Lifted:
    """A text cut at its quotes: the shape key, the distinct literal values, and the parts themselves."""

    key: tuple[tuple[str, ...], tuple[int, ...]]  # the parts outside quotes; each literal's value class
    values: tuple[str, ...]  # the distinct literal values, in order of first appearance
    parts: tuple[str, ...]

    def sentinel_text(self, kept: frozenset[int] = frozenset()) -> str:
        """The text with each literal replaced by the sentinel of its value class (but the classes *kept*)."""
        outside, classes = self.key
        pieces = [outside[0]]
        for index, number in enumerate(classes):
            value = self.values[number] if number in kept else _sentinel(number)
            pieces += ["'", value, "'", outside[index + 1]]
        return "".join(pieces)

    def pick(self, classes: frozenset[int]) -> tuple[str, ...]:
        """The values of *classes*, in class order."""
        return tuple(self.values[number] for number in sorted(classes))


def lift(text: str) -> Lifted | None:
    """The text's shape, or None when it has no string literal or one that is not plain.

    >>> lifted = lift("SELECT * FROM t WHERE a = 'x' AND b = 'y' AND c = 'x'")
    >>> lifted.key, lifted.values
    ((('SELECT * FROM t WHERE a = ', ' AND b = ', ' AND c = ', ''), (0, 1, 0)), ('x', 'y'))
    >>> lift("SELECT 1") is None, lift("SELECT 'a\\\\b'") is None
    (True, True)
    """
    parts = text.split("'")
    if len(parts) < 3 or len(parts) % 2 == 0 or _OPEN in text or _CLOSE in text:
        return None
    literals = parts[1::2]
    if not all(_plain(value) for value in literals):
        return None
    classes: dict[str, int] = {}
    pattern = tuple(classes.setdefault(value, len(classes)) for value in literals)
    return Lifted((tuple(parts[0::2]), pattern), tuple(classes), tuple(parts))


def _plain(value: str) -> bool:
    # printable and free of quotes and backslashes: the literal's SQL is the value between two quotes
    return value.isprintable() and "\\" not in value


def _sentinel(number: int) -> str:
    return f"{_OPEN}{number}{_CLOSE}"


# -- trusting a shape --------------------------------------------------------------------------------------


def _aligned(lifted: Lifted) -> bool:
    """Whether the tokenizer reads each quoted part of the text as one plain string literal, and no other."""
    text = "'".join(lifted.parts)
    try:
        strings = [t for t in DIALECT.tokenize(text) if t.token_type is TokenType.STRING]
    except SqlglotError:
        return False
    offset, quotes = 0, []
    for part in lifted.parts[:-1]:
        offset += len(part)
        quotes.append(offset)
        offset += 1
    pairs = list(zip(quotes[0::2], quotes[1::2], strict=True))
    return len(strings) == len(pairs) and all(
        (token.start, token.end, token.text) == (start, end, value)
        for token, (start, end), value in zip(strings, pairs, lifted.parts[1::2], strict=True)
    )


class _Tainted(Exception):
    """Sentinels reached a part of the facts that is more than an echo of their literal (*classes*: whose)."""

    def __init__(self, classes: frozenset[int]) -> None:
        super().__init__(sorted(classes))
        self.classes = classes


# A plan says where the template's facts hold sentinels, to rebuild only those parts for another text.
Plan = Any  # "text" | tuple[str | int, ...] (pieces) | ("fields", ...) | ("items", ...)
_ECHOES = {(Value, "sql"), (Value, "literal")}


def _plan(value: object, owner: type | None = None, name: str = "") -> Plan | None:
    if isinstance(value, str):
        return _string_plan(value, owner, name)
    if isinstance(value, tuple):
        items = tuple((index, plan) for index, item in enumerate(value) if (plan := _plan(item)) is not None)
        return ("items", items) if items else None
    if is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        found = [(f.name, plan) for f in fields(value) if (plan := _plan(getattr(value, f.name), kind, f.name))]
        return ("fields", tuple(found)) if found else None
    if _OPEN in repr(value):  # a set, dict or anything else holding a sentinel: not rebuilt here
        raise _Tainted(frozenset())
    return None


def _string_plan(value: str, owner: type | None, name: str) -> Plan | None:
    if _OPEN not in value:
        return None
    if owner is StatementFacts and name == "text":
        return "text"
    pieces: list[str | int] = []
    for chunk in value.split(_OPEN):
        number, closed, rest = chunk.partition(_CLOSE)
        if closed and number.isdigit():
            pieces += [int(number), rest]
        elif pieces:
            raise _Tainted(frozenset())  # a sentinel character that is not a whole sentinel
        else:
            pieces.append(chunk)
    if (owner, name) not in _ECHOES:
        raise _Tainted(frozenset(piece for piece in pieces if isinstance(piece, int)))
    return tuple(piece for piece in pieces if piece != "")


# A compiled plan: the template's value (or part of it), the text's literal values and the text -> the
# text's value. Compiled once per template: a closure per node costs much less than reading the plan per fill.
Filler = Callable[[Any, tuple[str, ...], str], Any]


def _compile(plan: Plan, value: Any) -> Filler:
    """The filler of *plan* for the template's *value* (its types known once, not asked per fill)."""
    if plan == "text":
        return _the_text
    if plan[0] == "fields":
        inner = tuple((name, _compile(part, getattr(value, name))) for name, part in plan[1])
        return _fields_filler(inner) if hasattr(value, "__dict__") else _replaced_filler(inner)
    if plan[0] == "items":
        return _items_filler(tuple((index, _compile(part, value[index])) for index, part in plan[1]))
    return _pieces_filler(plan)


def _the_text(value: Any, values: tuple[str, ...], text: str) -> str:
    return text


def _fields_filler(inner: tuple[tuple[str, Filler], ...]) -> Filler:
    def fill(value: Any, values: tuple[str, ...], text: str) -> Any:
        copy = object.__new__(type(value))  # a frozen dataclass copied without its __init__: much cheaper
        fields_ = copy.__dict__
        fields_.update(value.__dict__)
        for name, filler in inner:
            fields_[name] = filler(fields_[name], values, text)
        return copy

    return fill


def _replaced_filler(inner: tuple[tuple[str, Filler], ...]) -> Filler:
    def fill(value: Any, values: tuple[str, ...], text: str) -> Any:
        return replace(value, **{name: filler(getattr(value, name), values, text) for name, filler in inner})

    return fill


def _items_filler(inner: tuple[tuple[int, Filler], ...]) -> Filler:
    def fill(value: Any, values: tuple[str, ...], text: str) -> Any:
        items = list(value)
        for index, filler in inner:
            items[index] = filler(value[index], values, text)
        return tuple(items)

    return fill


def _pieces_filler(pieces: tuple[str | int, ...]) -> Filler:
    numbers = [piece for piece in pieces if isinstance(piece, int)]
    if len(numbers) == 1:  # one literal's value, alone or quoted: the usual case
        at = pieces.index(numbers[0])
        before, number, after = "".join(map(str, pieces[:at])), numbers[0], "".join(map(str, pieces[at + 1 :]))
        return lambda value, values, text: before + values[number] + after
    return lambda value, values, text: "".join(values[p] if isinstance(p, int) else p for p in pieces)


@dataclass(frozen=True)
class _Template:
    # The facts of the sentinel text, never handed to a probe: they hold no plan (StatementFacts.planned) that
    # filling would copy into another text's facts.
    facts: StatementFacts
    plan: Plan
    filler: Filler = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "filler", _compile(self.plan, self.facts))

    def fill(self, lifted: Lifted, text: str) -> StatementFacts:
        filled: StatementFacts = self.filler(self.facts, lifted.values, text)
        return filled


Compute = Callable[[str], StatementFacts]


def _template(lifted: Lifted, text: str, facts: StatementFacts, compute: Compute, kept: frozenset[int]) -> Any:
    """The template of the shape with the values of *kept* classes in place, if it gives *facts* back for
    *text*; None otherwise. Raises :class:`_Tainted` when a sentinel is more than an echo."""
    sentinel_facts = compute(lifted.sentinel_text(kept))
    if sentinel_facts.parse_error is not None:
        return None
    plan = _plan(sentinel_facts)
    template = _Template(sentinel_facts, plan if plan is not None else ("fields", ()))
    return template if template.fill(lifted, text) == facts else None


@dataclass
class _Shape:
    """A trusted shape: the value classes that are more than echoes (a setting's name: *kept*, their values
    part of the template), and a template per combination of their values."""

    kept: frozenset[int]
    templates: dict[tuple[str, ...], _Template | None]


_KEEP_ROUNDS = 3  # tries at finding the kept classes of a shape
# Learning a shape costs about three computations of a text's facts (the text's, the template's, and its plan
# compiled and checked), and pays off only when the shape comes back. A text with more literals than this is
# a bulk statement (INSERT … VALUES of many rows), whose shape seldom comes back with the same number of rows:
# its facts are computed, no more (5,000 rows of three literals: 3.2 s with a shape learned, 0.8 s without).
MAX_LEARNED_LITERALS = 256
_VARIANTS = 16  # templates per shape: beyond, a kept literal varies too much to be worth a template each


def _learn(lifted: Lifted, text: str, facts: StatementFacts, compute: Compute) -> _Shape | None:
    """The shape of *text* (whose *facts* are known), or None when it cannot be trusted."""
    if not _aligned(lifted):
        return None
    kept: frozenset[int] = frozenset()
    for _ in range(_KEEP_ROUNDS):
        try:
            template = _template(lifted, text, facts, compute, kept)
        except _Tainted as tainted:
            if not tainted.classes or tainted.classes <= kept:
                return None
            kept |= tainted.classes
            continue
        return None if template is None else _Shape(kept, {lifted.pick(kept): template})
    return None


def _variant(shape: _Shape, lifted: Lifted, text: str, facts: StatementFacts, compute: Compute) -> _Template | None:
    try:
        template: _Template | None = _template(lifted, text, facts, compute, shape.kept)
    except _Tainted:
        template = None
    return template


# -- the cache ---------------------------------------------------------------------------------------------


class ShapeCache:
    """Shapes by (shape key, catalog), bounded, least recently used first out."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.entries: OrderedDict[tuple[object, int], tuple[Catalog, _Shape | None]] = OrderedDict()
        self.filled = 0  # facts produced from a template instead of computed
        self.lock = threading.Lock()

    def facts(
        self, text: str, catalog: Catalog, compute: Callable[[str, Catalog], StatementFacts]
    ) -> tuple[StatementFacts, bool]:
        """The facts of *text*, and whether they were filled in from its shape's template (else computed)."""
        lifted = lift(text)
        if lifted is None or len(lifted.key[1]) > MAX_LEARNED_LITERALS:
            return compute(text, catalog), False
        key = (lifted.key, id(catalog))
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None and entry[0] is catalog:
                self.entries.move_to_end(key)
        if entry is not None and entry[0] is catalog:
            return self._from(entry[1], lifted, text, lambda sql: compute(sql, catalog))
        facts = compute(text, catalog)
        shape = _learn(lifted, text, facts, lambda sql: compute(sql, catalog))
        with self.lock:
            self.entries[key] = (catalog, shape)
            while len(self.entries) > self.maxsize:
                self.entries.popitem(last=False)
        return facts, False

    def _from(self, shape: _Shape | None, lifted: Lifted, text: str, compute: Compute) -> tuple[StatementFacts, bool]:
        if shape is None:
            return compute(text), False
        kept = lifted.pick(shape.kept)
        with self.lock:
            known = kept in shape.templates
            template = shape.templates.get(kept)
            self.filled += template is not None
        if template is not None:
            return template.fill(lifted, text), True
        facts = compute(text)
        if not known and len(shape.templates) < _VARIANTS:
            found = _variant(shape, lifted, text, facts, compute)
            with self.lock:
                shape.templates[kept] = found
        return facts, False

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.filled = 0
