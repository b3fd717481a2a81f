"""Statement facts as plain data, the way tests/fixtures/sql/facts.yaml writes them down."""

from __future__ import annotations

from typing import Any

from probity.sql.model import Origin, Predicate, StatementFacts, TableRef, Write


def predicate(p: Predicate) -> str:
    text = f"{p.column} {p.op} {p.value.sql}"
    return text if p.origin is Origin.WHERE else f"{text} ({p.origin.value})"


def table(ref: TableRef) -> dict[str, Any]:
    return {
        "table": ref.table,
        "alias": ref.alias,
        "scope": ref.scope,
        "schema": ref.schema,
        "role": ref.role.value,
        "join": ref.join,
        "optional": ref.optional,
        "known": ref.known,
        "predicates": [predicate(p) for p in ref.predicates],
        "or_predicates": [predicate(p) for p in ref.or_predicates],
    }


def write(w: Write) -> dict[str, Any]:
    return {
        "kind": w.kind.value,
        "table": w.table,
        "scope": w.scope,
        "columns": list(w.columns),
        "rows": [[value.sql for value in row] for row in w.rows],
        "source": w.source,
        "predicates": [predicate(p) for p in w.predicates],
        "returning": [p.name for p in w.returning],
        "on_conflict": w.on_conflict,
    }


def scope_text(facts: StatementFacts, index: int) -> str:
    scope = facts.scopes[index]
    text = scope.kind + (f" {scope.name}" if scope.name else "")
    return text + (f" in {scope.parent}" if scope.parent is not None else "")


def view(facts: StatementFacts) -> dict[str, Any]:
    """Every fact, compactly: predicates as ``column op value (origin)``, values as their SQL."""
    selected = {
        t: sorted(facts.selected(t)) for t in sorted({s.table for p in facts.projections for s in p.sources if s.table})
    }
    return {
        "kind": facts.kind.value,
        "parse_error": facts.parse_error is not None,
        "qualified": facts.qualified,
        "statements": facts.statements,
        "locking": facts.locking,
        "ctes": list(facts.ctes),
        "scopes": [scope_text(facts, i) for i in range(len(facts.scopes))],
        "tables": [table(ref) for ref in facts.tables],
        "outputs": [p.name for p in facts.projections],
        "selected": selected,
        "star": facts.star,
        "limit": facts.limit.sql if facts.limit else None,
        "offset": facts.offset.sql if facts.offset else None,
        "order_by": [f"{key.column or key.sql} {'desc' if key.descending else 'asc'}" for key in facts.order_by],
        "writes": [write(w) for w in facts.writes],
        "literals": [f"{use.value.sql} {use.clause} {use.column or '-'}" for use in facts.literals],
        "settings": [f"{s.name} = {s.value.sql}{' local' if s.local else ''} via {s.via}" for s in facts.settings],
        "shape": facts.shape,
    }


# What a fixture entry leaves out is expected to be this (shape and outputs are checked only when given).
TOP_DEFAULTS: dict[str, Any] = {
    "parse_error": False,
    "qualified": True,
    "statements": 1,
    "locking": None,
    "ctes": [],
    "scopes": ["root"],
    "tables": [],
    "selected": {},
    "star": False,
    "limit": None,
    "offset": None,
    "order_by": [],
    "writes": [],
    "literals": [],
    "settings": [],
}
TABLE_DEFAULTS: dict[str, Any] = {
    "schema": None,
    "role": "from",
    "join": None,
    "optional": False,
    "known": True,
    "predicates": [],
    "or_predicates": [],
}
WRITE_DEFAULTS: dict[str, Any] = {
    "columns": [],
    "rows": [],
    "source": "",
    "predicates": [],
    "returning": [],
    "on_conflict": False,
}


def expected(entry: dict[str, Any]) -> dict[str, Any]:
    """A fixture entry with every default filled in, in the shape :func:`view` returns."""
    full = {**TOP_DEFAULTS, **{k: v for k, v in entry.items() if k not in ("title", "sql")}}
    full["tables"] = [{**TABLE_DEFAULTS, "alias": t["table"], "scope": 0, **t} for t in full["tables"]]
    full["writes"] = [{**WRITE_DEFAULTS, "scope": 0, **w} for w in full["writes"]]
    return full


def compact(facts_view: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`expected`: only what differs from the defaults (to draft fixture entries)."""
    out = {k: v for k, v in facts_view.items() if k == "kind" or (k in TOP_DEFAULTS and TOP_DEFAULTS[k] != v)}
    if "tables" in out:
        out["tables"] = [_strip(t, {**TABLE_DEFAULTS, "alias": t["table"], "scope": 0}) for t in out["tables"]]
    if "writes" in out:
        out["writes"] = [_strip(w, {**WRITE_DEFAULTS, "scope": 0}) for w in out["writes"]]
    return out


def _strip(item: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in defaults or defaults[k] != v}
