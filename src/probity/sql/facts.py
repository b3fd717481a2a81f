"""Per-statement facts, computed once per distinct statement text and shared by every probe.

A trace repeats a few hundred distinct texts thousands of times, and parsing plus qualifying costs about a
millisecond, so :func:`statement_facts` keeps a bounded LRU cache keyed by the text (and the catalog it was
read against). Texts that differ only in their string literals (an application that writes its values into
the SQL) share one template per shape, filled in without parsing (:mod:`probity.sql._shapes`). The facts come
from sqlglot's tree only: parsed with the PostgreSQL dialect, qualified against the catalog when that works,
walked by scope. Whatever the text, the caller gets facts, never an exception: SQL sqlglot cannot parse
yields facts with ``parse_error`` set.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema
from sqlglot.tokenizer_core import TokenType

from probity.core.catalog import Catalog
from probity.sql._analysis import Analysis
from probity.sql._conditions import unwrap, value_of
from probity.sql._shapes import ShapeCache
from probity.sql.model import ColumnRef, Kind, Setting, StatementFacts

__all__ = ["CacheInfo", "cache_info", "clear_cache", "statement_facts"]

DIALECT = Dialect.get_or_raise("postgres")
CACHE_SIZE = 4096
_EMPTY = Catalog()

_WORD_KINDS = {
    **dict.fromkeys(("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"), Kind.TRANSACTION),
    **dict.fromkeys(("SET", "RESET"), Kind.SET),
    **dict.fromkeys(("SELECT", "WITH", "VALUES", "TABLE"), Kind.SELECT),
    "INSERT": Kind.INSERT,
    "UPDATE": Kind.UPDATE,
    "DELETE": Kind.DELETE,
}
_TREE_KINDS: tuple[tuple[type[exp.Expr] | tuple[type[exp.Expr], ...], Kind], ...] = (
    (exp.Query, Kind.SELECT),
    (exp.Insert, Kind.INSERT),
    (exp.Update, Kind.UPDATE),
    (exp.Delete, Kind.DELETE),
    ((exp.Transaction, exp.Commit, exp.Rollback), Kind.TRANSACTION),
    (exp.Set, Kind.SET),
)


# -- the cache -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int  # texts not in the cache: computed, or filled in from their shape's template
    size: int
    maxsize: int
    shaped: int = 0  # misses filled in from a shape's template (see ``probity.sql._shapes``), not parsed

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class _Cache:
    """An LRU of facts keyed by (text, catalog identity); the catalog is kept so its id cannot be reused.

    Facts filled in from a shape's template are kept apart and go first when the cache is full: texts with
    literals written in are mostly new each request, and they would push out texts that recur and cost a
    parse to compute again."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize, self.hits, self.misses = maxsize, 0, 0
        self.entries: OrderedDict[tuple[str, int], tuple[Catalog, StatementFacts]] = OrderedDict()
        self.filled: OrderedDict[tuple[str, int], tuple[Catalog, StatementFacts]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, text: str, catalog: Catalog) -> StatementFacts | None:
        key = (text, id(catalog))
        with self.lock:
            found = self.entries if key in self.entries else self.filled
            entry = found.get(key)
            if entry is None or entry[0] is not catalog:
                return None
            found.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, text: str, catalog: Catalog, facts: StatementFacts, filled: bool = False) -> None:
        with self.lock:
            self.misses += 1
            key = (text, id(catalog))
            (self.entries if filled else self.filled).pop(key, None)  # a stale entry, of a catalog now gone
            (self.filled if filled else self.entries)[key] = (catalog, facts)
            while len(self.entries) + len(self.filled) > self.maxsize:
                (self.filled or self.entries).popitem(last=False)

    @property
    def size(self) -> int:
        return len(self.entries) + len(self.filled)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.filled.clear()
            self.hits = self.misses = 0


_CACHE = _Cache(CACHE_SIZE)
_SHAPES = ShapeCache(CACHE_SIZE)


def statement_facts(text: str, catalog: Catalog | None = None) -> StatementFacts:
    """The facts of one statement text, from the cache after the first time.

    >>> facts = statement_facts("SELECT id FROM accounts a WHERE a.tenant_id = $1 LIMIT 20")
    >>> facts.kind.value, [(p.table, p.column, p.op, p.value.sql) for p in facts.tables[0].predicates]
    ('select', [('accounts', 'tenant_id', '=', '$1')])
    >>> facts.limit.literal, statement_facts("SELECT id FROM accounts a WHERE a.tenant_id = $1 LIMIT 20") is facts
    ('20', True)
    """
    catalog = _EMPTY if catalog is None else catalog
    cached = _CACHE.get(text, catalog)
    if cached is not None:
        return cached
    facts, filled = _SHAPES.facts(text, catalog, _guarded)
    _CACHE.put(text, catalog, facts, filled)
    return facts


def cache_info() -> CacheInfo:
    """Hits, misses and size of the facts cache.

    >>> clear_cache(); _ = statement_facts("SELECT 1"); _ = statement_facts("SELECT 1"); cache_info().hit_rate
    0.5
    """
    with _CACHE.lock:
        return CacheInfo(_CACHE.hits, _CACHE.misses, _CACHE.size, _CACHE.maxsize, _SHAPES.filled)


def clear_cache() -> None:
    """Empty the cache and reset its counters.

    >>> clear_cache(); cache_info().size
    0
    """
    _CACHE.clear()
    _SHAPES.clear()


# -- computing facts ---------------------------------------------------------------------------------------


def _guarded(text: str, catalog: Catalog) -> StatementFacts:
    # Probes run over whatever a backend sent; one statement our analysis trips on must not stop a run, so
    # any failure becomes facts that say so (and that the caller can report as inconclusive).
    try:
        return _compute(text, catalog)
    except Exception as exc:
        return StatementFacts(text, _first_word_kind(text), parse_error=f"cannot analyse: {exc!r}")


def _compute(text: str, catalog: Catalog) -> StatementFacts:
    try:
        trees = [tree for tree in sqlglot.parse(text, dialect=DIALECT) if tree is not None]
    except SqlglotError as exc:
        return _unparsed(text, exc)
    if not trees:
        return StatementFacts(text, Kind.OTHER, statements=0)
    parts = [_one(text, tree, index, catalog) for index, tree in enumerate(trees)]
    return parts[0] if len(parts) == 1 else _merge(text, parts)


def _unparsed(text: str, exc: SqlglotError) -> StatementFacts:
    kind = _first_word_kind(text)
    # transaction control sqlglot lacks (RELEASE SAVEPOINT) is fully understood from its first word
    error = None if kind is Kind.TRANSACTION else _first_line(exc)
    return StatementFacts(text, kind, parse_error=error, shape=_token_shape(text))


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _one(text: str, tree: exp.Expr, index: int, catalog: Catalog) -> StatementFacts:
    kind = _tree_kind(tree)
    if kind is None:  # sqlglot read an unknown command as an expression (SAVEPOINT x is "SAVEPOINT AS x")
        return StatementFacts(text, _first_word_kind(text), shape=_token_shape(text))
    star, settings = _uses_star(tree), _settings(tree)
    if kind in (Kind.TRANSACTION, Kind.SET, Kind.OTHER):
        return StatementFacts(text, kind, settings=settings, shape=_shape(tree))
    tree, qualified = _qualified(tree, text, index, catalog)
    analysis = Analysis(tree, catalog)
    limit, offset = analysis.row_cap()
    return StatementFacts(
        text, kind, None, qualified, 1, analysis.locking(), _ctes(tree), analysis.scopes(), analysis.tables(),
        analysis.projections(), star, limit, offset, analysis.order_by(), analysis.writes(), analysis.literals(),
        settings, _shape(_reparsed(text, index)),
    )  # fmt: skip


def _reparsed(text: str, index: int) -> exp.Expr:
    # The shape comes from the statement as written (qualify names literal columns after their values).
    # Parsing again costs less than copying the tree before qualify rewrites it.
    return [tree for tree in sqlglot.parse(text, dialect=DIALECT) if tree is not None][index]


def _tree_kind(tree: exp.Expr) -> Kind | None:
    for types, kind in _TREE_KINDS:
        if isinstance(tree, types):
            return kind
    if isinstance(tree, exp.Command):
        return _WORD_KINDS.get(tree.name.upper(), Kind.OTHER)
    # an expression where a statement should be is sqlglot guessing at a command it does not know
    return None if isinstance(tree, exp.Condition | exp.Alias | exp.Identifier) else Kind.OTHER


def _first_word_kind(text: str) -> Kind:
    try:
        tokens = DIALECT.tokenize(text)
    except SqlglotError:
        return Kind.OTHER
    word = next((token.text.upper() for token in tokens if token.token_type is not TokenType.L_PAREN), "")
    return _WORD_KINDS.get(word, Kind.OTHER)


def _qualified(tree: exp.Expr, text: str, index: int, catalog: Catalog) -> tuple[exp.Expr, bool]:
    """The tree qualified against the catalog, or (when qualify rejects it) with identifiers normalized only.

    *index* is the tree's position among the text's statements, to parse it again after a failure.
    """
    try:
        # in place (a copy costs as much as qualifying); validate off: an unknown table's columns stay
        # unresolved instead of failing the whole statement
        qualified = qualify(
            tree, dialect=DIALECT, schema=_schema(catalog),
            validate_qualify_columns=False, quote_identifiers=False, identify=False,
        )  # fmt: skip
        return qualified, True
    except SqlglotError:
        # qualify may have changed the tree half-way: start again from the text
        return normalize_identifiers(_reparsed(text, index), dialect=DIALECT), False


_SCHEMAS: dict[int, tuple[Catalog, MappingSchema]] = {}


def _schema(catalog: Catalog) -> MappingSchema:
    cached = _SCHEMAS.get(id(catalog))
    if cached is None or cached[0] is not catalog:
        # names are stored as PostgreSQL resolved them: normalizing again would fold quoted names
        mapping: dict[str, object] = {table.name: {c.name: c.type for c in table.columns} for table in catalog}
        cached = (catalog, MappingSchema(mapping, dialect=DIALECT, normalize=False))
        if len(_SCHEMAS) >= 8:
            _SCHEMAS.clear()
        _SCHEMAS[id(catalog)] = cached
    return cached[1]


def _ctes(tree: exp.Expr) -> tuple[str, ...]:
    return tuple(cte.alias for cte in tree.find_all(exp.CTE))


def _uses_star(tree: exp.Expr) -> bool:
    lists = [select.expressions for select in tree.find_all(exp.Select)]
    lists += [returning.expressions for returning in tree.find_all(exp.Returning)]
    return any(_is_star(expression) for expressions in lists for expression in expressions)


def _is_star(node: exp.Expr) -> bool:
    return isinstance(node, exp.Star) or (isinstance(node, exp.Column) and isinstance(node.this, exp.Star))


# -- settings --------------------------------------------------------------------------------------------


def _settings(tree: exp.Expr) -> tuple[Setting, ...]:
    """Custom settings a statement sets: ``SET [LOCAL] app.x = …`` and ``set_config('app.x', …, local)``."""
    found = [_set_item(item) for item in tree.expressions] if isinstance(tree, exp.Set) else []
    found += [_set_config(call) for call in tree.find_all(exp.Anonymous) if call.name.lower() == "set_config"]
    return tuple(setting for setting in found if setting is not None)


def _set_item(item: exp.Expr) -> Setting | None:
    assignment = item.this
    if not isinstance(assignment, exp.EQ):
        return None
    local = str(item.args.get("kind") or "").upper() == "LOCAL"
    name = assignment.this.sql(DIALECT).lower()
    return Setting(name, value_of(assignment.expression, _bare_column), local, "set")


def _set_config(call: exp.Anonymous) -> Setting | None:
    arguments = call.expressions
    if len(arguments) < 2 or not unwrap(arguments[0]).is_string:
        return None
    local = len(arguments) > 2 and unwrap(arguments[2]).sql(DIALECT).upper() == "TRUE"
    value = value_of(arguments[1], _bare_column)
    return Setting(unwrap(arguments[0]).name.lower(), value, local, "set_config")


def _bare_column(column: exp.Column) -> ColumnRef:
    return ColumnRef(column.table or None, column.name)


# -- shape -----------------------------------------------------------------------------------------------


def _shape(tree: exp.Expr) -> str:
    """The statement with every literal and parameter a placeholder, and IN lists of them one placeholder.

    Comments (sqlcommenter's traceparent) are dropped, so the same query of two requests has one shape. The
    tree is rewritten in place: it must be a tree of its own.
    """
    return tree.transform(_placeholder, copy=False).sql(DIALECT, comments=False, copy=False)


def _placeholder(node: exp.Expr) -> exp.Expr:
    if isinstance(node.parent, exp.Ordered | exp.Group):  # ORDER BY 2 names a column: not a value
        return node
    if _is_constant(node, through_casts=False):
        return exp.Placeholder()
    if isinstance(node, exp.In) and node.expressions and all(_is_constant(e) for e in node.expressions):
        return exp.In(this=node.this.transform(_placeholder, copy=False), expressions=[exp.Placeholder()])
    return node


def _is_constant(node: exp.Expr, through_casts: bool = True) -> bool:
    value = unwrap(node) if through_casts else node
    return isinstance(value, exp.Literal | exp.Parameter | exp.Placeholder) or (
        isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal)
    )


def _token_shape(text: str) -> str:
    # SQL sqlglot cannot parse still has a shape: its tokens, with strings, numbers and parameters as ?
    try:
        tokens = DIALECT.tokenize(text)
    except SqlglotError:
        return " ".join(text.split())
    constant = (TokenType.STRING, TokenType.NUMBER, TokenType.PARAMETER)
    words: list[str] = []
    for previous, token in zip([None, *tokens], tokens, strict=False):
        if token.token_type is TokenType.NUMBER and previous and previous.token_type is TokenType.PARAMETER:
            continue  # $1 is a PARAMETER token then a NUMBER: one placeholder
        words.append("?" if token.token_type in constant else token.text)
    return " ".join(words)


# -- several statements in one text ------------------------------------------------------------------------


def _merge(text: str, parts: list[StatementFacts]) -> StatementFacts:
    """One facts for a text of several statements: the first data statement's, with every part's tables."""
    data = [p for p in parts if p.tables] or [p for p in parts if p.kind not in (Kind.TRANSACTION, Kind.SET)]
    main = (data or parts)[0]
    offsets, total = [], 0
    for part in parts:
        offsets.append(total)
        total += len(part.scopes)
    shifted = [_shift(part, offset) for part, offset in zip(parts, offsets, strict=True)]
    return replace(
        shifted[parts.index(main)],
        text=text,
        statements=len(parts),
        shape="; ".join(part.shape for part in parts),
        scopes=tuple(scope for part in shifted for scope in part.scopes),
        tables=tuple(table for part in shifted for table in part.tables),
        writes=tuple(write for part in shifted for write in part.writes),
        literals=tuple(literal for part in shifted for literal in part.literals),
        settings=tuple(setting for part in shifted for setting in part.settings),
        ctes=tuple(cte for part in shifted for cte in part.ctes),
    )


def _shift(facts: StatementFacts, offset: int) -> StatementFacts:
    def parent(scope_parent: int | None) -> int | None:
        return None if scope_parent is None else scope_parent + offset

    scopes = tuple(replace(s, id=s.id + offset, parent=parent(s.parent)) for s in facts.scopes)
    tables = tuple(replace(t, scope=t.scope + offset) for t in facts.tables)
    writes = tuple(replace(w, scope=w.scope + offset) for w in facts.writes)
    return replace(facts, scopes=scopes, tables=tables, writes=writes)
