"""One statement's tree read into facts: table references and their predicates, outputs, writes, literals.

The tree is qualified by sqlglot when it could be; when it could not (an unknown table, a form qualify
rejects) columns are resolved here the way PostgreSQL would: a qualified column by its alias, looked up
through the enclosing query blocks; an unqualified one by the only source that has it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from probity.core.catalog import Catalog
from probity.sql._conditions import (
    Comparison,
    comparisons,
    conjuncts,
    list_value,
    or_common,
    or_comparisons,
    unwrap,
    value_of,
)
from probity.sql._scopes import Source, Unit, encloses, query_of, units
from probity.sql.model import (
    ColumnRef,
    Kind,
    LiteralUse,
    OrderKey,
    Origin,
    Predicate,
    Projection,
    Role,
    Scope,
    TableRef,
    Value,
    ValueKind,
    Write,
)

__all__ = ["Analysis"]

DIALECT = Dialect.get_or_raise("postgres")
Filter = tuple[exp.Expr, Origin, "set[str] | None"]  # condition, why it holds, the aliases it may constrain


@dataclass
class _Ref:
    """A table reference while its predicates are collected."""

    table: str
    alias: str
    scope: int
    schema: str | None
    known: bool
    role: Role = Role.FROM
    join: str | None = None
    optional: bool = False
    predicates: list[Predicate] = field(default_factory=list)
    or_predicates: list[Predicate] = field(default_factory=list)

    def freeze(self) -> TableRef:
        return TableRef(
            self.table, self.alias, self.scope, self.schema, self.role, self.join, self.optional, self.known,
            tuple(dict.fromkeys(self.predicates)), tuple(dict.fromkeys(self.or_predicates)),
        )  # fmt: skip


@dataclass(frozen=True)
class _Relation:
    """A FROM/JOIN/USING item of a query block, in order, with how it joins."""

    alias: str
    role: Role
    join: exp.Join | None = None


class Analysis:
    """The facts of one parsed (and, when possible, qualified) statement tree.

    >>> import sqlglot
    >>> tree = sqlglot.parse_one("SELECT m.email FROM members m WHERE m.id = $1 OR m.email = $2", dialect="postgres")
    >>> ref = Analysis(tree, Catalog()).tables()[0]
    >>> ref.table, ref.predicates, [p.column for p in ref.or_predicates]
    ('members', (), ['id', 'email'])
    """

    def __init__(self, tree: exp.Expr, catalog: Catalog) -> None:
        self.tree, self.catalog = tree, catalog
        self.units = units(tree)
        self.refs: dict[tuple[int, str], _Ref] = {}
        self.literal_columns: dict[int, ColumnRef] = {}  # id(literal node) -> the column it meets
        self._outputs: dict[int, list[Projection]] = {}
        for unit in self.units:
            self._collect_refs(unit)
        for unit in self.units:
            for condition, origin, eligible in _filters(unit):
                self._collect_predicates(unit, condition, origin, eligible)

    @property
    def root(self) -> Unit:
        return self.units[0]

    # -- scopes and table references --------------------------------------------------------------------

    def scopes(self) -> tuple[Scope, ...]:
        return tuple(Scope(u.id, u.kind, u.parent.id if u.parent else None, u.name) for u in self.units)

    def tables(self) -> tuple[TableRef, ...]:
        return tuple(ref.freeze() for ref in self.refs.values())

    def _collect_refs(self, unit: Unit) -> None:
        relations = {relation.alias: relation for relation in _relations(unit)}
        optional = _optional(list(relations.values()))
        for alias, source in unit.sources.items():
            # a table-valued function (generate_series(…) AS g) is a Table node without a table name
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                relation = relations.get(alias, _Relation(alias, Role.FROM))
                ref = self._ref(unit, alias, source)
                ref.role, ref.join, ref.optional = relation.role, _join_kind(relation.join), alias in optional
                self.refs[(unit.id, alias)] = ref

    def _ref(self, unit: Unit, alias: str, table: exp.Table) -> _Ref:
        found = self.catalog.by_name.get(table.name.lower())
        if found is not None and table.db and table.db.lower() != found.schema.lower():
            found = None
        name = found.name if found is not None else table.name
        return _Ref(name, alias, unit.id, table.db or None, found is not None)

    # -- predicates --------------------------------------------------------------------------------------

    def _collect_predicates(self, unit: Unit, condition: exp.Expr, origin: Origin, eligible: set[str] | None) -> None:
        for part in conjuncts(condition):
            if isinstance(part, exp.Or):
                for common in or_common(part):
                    self._add(unit, comparisons(common), Origin.OR_COMMON, eligible)
                self._add(unit, or_comparisons(part), origin, eligible, under_or=True)
            else:
                self._add(unit, comparisons(part), origin, eligible)

    def _add(
        self, unit: Unit, found: list[Comparison], origin: Origin, eligible: set[str] | None, under_or: bool = False
    ) -> None:
        for comparison in found:
            alias = self.local_alias(unit, comparison.column)
            if alias is None or (eligible is not None and alias not in eligible):
                continue
            value = self._value(unit, comparison)
            for ref, column, pushed in self._targets(unit, alias, comparison.column.name):
                why = Origin.OUTER if pushed else origin
                predicate = Predicate(ref.table, column, comparison.op, value, why)
                (ref.or_predicates if under_or else ref.predicates).append(predicate)
                self._note_literals(comparison, ColumnRef(ref.table, column))

    def _value(self, unit: Unit, comparison: Comparison) -> Value:
        def column_ref(column: exp.Column) -> ColumnRef:
            return self.column_ref(unit, column)

        if comparison.value is None:
            return list_value(comparison.items, column_ref)
        return value_of(comparison.value, column_ref)

    def _note_literals(self, comparison: Comparison, column: ColumnRef) -> None:
        nodes = comparison.items or ((comparison.value,) if comparison.value is not None else ())
        for node in nodes:
            self.literal_columns.setdefault(id(unwrap(node)), column)

    def _targets(self, unit: Unit, alias: str, column: str) -> list[tuple[_Ref, str, bool]]:
        """The table references a filter on *alias*.*column* constrains, through derived tables and CTEs."""
        source = unit.sources.get(alias)
        if isinstance(source, exp.Table):
            ref = self.refs.get((unit.id, alias))
            return [(ref, column, False)] if ref is not None else []
        # filtering a CTE's RETURNING changes no write; a recursive CTE's reference to itself filters nothing
        if not isinstance(source, Unit) or source.is_dml or encloses(source, unit):
            return []
        return [(ref, name, True) for ref, name, _ in self._passthrough(source, column)]

    def _passthrough(self, unit: Unit, column: str) -> list[tuple[_Ref, str, bool]]:
        if isinstance(unit.node, exp.SetOperation):
            position = self.output_names(unit).index(column) if column in self.output_names(unit) else -1
            return [found for branch in self._branches(unit) for found in self._positional(branch, position)]
        expression = _projection_named(unit.node, column)
        inner = unwrap(expression.unalias()) if expression is not None else None
        if isinstance(inner, exp.Column) and not isinstance(inner.this, exp.Star):
            alias = self.local_alias(unit, inner)
            return self._targets(unit, alias, inner.name) if alias is not None else []
        return []

    def _positional(self, branch: Unit, position: int) -> list[tuple[_Ref, str, bool]]:
        names = self.output_names(branch)
        return self._passthrough(branch, names[position]) if 0 <= position < len(names) else []

    def _branches(self, unit: Unit) -> list[Unit]:
        return [u for u in self.units if u.parent is unit and u.kind == "set_operation"]

    # -- column resolution -------------------------------------------------------------------------------

    def local_alias(self, unit: Unit, column: exp.Column) -> str | None:
        """The alias, among *unit*'s own sources, that *column* belongs to (None for outer references)."""
        if column.table:
            return column.table if column.table in unit.sources else None
        return self._unqualified(unit, column.name)

    def _unqualified(self, unit: Unit, name: str) -> str | None:
        having = [alias for alias, source in unit.sources.items() if self._has_column(source, name)]
        if having:
            return having[0] if len(having) == 1 else None
        # PostgreSQL resolved it, so a column no known source has belongs to the one source we cannot see into
        opaque = [alias for alias, source in unit.sources.items() if self._opaque(source)]
        return opaque[0] if len(opaque) == 1 else None

    def _has_column(self, source: Source, name: str) -> bool:
        if isinstance(source, Unit):
            return name in self.output_names(source)
        return name.lower() in {c.lower() for c in self.catalog.columns(source.name)}

    def _opaque(self, source: Source) -> bool:
        if isinstance(source, Unit):
            return "*" in self.output_names(source)
        return source.name.lower() not in self.catalog.by_name

    def column_ref(self, unit: Unit, column: exp.Column) -> ColumnRef:
        """The table column *column* reads, looking through enclosing blocks, CTEs and derived tables."""
        bases = self.bases(unit, column)
        return bases[0] if len(bases) == 1 else ColumnRef(column.table or None, column.name)

    def bases(self, unit: Unit, column: exp.Column) -> list[ColumnRef]:
        found = self._resolve(unit, column)
        if found is None:
            return []
        owner, source = found
        if isinstance(source, exp.Table):
            alias = _alias_of(owner, source)
            ref = self.refs.get((owner.id, alias))
            return [ColumnRef(ref.table if ref is not None else alias, column.name)]
        return [s for p in self.outputs(source) if p.name == column.name for s in p.sources]

    def _resolve(self, unit: Unit, column: exp.Column) -> tuple[Unit, Source] | None:
        if column.table:
            return unit.source_of(column.table)
        current: Unit | None = unit
        while current is not None:
            alias = self._unqualified(current, column.name)
            if alias is not None:
                return current, current.sources[alias]
            current = current.parent
        return None

    # -- outputs -----------------------------------------------------------------------------------------

    def output_names(self, unit: Unit) -> list[str]:
        return [projection.name for projection in self.outputs(unit)]

    def outputs(self, unit: Unit) -> list[Projection]:
        """What a block returns: its SELECT list (``*`` expanded), a UNION's first branch, RETURNING."""
        if unit.id not in self._outputs:
            self._outputs[unit.id] = []  # a recursive CTE reading itself sees no columns yet
            self._outputs[unit.id] = self._compute_outputs(unit)
        return self._outputs[unit.id]

    def _compute_outputs(self, unit: Unit) -> list[Projection]:
        if isinstance(unit.node, exp.SetOperation):
            return _merge_branches([self.outputs(branch) for branch in self._branches(unit)])
        if unit.is_dml:
            returning = unit.node.args.get("returning")
            return self._projections(unit, returning.expressions) if returning else []
        return self._projections(unit, unit.node.expressions) if isinstance(unit.node, exp.Select) else []

    def _projections(self, unit: Unit, expressions: list[exp.Expr]) -> list[Projection]:
        found: list[Projection] = []
        for expression in expressions:
            if isinstance(expression, exp.Star):
                found += [p for alias in unit.sources for p in self._expand(unit, alias)]
            elif isinstance(expression, exp.Column) and isinstance(expression.this, exp.Star):
                found += self._expand(unit, expression.table)
            else:
                found.append(Projection(expression.alias_or_name, tuple(self._lineage(unit, expression))))
        return found

    def _expand(self, unit: Unit, alias: str) -> list[Projection]:
        source = unit.sources.get(alias)
        if isinstance(source, Unit):
            return self.outputs(source)
        ref = self.refs.get((unit.id, alias))
        if ref is None:  # a table-valued function or VALUES list: columns unknown
            return [Projection("*", (ColumnRef(alias, "*"),))]
        name = ref.table
        columns = self.catalog.columns(name) or ("*",)
        return [Projection(column, (ColumnRef(name, column),)) for column in columns]

    def _lineage(self, unit: Unit, expression: exp.Expr) -> list[ColumnRef]:
        found: list[ColumnRef] = []
        for node in expression.walk(prune=lambda n: n is not expression and isinstance(n, exp.Query)):
            if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                found += self.bases(unit, node) or [ColumnRef(node.table or None, node.name)]
            elif isinstance(node, exp.Query) and (inner := self._unit_of(node)) is not None:
                found += [source for projection in self.outputs(inner) for source in projection.sources]
        return list(dict.fromkeys(found))

    def _unit_of(self, node: exp.Expr) -> Unit | None:
        return next((unit for unit in self.units if unit.node is query_of(node)), None)

    # -- the statement's own clauses -----------------------------------------------------------------------

    def projections(self) -> tuple[Projection, ...]:
        return tuple(self.outputs(self.root))

    def order_by(self) -> tuple[OrderKey, ...]:
        order = self.root.node.args.get("order")
        return tuple(self._order_key(ordered) for ordered in order.expressions) if order else ()

    def _order_key(self, ordered: exp.Expr) -> OrderKey:
        key = unwrap(ordered.this if isinstance(ordered, exp.Ordered) else ordered)
        descending = bool(ordered.args.get("desc"))
        return OrderKey(key.sql(DIALECT, comments=False), self._order_column(key), descending)

    def _order_column(self, key: exp.Expr) -> ColumnRef | None:
        outputs = self.outputs(self.root)
        if key.is_int and 0 < int(key.name) <= len(outputs):  # ORDER BY 2
            sources = outputs[int(key.name) - 1].sources
        elif isinstance(key, exp.Column) and not key.table and key.name in self.output_names(self.root):
            sources = next(p.sources for p in outputs if p.name == key.name)  # an output alias
        elif isinstance(key, exp.Column):
            sources = tuple(self.bases(self.root, key))
        else:
            return None
        return sources[0] if len(sources) == 1 else None

    def row_cap(self) -> tuple[Value | None, Value | None]:
        """LIMIT and OFFSET: the statement's own, or a sole derived table's (ORMs wrap paginated queries)."""
        unit = self.root
        while not unit.node.args.get("limit") and len(unit.sources) == 1:
            (source,) = unit.sources.values()
            if not (isinstance(source, Unit) and source.kind == "derived_table"):
                break
            unit = source
        return _limit(unit.node), _offset(unit.node)

    def locking(self) -> str | None:
        locks = self.root.node.args.get("locks") or []
        return _lock_strength(locks[0]) if locks else None

    # -- writes ------------------------------------------------------------------------------------------

    def writes(self) -> tuple[Write, ...]:
        return tuple(self._write(unit) for unit in self.units if unit.is_dml)

    def _write(self, unit: Unit) -> Write:
        node = unit.node
        target = node.this.this if isinstance(node.this, exp.Schema) else node.this
        ref = self.refs[(unit.id, target.alias_or_name)]
        columns, rows, source = self._written(unit, ref.table)
        returning = tuple(self.outputs(unit)) if node.args.get("returning") else ()
        on_conflict = bool(node.args.get("conflict"))
        predicates = tuple(dict.fromkeys(ref.predicates))
        kind = Kind(node.key)
        return Write(kind, ref.table, ref.alias, unit.id, columns, rows, source, predicates, returning, on_conflict)

    def _written(self, unit: Unit, table: str) -> tuple[tuple[str, ...], tuple[tuple[Value, ...], ...], str]:
        node = unit.node
        if isinstance(node, exp.Update):
            columns = tuple(assignment.this.name for assignment in node.expressions)
            return columns, (self._row(unit, table, columns, [a.expression for a in node.expressions]),), "set"
        if not isinstance(node, exp.Insert):
            return (), (), ""
        listed = node.this.expressions if isinstance(node.this, exp.Schema) else None
        columns = tuple(c.name for c in listed) if listed else self.catalog.columns(table)
        return (columns, *self._inserted(unit, table, columns))

    def _inserted(self, unit: Unit, table: str, columns: tuple[str, ...]) -> tuple[tuple[tuple[Value, ...], ...], str]:
        source = query_of(unit.node.expression) if unit.node.expression else None
        if isinstance(source, exp.Values):
            rows = [row.expressions if isinstance(row, exp.Tuple) else [row] for row in source.expressions]
            return tuple(self._row(unit, table, columns, row) for row in rows), "values"
        select = _first_select(source) if source is not None else None
        if select is None:
            return (), "default"
        inner = self._unit_of(select) or unit
        return (self._row(inner, table, columns, [e.unalias() for e in select.expressions]),), "select"

    def _row(self, unit: Unit, table: str, columns: tuple[str, ...], nodes: list[exp.Expr]) -> tuple[Value, ...]:
        values = tuple(value_of(node, lambda c: self.column_ref(unit, c)) for node in nodes)
        for column, node, value in zip(columns, nodes, values, strict=False):
            if value.kind is ValueKind.LITERAL:
                self.literal_columns.setdefault(id(unwrap(node)), ColumnRef(table, column))
        return values

    # -- literals ----------------------------------------------------------------------------------------

    def literals(self) -> tuple[LiteralUse, ...]:
        return tuple(use for unit in self.units for use in self._literals_of(unit))

    def _literals_of(self, unit: Unit) -> Iterator[LiteralUse]:
        for clause, root in _clauses(unit):
            for node in _own_nodes(root):
                literal = node.parent if isinstance(node.parent, exp.Neg) else node
                # $1 is a Parameter around the literal 1: a parameter, not a literal
                if isinstance(node, exp.Literal) and not isinstance(node.parent, exp.Parameter):
                    value = value_of(literal, lambda c: self.column_ref(unit, c))
                    yield LiteralUse(value, clause, self.literal_columns.get(id(literal)))


# -- relations, joins and filters of a block ---------------------------------------------------------------


def _relations(unit: Unit) -> list[_Relation]:
    node = unit.node
    found = [_Relation(_dml_target(node).alias_or_name, Role.TARGET)] if unit.is_dml else []
    from_ = node.args.get("from_")
    first_role = Role.USING if unit.is_dml else Role.FROM
    if isinstance(from_, exp.From):
        found.append(_Relation(from_.this.alias_or_name, first_role))
        found += [_Relation(j.this.alias_or_name, Role.JOIN, j) for j in from_.this.args.get("joins") or ()]
    found += [_Relation(j.this.alias_or_name, Role.JOIN, j) for j in node.args.get("joins") or ()]
    using = node.args.get("using")
    using = using if isinstance(using, list) else []  # DELETE … USING
    found += [_Relation(t.alias_or_name, Role.USING) for t in using if isinstance(t, exp.Expr)]
    return found


def _dml_target(node: exp.Expr) -> exp.Expr:
    target: exp.Expr = node.this.this if isinstance(node.this, exp.Schema) else node.this
    return target


def _optional(relations: list[_Relation]) -> set[str]:
    """Aliases an outer join may null-extend: LEFT's right side, RIGHT's left side, both of FULL."""
    optional: set[str] = set()
    for position, relation in enumerate(relations):
        side = (relation.join.side if relation.join else "").upper()
        earlier = {r.alias for r in relations[:position] if r.role is not Role.TARGET}
        optional |= {relation.alias} if side in ("LEFT", "FULL") else set()
        optional |= earlier if side in ("RIGHT", "FULL") else set()
    return optional


def _join_kind(join: exp.Join | None) -> str | None:
    if join is None:
        return None
    if join.side:
        return join.side.lower()
    crossed = join.kind.upper() == "CROSS" or not (join.args.get("on") or join.args.get("using"))
    return "cross" if crossed else "inner"


def _filters(unit: Unit) -> list[Filter]:
    """Conditions every row of the block meets, and which tables each may constrain."""
    where = unit.node.args.get("where")
    found: list[Filter] = [(where.this, Origin.WHERE, None)] if where else []
    relations = _relations(unit)
    for position, relation in enumerate(relations):
        on = relation.join.args.get("on") if relation.join else None
        side = relation.join.side.upper() if relation.join else ""
        if on is None or side == "FULL":  # FULL: either side may be null-extended; ON filters neither
            continue
        earlier = {r.alias for r in relations[:position]}
        eligible = {relation.alias} if side == "LEFT" else earlier if side == "RIGHT" else None
        found.append((on, Origin.JOIN, eligible))
    return found


def _clauses(unit: Unit) -> Iterator[tuple[str, exp.Expr]]:
    """The parts of a block where a literal is data: WHERE, ON, HAVING, VALUES, SET."""
    node = unit.node
    for clause in ("where", "having"):
        if node.args.get(clause):
            yield clause, node.args[clause]
    for relation in _relations(unit):
        if relation.join is not None and relation.join.args.get("on"):
            yield "on", relation.join.args["on"]
    if isinstance(node, exp.Insert) and isinstance(node.expression, exp.Values):
        yield "values", node.expression
    if isinstance(node, exp.Update):
        yield from (("set", assignment.expression) for assignment in node.expressions)


def _own_nodes(root: exp.Expr) -> Iterator[exp.Expr]:
    # a nested query's literals are its own block's
    return root.walk(prune=lambda node: node is not root and isinstance(node, exp.Query))


def _projection_named(node: exp.Expr, name: str) -> exp.Expr | None:
    expressions = node.expressions if isinstance(node, exp.Select) else []
    return next((e for e in expressions if e.alias_or_name == name), None)


def _merge_branches(branches: list[list[Projection]]) -> list[Projection]:
    # a set operation's columns are named by its first branch and fed by every branch, by position
    if not branches:
        return []
    merged = []
    for position, first in enumerate(branches[0]):
        fed = [s for branch in branches if position < len(branch) for s in branch[position].sources]
        merged.append(Projection(first.name, tuple(dict.fromkeys(fed))))
    return merged


def _first_select(node: exp.Expr) -> exp.Select | None:
    while isinstance(node, exp.SetOperation | exp.Subquery):
        node = node.this
    return node if isinstance(node, exp.Select) else None


def _alias_of(unit: Unit, table: exp.Table) -> str:
    return next(alias for alias, source in unit.sources.items() if source is table)


def _limit(node: exp.Expr) -> Value | None:
    limit = node.args.get("limit")
    count = limit.args.get("count") if isinstance(limit, exp.Fetch) else limit.expression if limit else None
    if count is None or (isinstance(count, exp.Var) and count.name.upper() == "ALL"):
        return None
    return value_of(count, _no_column)


def _offset(node: exp.Expr) -> Value | None:
    offset = node.args.get("offset")
    return value_of(offset.expression, _no_column) if offset is not None else None


def _no_column(column: exp.Column) -> ColumnRef:
    return ColumnRef(column.table or None, column.name)


def _lock_strength(lock: exp.Expr) -> str:
    update, key = bool(lock.args.get("update")), bool(lock.args.get("key"))
    return ("no key update" if key else "update") if update else ("key share" if key else "share")
