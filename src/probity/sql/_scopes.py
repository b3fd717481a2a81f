"""Query blocks ("units") of a statement: sqlglot's scopes, plus the INSERT/UPDATE/DELETE statements themselves.

``traverse_scope`` yields a scope for every SELECT, set operation, CTE, derived table and subquery, but none for
a data-modifying statement (its target and WHERE belong to no scope), none inside a data-modifying CTE, and
none for a subquery in INSERT … VALUES. A unit is one of those blocks with what it reads (``sources``: alias →
table or child unit) and the unit it is nested in; the missing blocks are added here from the syntax tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeAlias

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

__all__ = ["Unit", "encloses", "query_of", "units"]

Source: TypeAlias = "exp.Table | Unit"
Found: TypeAlias = "dict[int, tuple[Unit, Scope | None]]"
_DML = (exp.Insert, exp.Update, exp.Delete)


@dataclass(eq=False)
class Unit:
    """One query block and what it reads."""

    node: exp.Expr
    kind: str = "subquery"
    parent: Unit | None = None
    name: str | None = None
    sources: dict[str, Source] = field(default_factory=dict)
    id: int = -1

    @property
    def is_dml(self) -> bool:
        return isinstance(self.node, _DML)

    def source_of(self, alias: str) -> tuple[Unit, Source] | None:
        """The unit (this one or an enclosing one) that reads *alias*, and what it is."""
        unit: Unit | None = self
        while unit is not None:
            if alias in unit.sources:
                return unit, unit.sources[alias]
            unit = unit.parent
        return None


def query_of(node: exp.Expr) -> exp.Expr:
    """The query inside a Subquery wrapper (derived tables and parenthesized UNION branches are wrapped).

    >>> import sqlglot
    >>> query_of(sqlglot.parse_one("SELECT * FROM (SELECT 1) AS s").find(exp.Subquery)).sql()
    'SELECT 1'
    """
    while isinstance(node, exp.Subquery):
        node = node.this
    return node


def units(tree: exp.Expr) -> list[Unit]:
    """Every query block of *tree*, the statement's own first, in the tree's order.

    >>> import sqlglot
    >>> sql = "WITH d AS (DELETE FROM t RETURNING id) INSERT INTO a SELECT id FROM d"
    >>> tree = sqlglot.parse_one(sql, dialect="postgres")
    >>> [(u.kind, u.name, sorted(u.sources)) for u in units(tree)]
    [('root', None, ['a']), ('insert_source', None, ['d']), ('cte', 'd', ['t'])]
    """
    found: Found = {}
    for scope in _scopes(tree):
        node = query_of(scope.expression)
        if not isinstance(node, exp.Table | exp.UDTF):  # bare FROM tables of DML: the DML unit has them
            found.setdefault(id(node), (Unit(node), scope))
    for node in tree.find_all(*_DML):
        found[id(node)] = (Unit(node), None)
    order = {id(node): position for position, node in enumerate(tree.walk(bfs=False))}
    ordered = sorted(found.values(), key=lambda pair: order.get(id(pair[0].node), 0))
    for position, (unit, _) in enumerate(ordered):
        unit.id, unit.parent = position, _enclosing(unit.node, found)
        unit.kind, unit.name = _position(unit.node, tree)
    for unit, its_scope in ordered:
        if its_scope is None:  # an INSERT/UPDATE/DELETE: no scope of sqlglot's
            unit.sources = _dml_sources(unit.node, found)
        else:
            unit.sources = _scope_sources(its_scope, unit, found)
    return [unit for unit, _ in ordered]


def _scopes(tree: exp.Expr) -> Iterator[Scope]:
    # sqlglot misses queries inside data-modifying CTEs and INSERT … VALUES: traverse those from their own roots
    covered: set[int] = set()
    for root in [tree, *(node for node in tree.find_all(*_DML) if node is not tree), *_values_queries(tree)]:
        for scope in traverse_scope(root):
            if id(scope.expression) not in covered:
                covered.add(id(scope.expression))
                yield scope


def _values_queries(tree: exp.Expr) -> Iterator[exp.Expr]:
    for values in tree.find_all(exp.Values):
        yield from (query_of(sub) for sub in values.find_all(exp.Subquery) if sub.parent_select is None)


def _enclosing(node: exp.Expr, found: Found) -> Unit | None:
    ancestor = node.parent
    while ancestor is not None and id(ancestor) not in found:
        ancestor = ancestor.parent
    return found[id(ancestor)][0] if ancestor is not None else None


def _position(node: exp.Expr, tree: exp.Expr) -> tuple[str, str | None]:
    """The unit's kind and name, from where it sits in the tree."""
    wrapper = node.parent if isinstance(node.parent, exp.Subquery) else node
    holder = wrapper.parent
    if node is tree:
        return "root", None
    if isinstance(holder, exp.CTE):
        return "cte", holder.alias
    if isinstance(holder, exp.SetOperation):
        return "set_operation", None
    if isinstance(holder, exp.Insert) and holder.expression is wrapper:
        return "insert_source", None
    if isinstance(wrapper, exp.Subquery) and isinstance(holder, exp.From | exp.Join):
        return "derived_table", wrapper.alias or None
    return "subquery", None


def _scope_sources(scope: Scope, unit: Unit, found: Found) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    tables = {table.alias_or_name: table for table in _relations(unit.node) if isinstance(table, exp.Table)}
    for alias, source in scope.sources.items():
        named = tables.get(alias)
        cte = _cte_named(unit, named, found) if named is not None else None
        if cte is not None and (cte.is_dml or encloses(cte, unit)):
            sources[alias] = cte
        elif isinstance(source, exp.Table):
            sources[alias] = source
        elif (child := found.get(id(query_of(source.expression)))) is not None:
            sources[alias] = child[0]
    return sources


def _relations(node: exp.Expr) -> list[exp.Expr]:
    from_ = node.args.get("from_")
    first = [from_.this] if isinstance(from_, exp.From) else []
    return first + [join.this for join in node.args.get("joins") or ()]


def _cte_named(unit: Unit, table: exp.Table, found: Found) -> Unit | None:
    # sqlglot maps a data-modifying CTE's name to the wrong scope (the last one inside it) or to nothing, and
    # a recursive CTE's reference to itself to its first branch: find the CTE by name instead
    node: exp.Expr | None = None if table.db else unit.node
    while node is not None:
        with_ = node.args.get("with_")
        for cte in with_.expressions if with_ else ():
            if cte.alias == table.name and id(query_of(cte.this)) in found:
                return found[id(query_of(cte.this))][0]
        node = node.parent
    return None


def encloses(outer: Unit, unit: Unit) -> bool:
    """Whether *unit* is *outer* or nested in it.

    >>> import sqlglot
    >>> root, sub = units(sqlglot.parse_one("SELECT 1 FROM t WHERE x IN (SELECT y FROM u)"))
    >>> encloses(root, sub), encloses(sub, root)
    (True, False)
    """
    current: Unit | None = unit
    while current is not None and current is not outer:
        current = current.parent
    return current is outer


def _dml_sources(node: exp.Expr, found: Found) -> dict[str, Source]:
    relations = [_dml_target(node), *_relations(node)]
    from_ = node.args.get("from_")
    if isinstance(from_, exp.From):  # UPDATE … FROM a JOIN b: the joins hang off the first table
        relations += [join.this for join in from_.this.args.get("joins") or ()]
    using = node.args.get("using")
    relations += using if isinstance(using, list) else [using]
    return dict(_relation(relation, found) for relation in relations if isinstance(relation, exp.Expr))


def _dml_target(node: exp.Expr) -> exp.Expr | None:
    target = node.this
    target = target.this if isinstance(target, exp.Schema) else target
    return target if isinstance(target, exp.Table) else None


def _relation(relation: exp.Expr, found: Found) -> tuple[str, Source]:
    query = query_of(relation)
    if isinstance(relation, exp.Subquery) and id(query) in found:
        return relation.alias, found[id(query)][0]
    return relation.alias_or_name, relation  # type: ignore[return-value]
