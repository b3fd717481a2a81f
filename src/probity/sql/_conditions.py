"""Conditions taken apart: which comparisons hold for every row, which sit under an OR, and their values.

A WHERE (or inner join's ON) holds for every row, so each of its top-level AND-ed conjuncts does too. A
comparison under an OR does not, with one exception worth keeping: a conjunct that appears in *every* branch
of the OR, as ``org = $1`` in ``(org = $1 AND a) OR (org = $1 AND b)``, holds whichever branch matched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.generator import Generator

from probity.sql.model import ColumnRef, Value, ValueKind

__all__ = [
    "Comparison",
    "comparisons",
    "conjuncts",
    "list_value",
    "or_common",
    "or_comparisons",
    "unwrap",
    "value_of",
]

DIALECT = Dialect.get_or_raise("postgres")
_THREAD = threading.local()  # see _generator

_OPERATORS: dict[type[exp.Expr], str] = {
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.Like: "LIKE",
    exp.ILike: "ILIKE",
    exp.Is: "IS",
    exp.NullSafeEQ: "IS NOT DISTINCT FROM",
    exp.NullSafeNEQ: "IS DISTINCT FROM",
}
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
_NEGATED = {"IS": "IS NOT", "IN": "NOT IN", "LIKE": "NOT LIKE", "ILIKE": "NOT ILIKE", "BETWEEN": "NOT BETWEEN"}


@dataclass(frozen=True)
class Comparison:
    """``column op value`` as found in the tree; IN (…) lists and BETWEEN's bounds are ``items`` instead.

    The items stay the tree's own nodes (wrapping them in a new node would re-parent them).
    """

    column: exp.Column
    op: str
    value: exp.Expr | None
    items: tuple[exp.Expr, ...] = ()


def conjuncts(condition: exp.Expr) -> list[exp.Expr]:
    """The top-level AND-ed parts of *condition*, parentheses removed.

    >>> import sqlglot
    >>> [c.sql() for c in conjuncts(sqlglot.condition("(a = 1 AND (b = 2)) AND (c = 3 OR d = 4)"))]
    ['a = 1', 'b = 2', 'c = 3 OR d = 4']
    """
    return _operands(condition, exp.And)


def _operands(condition: exp.Expr, connector: type[exp.Connector]) -> list[exp.Expr]:
    # Expr.flatten stops at parentheses; operands of nested parenthesized ANDs are still conjuncts
    found, stack = [], [condition]
    while stack:
        node = stack.pop().unnest()
        if isinstance(node, connector):
            stack += [node.expression, node.this]
        else:
            found.append(node)
    return found


def or_common(condition: exp.Or) -> list[exp.Expr]:
    """The conjuncts every branch of an OR shares: they hold whichever branch matched.

    >>> import sqlglot
    >>> condition = sqlglot.condition("(org = $1 AND a = 1) OR (org = $1 AND b = 2)", dialect="postgres")
    >>> [c.sql("postgres") for c in or_common(condition)]
    ['org = $1']
    """
    branches = [conjuncts(branch) for branch in _operands(condition, exp.Or)]
    return [part for part in branches[0] if all(part in other for other in branches[1:])]


def comparisons(condition: exp.Expr) -> list[Comparison]:
    """The column comparisons one conjunct makes; a column-to-column comparison yields one per column.

    >>> import sqlglot
    >>> condition = sqlglot.condition("$1::uuid > t.at", dialect="postgres")
    >>> [(c.column.sql(), c.op, c.value.sql("postgres")) for c in comparisons(condition)]
    [('t.at', '<', '$1')]
    """
    node = condition.unnest()
    if isinstance(node, exp.Not) and isinstance(node.this.unnest(), exp.Column):  # NOT is_archived
        return [Comparison(node.this.unnest(), "=", exp.false())]
    if isinstance(node, exp.Not):
        return [_negated(c) for c in _positive(node.this)]
    return _positive(node)


def _negated(comparison: Comparison) -> Comparison:
    return replace(comparison, op=_NEGATED.get(comparison.op, f"NOT {comparison.op}"))


def _positive(node: exp.Expr) -> list[Comparison]:
    node = node.unnest()
    if isinstance(node, exp.Column):  # a bare boolean column: WHERE is_archived
        return [Comparison(node, "=", exp.true())]
    if isinstance(node, exp.In):
        return _in(node)
    if isinstance(node, exp.Between):
        return _between(node)
    op = _OPERATORS.get(type(node))
    found = _binary(node, op) if op else []
    # sqlglot writes x IS NOT NULL as Is(x, NULL, negate=True)
    return [_negated(c) for c in found] if node.args.get("negate") else found


def _in(node: exp.In) -> list[Comparison]:
    column = unwrap(node.this)
    if not isinstance(column, exp.Column):
        return []
    query = node.args.get("query") or node.args.get("unnest")
    return [Comparison(column, "IN", query, () if query else tuple(node.expressions))]


def _between(node: exp.Between) -> list[Comparison]:
    column = unwrap(node.this)
    bounds = (node.args["low"], node.args["high"])
    return [Comparison(column, "BETWEEN", None, bounds)] if isinstance(column, exp.Column) else []


def _binary(node: exp.Expr, op: str) -> list[Comparison]:
    left, right = unwrap(node.this), unwrap(node.expression)
    if isinstance(right, exp.Any | exp.All):  # x = ANY($1), x <> ALL(…)
        quantifier = "ANY" if isinstance(right, exp.Any) else "ALL"
        return [Comparison(left, f"{op} {quantifier}", unwrap(right.this))] if isinstance(left, exp.Column) else []
    found = [Comparison(left, op, right)] if isinstance(left, exp.Column) else []
    if isinstance(right, exp.Column):
        found.append(Comparison(right, _FLIPPED.get(op, op), left))
    return found


def or_comparisons(condition: exp.Or) -> list[Comparison]:
    """Every comparison anywhere under an OR (nested queries excluded: they are their own scopes).

    >>> import sqlglot
    >>> [c.column.sql() for c in or_comparisons(sqlglot.condition("a = 1 OR (b = 2 AND NOT c IS NULL)"))]
    ['a', 'b', 'c']
    """
    return [found for leaf in _leaves(condition) for found in comparisons(leaf)]


def _leaves(node: exp.Expr) -> Iterator[exp.Expr]:
    for part in _operands(node, exp.Or):
        for leaf in _operands(part, exp.And):
            yield from _leaves(leaf) if isinstance(leaf, exp.Or) else [leaf]


def unwrap(node: exp.Expr) -> exp.Expr:
    """*node* without casts and parentheses: ``($1)::uuid`` is ``$1``.

    >>> import sqlglot
    >>> unwrap(sqlglot.parse_one("(CAST($1 AS UUID))", dialect="postgres")).sql("postgres")
    '$1'
    """
    while isinstance(node, exp.Cast | exp.Paren):
        node = node.this
    return node


def value_of(node: exp.Expr, column_ref: Callable[[exp.Column], ColumnRef]) -> Value:
    """What kind of value *node* is; *column_ref* names the table of a column.

    >>> import sqlglot
    >>> value = value_of(sqlglot.parse_one("current_setting('app.org')::uuid", dialect="postgres"), None)
    >>> value.kind.value, value.function, value.sql
    ('function', 'current_setting', "CURRENT_SETTING('app.org')")
    """
    node = unwrap(node)
    # generating SQL copies the node first unless told not to; only a query could be rewritten by it
    sql = _generator().generate(node, copy=isinstance(node, exp.Query))
    return Value(sql=sql, params=_params(node), **_classified(node, column_ref))


def _classified(node: exp.Expr, column_ref: Callable[[exp.Column], ColumnRef]) -> dict[str, Any]:
    """The value's kind and what that kind knows of it, as fields of :class:`Value`."""
    if isinstance(node, exp.Parameter | exp.Placeholder):
        return {"kind": ValueKind.PARAM, "param": _param(node)}
    if _is_literal(node):
        return {"kind": ValueKind.LITERAL, "literal": _literal(node)}
    if isinstance(node, exp.Null):
        return {"kind": ValueKind.NULL}
    if isinstance(node, exp.Column):
        return {"kind": ValueKind.COLUMN, "column": column_ref(node)}
    if isinstance(node, exp.Var) and node.name.upper() == "DEFAULT":
        return {"kind": ValueKind.DEFAULT}
    if isinstance(node, exp.Query | exp.Subquery):
        return {"kind": ValueKind.SUBQUERY}
    if isinstance(node, exp.Tuple | exp.Array):
        return {"kind": ValueKind.LIST, "items": tuple(value_of(item, column_ref) for item in node.expressions)}
    if isinstance(node, exp.Func) and not isinstance(node, exp.Connector):
        return {"kind": ValueKind.FUNCTION, "function": _function_name(node)}
    return {"kind": ValueKind.EXPRESSION}


def _generator() -> Generator:
    """This thread's SQL generator: ``node.sql()`` would make a new one for every value (a bulk INSERT's tens of
    thousands), and a generator keeps nothing from one call to the next but what a call is using."""
    generator: Generator | None = getattr(_THREAD, "generator", None)
    if generator is None:
        generator = _THREAD.generator = DIALECT.generator(comments=False)
    return generator


def list_value(items: tuple[exp.Expr, ...], column_ref: Callable[[exp.Column], ColumnRef]) -> Value:
    """The value of an IN (…) list or BETWEEN's bounds.

    >>> import sqlglot
    >>> values = sqlglot.parse_one("x IN ($1, 'a')", dialect="postgres").expressions
    >>> [item.kind.value for item in list_value(tuple(values), None).items]
    ['param', 'literal']
    """
    values = tuple(value_of(item, column_ref) for item in items)
    params = tuple(sorted({n for value in values for n in value.params}))
    sql = "(" + ", ".join(value.sql for value in values) + ")"
    return Value(ValueKind.LIST, sql, items=values, params=params)


def _params(node: exp.Expr) -> tuple[int, ...]:
    numbers = (_param(parameter) for parameter in node.find_all(exp.Parameter))
    return tuple(sorted({number for number in numbers if number is not None}))


def _is_literal(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal | exp.Boolean) or (isinstance(node, exp.Neg) and node.this.is_number)


def _literal(node: exp.Expr) -> str:
    if isinstance(node, exp.Boolean):
        return "true" if node.this else "false"
    if isinstance(node, exp.Neg):
        return f"-{node.this.this}"
    return str(node.this)


def _param(node: exp.Expr) -> int | None:
    name = node.name
    return int(name) if name.isdigit() else None


def _function_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
