"""What one SQL statement does, as probes need it: the fact dataclasses :mod:`probity.sql.facts` computes.

Every fact is frozen and built once per distinct statement text, so probes share them freely. Table names are
the catalog's (lower case unless quoted); columns are as PostgreSQL resolves them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

__all__ = [
    "ColumnRef",
    "Kind",
    "LiteralUse",
    "OrderKey",
    "Origin",
    "Predicate",
    "Projection",
    "Role",
    "Scope",
    "Setting",
    "StatementFacts",
    "TableRef",
    "Value",
    "ValueKind",
    "Write",
]

_T = TypeVar("_T")


class Kind(StrEnum):
    """What a statement is, by its outermost command."""

    SELECT = "select"
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    TRANSACTION = "transaction"  # BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE
    SET = "set"  # SET, RESET (set_config() is a SELECT with a setting)
    OTHER = "other"


class ValueKind(StrEnum):
    PARAM = "param"  # $n (or a driver placeholder, without a number)
    LITERAL = "literal"  # a string, number or boolean written into the SQL
    NULL = "null"
    COLUMN = "column"
    FUNCTION = "function"  # a call such as current_setting('app.org') or now()
    DEFAULT = "default"  # DEFAULT in INSERT … VALUES
    LIST = "list"  # IN (…), ARRAY[…], BETWEEN's bounds: see ``items``
    SUBQUERY = "subquery"
    EXPRESSION = "expression"  # anything else, e.g. '%' || $1 || '%': see ``params``


@dataclass(frozen=True)
class ColumnRef:
    """A column of a table (or of a CTE / derived table, when it could not be traced to a table)."""

    table: str | None
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}" if self.table else self.column


@dataclass(frozen=True)
class Value:
    """The other side of a comparison, an inserted or assigned value, a LIMIT.

    ``sql`` is the value as PostgreSQL text, casts removed (``$1::uuid`` is ``$1``).
    """

    kind: ValueKind
    sql: str
    param: int | None = None  # n of $n
    literal: str | None = None  # the literal's value, unquoted
    column: ColumnRef | None = None
    function: str | None = None  # lower-case function name
    items: tuple[Value, ...] = ()
    params: tuple[int, ...] = ()  # every $n inside, whatever the kind

    def resolve(self, params: Sequence[str | None]) -> str | None:
        """The value a statement ran with: a bound parameter from *params* (``$1`` is ``params[0]``), a literal.

        >>> Value(ValueKind.PARAM, "$2", param=2).resolve(("a", "20"))
        '20'
        >>> Value(ValueKind.LITERAL, "5", literal="5").resolve(())
        '5'
        """
        if self.kind is ValueKind.LITERAL:
            return self.literal
        if self.kind is ValueKind.PARAM and self.param is not None and 0 < self.param <= len(params):
            return params[self.param - 1]
        return None


class Origin(StrEnum):
    """Why a predicate holds for every row the statement returns or touches."""

    WHERE = "where"  # a top-level AND-ed conjunct of WHERE
    JOIN = "join"  # of an inner join's ON, or an outer join's ON for the null-extended table
    OR_COMMON = "or-common"  # a conjunct found in every branch of a top-level OR
    OUTER = "outer"  # the enclosing query filters this derived table's or CTE's column


@dataclass(frozen=True)
class Predicate:
    """``table.column op value``, e.g. ``accounts.tenant_id = $1``."""

    table: str
    column: str
    op: str  # =, <>, <, <=, >, >=, IN, NOT IN, = ANY, IS, IS NOT, LIKE, ILIKE, BETWEEN, …
    value: Value
    origin: Origin = Origin.WHERE


class Role(StrEnum):
    FROM = "from"
    JOIN = "join"
    TARGET = "target"  # the table an INSERT, UPDATE or DELETE writes
    USING = "using"  # UPDATE … FROM and DELETE … USING tables


@dataclass(frozen=True)
class Scope:
    """One query block: the statement itself, a CTE, a derived table, a subquery, a UNION branch."""

    id: int
    kind: str  # root, cte, derived_table, subquery, set_operation, insert_source
    parent: int | None = None
    name: str | None = None  # the CTE's or derived table's name


@dataclass(frozen=True)
class TableRef:
    """One reference to a table, and the predicates that constrain the rows it contributes.

    ``predicates`` hold for every row (top-level conjuncts, see :class:`Origin`); comparisons of this
    table's columns that sit under an OR do not, and are kept apart in ``or_predicates``.
    """

    table: str
    alias: str
    scope: int
    schema: str | None = None
    role: Role = Role.FROM
    join: str | None = None  # inner, left, right, full, cross
    optional: bool = False  # on the null-extended side of an outer join
    known: bool = True  # the catalog has the table
    predicates: tuple[Predicate, ...] = ()
    or_predicates: tuple[Predicate, ...] = ()

    @property
    def has_or(self) -> bool:
        return bool(self.or_predicates)

    def on(self, column: str) -> tuple[Predicate, ...]:
        """The predicates on *column*.

        >>> p = Predicate("t", "org", "=", Value(ValueKind.PARAM, "$1", param=1))
        >>> [x.value.sql for x in TableRef("t", "t", 0, predicates=(p,)).on("ORG")]
        ['$1']
        """
        return tuple(p for p in self.predicates if p.column == column.lower() or p.column == column)


@dataclass(frozen=True)
class Projection:
    """One output column and the table columns it is computed from (``*`` expanded through the catalog)."""

    name: str
    sources: tuple[ColumnRef, ...] = ()


@dataclass(frozen=True)
class OrderKey:
    sql: str
    column: ColumnRef | None = None  # None when the key is an expression of several columns
    descending: bool = False


@dataclass(frozen=True)
class Write:
    """An INSERT, UPDATE or DELETE: its target, the values it writes and the predicates on the target."""

    kind: Kind
    table: str
    alias: str
    scope: int
    columns: tuple[str, ...] = ()  # INSERT's column list (or the table's columns), UPDATE's SET columns
    rows: tuple[tuple[Value, ...], ...] = ()  # aligned with columns: VALUES rows, the SELECT list, SET values
    source: str = ""  # values, select, default (DEFAULT VALUES), set (UPDATE); "" for DELETE
    predicates: tuple[Predicate, ...] = ()
    returning: tuple[Projection, ...] = ()
    on_conflict: bool = False

    def value(self, column: str, row: int = 0) -> Value | None:
        """The value written to *column* in *row*.

        >>> w = Write(Kind.INSERT, "t", "t", 0, ("a",), ((Value(ValueKind.PARAM, "$1", param=1),),))
        >>> w.value("a").sql, w.value("b")
        ('$1', None)
        """
        if column not in self.columns or row >= len(self.rows):
            return None
        values = self.rows[row]
        index = self.columns.index(column)
        return values[index] if index < len(values) else None


@dataclass(frozen=True)
class LiteralUse:
    """A literal written into WHERE, ON, HAVING, VALUES or SET, and the column it meets, if one."""

    value: Value
    clause: str  # where, on, having, values, set
    column: ColumnRef | None = None


@dataclass(frozen=True)
class Setting:
    """A custom setting the statement sets: ``SET app.org = …`` or ``set_config('app.org', …, is_local)``."""

    name: str
    value: Value
    local: bool = False
    via: str = "set"  # set, set_config


@dataclass(frozen=True)
class StatementFacts:
    """Everything probes read from one statement text. ``parse_error`` set means the rest is empty."""

    text: str
    kind: Kind
    parse_error: str | None = None
    qualified: bool = False  # sqlglot's qualify ran against the catalog (else columns were resolved here)
    statements: int = 1  # more than one when the text holds several statements
    locking: str | None = None  # SELECT … FOR update / no key update / share / key share
    ctes: tuple[str, ...] = ()
    scopes: tuple[Scope, ...] = ()
    tables: tuple[TableRef, ...] = ()
    projections: tuple[Projection, ...] = ()  # what the statement returns: its SELECT list or RETURNING
    star: bool = False  # a * or t.* was written somewhere
    limit: Value | None = None
    offset: Value | None = None
    order_by: tuple[OrderKey, ...] = ()
    writes: tuple[Write, ...] = ()  # the statement's own write first, then data-modifying CTEs
    literals: tuple[LiteralUse, ...] = ()
    settings: tuple[Setting, ...] = ()
    shape: str = ""  # the text with literals and parameters replaced, for grouping repeats (N+1)

    def planned(self, owner: object, name: str, build: Callable[[], _T]) -> _T:
        """What *build* works out from these facts for *owner* (a policy's tagged catalog…), once.

        Probes judge request after request against the same texts: what does not depend on the bound values
        is worked out once and held here, so it is dropped with the facts when the cache evicts them (memory
        stays flat). Not a field: equality, hashing and ``replace`` ignore it. One owner per name at a time
        (a run has one policy): the owner is kept, and another one works the plan out again.

        >>> facts = StatementFacts("SELECT 1", Kind.SELECT)
        >>> facts.planned(Kind, "n", lambda: [1]) is facts.planned(Kind, "n", lambda: [2])
        True
        """
        # one attribute per name, no dict of plans: every object held here is one more for the collector
        slot = f"_plan_{name}"
        entry: tuple[object, _T] | None = self.__dict__.get(slot)
        if entry is None or entry[0] is not owner:
            entry = self.__dict__[slot] = (owner, build())
        return entry[1]

    @property
    def write(self) -> Write | None:
        """The statement's own INSERT/UPDATE/DELETE (not a CTE's).

        >>> StatementFacts("SELECT 1", Kind.SELECT).write is None
        True
        """
        return next((w for w in self.writes if self.scopes[w.scope].kind == "root"), None)

    def refs(self, table: str) -> tuple[TableRef, ...]:
        """Every reference to *table*.

        >>> StatementFacts("…", Kind.SELECT, tables=(TableRef("t", "x", 0),)).refs("T")[0].alias
        'x'
        """
        return tuple(ref for ref in self.tables if ref.table == table or ref.table == table.lower())

    def selected(self, table: str) -> frozenset[str]:
        """The columns of *table* the statement returns (through ``*``, CTEs and derived tables).

        >>> p = Projection("h", (ColumnRef("members", "pin_digest"),))
        >>> sorted(StatementFacts("…", Kind.SELECT, projections=(p,)).selected("members"))
        ['pin_digest']
        """
        wanted = {table, table.lower()}
        return frozenset(s.column for p in self.projections for s in p.sources if s.table in wanted)

    @property
    def table_names(self) -> frozenset[str]:
        return frozenset(ref.table for ref in self.tables)

    def limit_value(self, params: Sequence[str | None]) -> int | None:
        """The LIMIT the statement ran with, resolving ``$n`` from *params*; None without a numeric one.

        >>> StatementFacts("…", Kind.SELECT, limit=Value(ValueKind.PARAM, "$1", param=1)).limit_value(["50"])
        50
        """
        raw = self.limit.resolve(params) if self.limit else None
        return int(raw) if raw is not None and raw.strip().lstrip("-").isdigit() else None
