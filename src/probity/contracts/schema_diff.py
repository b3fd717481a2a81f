"""Two JSON Schemas compared in meaning, level by level: what the live one allows that the contract does not.

Both sides are normalised first (:func:`~probity.contracts.normalize.shape`), so cosmetic differences —
``anyOf`` with ``null`` versus a type list, titles, descriptions, examples, ``$ref`` versus inline — are
never reported. Each difference found gets a :class:`~probity.contracts.differences.Direction` and, from
it and whether the schema describes a request or a response, a severity.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from probity.contracts.differences import Difference, Direction, Kind, Severity, severity_of
from probity.contracts.normalize import CONSTRAINTS, LOWER_BOUNDS, UPPER_BOUNDS, Shape, shape

__all__ = ["SchemaComparison", "Shared", "compare_schemas"]

_MAX_DEPTH = 32
_INTEGER_FORMATS = frozenset({None, "int32", "int64"})


def compare_schemas(
    contract_schema: Any,
    live_schema: Any,
    *,
    operation: str,
    location: str,
    request: bool,
    contract_document: Mapping[str, Any],
    live_document: Mapping[str, Any],
) -> list[Difference]:
    """The differences between *contract_schema* and *live_schema*, each read within its own document.

    >>> contract = {"type": "object", "required": ["id"], "properties": {
    ...     "id": {"type": "string", "format": "uuid"}, "status": {"type": "string", "enum": ["open", "done"]}}}
    >>> live = {"$ref": "#/components/schemas/Thing"}
    >>> live_document = {"components": {"schemas": {"Thing": {"type": "object", "title": "Thing", "properties": {
    ...     "id": {"type": "string", "format": "uuid"},
    ...     "status": {"anyOf": [{"type": "string", "enum": ["open", "done", "lost"]}, {"type": "null"}]}}}}}}
    >>> for found in compare_schemas(contract, live, operation="GET /things/{id}", location="responses.200",
    ...                              request=False, contract_document={}, live_document=live_document):
    ...     print(found.line())
    [error] responses.200.id: required in the contract, optional in the live schema
    [error] responses.200.status: nullable in the live schema, not in the contract
    [error] responses.200.status: enum differs: the live schema adds ['lost']
    """
    comparison = SchemaComparison(operation, request, contract_document, live_document)
    comparison.compare(contract_schema, live_schema, location)
    return comparison.found


Shared = dict[tuple[str, str, bool], list[Difference]]


@dataclass
class SchemaComparison:
    """One comparison run: the documents, the side (request or response), and what it found so far.

    With *shared*, a pair of named schemas (``$ref`` on both sides) is compared once per report and side,
    its differences kept in *shared* under a label of their own (``schema Error``) instead of at every place
    that uses it. With *ignore_null*, nullability is not compared (parameters: a query string has no null).
    """

    operation: str
    request: bool
    contract_document: Mapping[str, Any]
    live_document: Mapping[str, Any]
    found: list[Difference] = field(default_factory=list)
    shared: Shared | None = None
    ignore_null: bool = False
    open_refs: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)

    def compare(self, contract_schema: Any, live_schema: Any, location: str, depth: int = 0) -> None:
        """Compare one level, then the levels below it; a pair of references already open is not re-entered."""
        contract = shape(contract_schema, self.contract_document)
        live = shape(live_schema, self.live_document)
        if self.shared is not None and contract.ref and live.ref and _local(contract.ref) and _local(live.ref):
            self._nullable(contract, live, location)  # whether null is allowed belongs to the place of use
            self._named(contract.ref, live.ref, depth)
            return
        pair = (contract.ref or "", live.ref or "")
        if depth > _MAX_DEPTH or (all(pair) and pair in self.open_refs):
            return
        self.open_refs.add(pair)
        try:
            self._compare_shapes(contract, live, location, depth)
        finally:
            self.open_refs.discard(pair)

    def _named(self, contract_ref: str, live_ref: str, depth: int) -> None:
        assert self.shared is not None
        key = (contract_ref, live_ref, self.request)
        if key in self.shared or depth > _MAX_DEPTH:
            return  # compared already, or being compared (a recursive schema)
        found = self.shared[key] = []
        label = _schema_label(contract_ref, live_ref, request=self.request)
        inner = SchemaComparison(label, self.request, self.contract_document, self.live_document, shared=self.shared)
        contract = shape({"$ref": contract_ref}, self.contract_document)
        live = shape({"$ref": live_ref}, self.live_document)
        inner._compare_shapes(contract, live, "", depth + 1)
        found.extend(inner.found)

    def add(self, kind: Kind, location: str, contract: Any, live: Any, message: str, **how: Any) -> None:
        """Record a difference; its severity is given (``severity=``) or follows from ``direction=``."""
        severity: Severity = how.get("severity") or severity_of(kind, how["direction"], request=self.request)
        self.found.append(Difference(self.operation, kind, location, severity, contract, live, message))

    def _compare_shapes(self, contract: Shape, live: Shape, location: str, depth: int) -> None:
        if contract.is_any or live.is_any:
            self._unconstrained(contract, live, location)
            return
        if not self._types(contract, live, location):
            return
        self._nullable(contract, live, location)
        self._format(contract, live, location)
        self._enum(contract, live, location)
        self._constraints(contract, live, location)
        self._default(contract, live, location)
        if contract.is_object or live.is_object:
            self._object(contract, live, location, depth)
        if contract.is_array or live.is_array:
            self._items(contract, live, location, depth)
        self._alternatives(contract, live, location, depth)

    def _unconstrained(self, contract: Shape, live: Shape, location: str) -> None:
        if contract.is_any and live.is_any:
            return
        if contract.is_any:
            message = "the contract gives no schema here; the live document does"
        else:
            message = "the live document gives no schema here; the contract does"
        mine, theirs = _type_list(contract.types), _type_list(live.types)
        # A side without a schema is a gap in a description, not a sign of what the backend does: a warning.
        self.add(Kind.TYPE, location, mine, theirs, message, severity=Severity.WARNING)

    def _types(self, contract: Shape, live: Shape, location: str) -> bool:
        """Report a type difference; ``False`` when the types have nothing in common (stop there)."""
        if (contract.types is None and contract.alternatives) or (live.types is None and live.alternatives):
            return True  # alternatives without a type of their own: compared as alternatives
        direction = _type_direction(contract.types, live.types)
        if direction is None:
            return True
        mine, theirs = _type_list(contract.types), _type_list(live.types)
        self.add(
            Kind.TYPE, location, mine, theirs, f"type differs: contract {mine}, live {theirs}", direction=direction
        )
        return direction is not Direction.CHANGED

    def _nullable(self, contract: Shape, live: Shape, location: str) -> None:
        if self.ignore_null or contract.nullable == live.nullable or contract.types is None or live.types is None:
            return
        if live.nullable:
            message, direction = "nullable in the live schema, not in the contract", Direction.WIDER
        else:
            message, direction = "nullable in the contract, not in the live schema", Direction.NARROWER
        self.add(Kind.NULLABLE, location, contract.nullable, live.nullable, message, direction=direction)

    def _format(self, contract: Shape, live: Shape, location: str) -> None:
        mine, theirs = contract.format, live.format
        if mine == theirs:
            return
        message = f"format differs: contract {mine or '(none)'}, live {theirs or '(none)'}"
        if mine in _INTEGER_FORMATS and theirs in _INTEGER_FORMATS:
            message += " (integer width; compare the bounds)"
            self.add(Kind.FORMAT, location, mine, theirs, message, severity=Severity.INFO)
            return
        direction = Direction.NARROWER if mine is None else Direction.WIDER if theirs is None else Direction.CHANGED
        self.add(Kind.FORMAT, location, mine, theirs, message, direction=direction)

    def _enum(self, contract: Shape, live: Shape, location: str) -> None:
        if contract.enum == live.enum:
            return
        mine, theirs = _value_set(contract.enum), _value_set(live.enum)
        if mine is None or theirs is None:
            direction = Direction.NARROWER if mine is None else Direction.WIDER
            which = "the live schema" if mine is None else "the contract"
            message = f"only {which} restricts the values to an enum"
        else:
            added, dropped = sorted(theirs - mine), sorted(mine - theirs)
            direction = _set_direction(bool(added), bool(dropped))
            parts = [f"adds {_values(added)}" if added else "", f"drops {_values(dropped)}" if dropped else ""]
            message = "enum differs: the live schema " + " and ".join(part for part in parts if part)
        self.add(Kind.ENUM, location, _listed(contract.enum), _listed(live.enum), message, direction=direction)

    def _constraints(self, contract: Shape, live: Shape, location: str) -> None:
        for keyword in CONSTRAINTS:
            mine, theirs = contract.constraints.get(keyword), live.constraints.get(keyword)
            if mine == theirs:
                continue
            direction = _bound_direction(keyword, mine, theirs)
            message = f"{keyword} differs: contract {_shown(mine)}, live {_shown(theirs)}"
            self.add(Kind.CONSTRAINT, location, mine, theirs, message, direction=direction)

    def _default(self, contract: Shape, live: Shape, location: str) -> None:
        if (contract.has_default, contract.default) == (live.has_default, live.default):
            return
        mine = contract.default if contract.has_default else None
        theirs = live.default if live.has_default else None
        message = f"default differs: contract {_shown(mine)}, live {_shown(theirs)}"
        self.add(Kind.DEFAULT, location, mine, theirs, message, severity=Severity.INFO)

    def _object(self, contract: Shape, live: Shape, location: str, depth: int) -> None:
        if not live.properties and live.additional is True and contract.properties:
            count = len(contract.properties)
            message = f"the live schema is a free-form object; the contract lists {count} properties"
            self.add(
                Kind.PROPERTY_MISSING, location, sorted(contract.properties), None, message, direction=Direction.WIDER
            )
        elif contract.properties or contract.additional is not True:
            self._properties(contract, live, location, depth)
        self._additional(contract, live, location, depth)

    def _properties(self, contract: Shape, live: Shape, location: str, depth: int) -> None:
        names = [*contract.properties, *(name for name in live.properties if name not in contract.properties)]
        for name in names:
            at = _at(location, name)
            if name in contract.properties and name in live.properties:
                self._required(name, contract, live, at)
                self.compare(contract.properties[name], live.properties[name], at, depth + 1)
            elif name in contract.properties:
                self._property_missing(name, contract, live, at)
            else:
                self._property_undocumented(name, contract, live, at)

    def _required(self, name: str, contract: Shape, live: Shape, location: str) -> None:
        mine, theirs = name in contract.required, name in live.required
        if mine == theirs:
            return
        if theirs:
            message, direction = "optional in the contract, required in the live schema", Direction.NARROWER
        else:
            message, direction = "required in the contract, optional in the live schema", Direction.WIDER
        self.add(Kind.REQUIRED, location, mine, theirs, message, direction=direction)

    def _property_missing(self, name: str, contract: Shape, live: Shape, location: str) -> None:
        required = name in contract.required
        if self.request:
            severe = live.additional is False
            why = "the live schema is closed and refuses it" if severe else "the backend may ignore it"
        else:
            severe = required
            why = "clients rely on it" if severe else "clients may not get it"
        label = "a required" if required else "an optional"
        message = f"{label} property of the contract is not in the live schema ({why})"
        severity = Severity.ERROR if severe else Severity.WARNING
        self.add(Kind.PROPERTY_MISSING, location, name, None, message, severity=severity)

    def _property_undocumented(self, name: str, contract: Shape, live: Shape, location: str) -> None:
        required = name in live.required
        if self.request:
            severe = required
            why = "the backend requires it" if severe else "the backend accepts it"
        else:
            severe = contract.additional is False
            why = "the contract's object is closed" if severe else "the backend may return more than documented"
        label = "a required" if required else "an optional"
        message = f"{label} property of the live schema is not in the contract ({why})"
        severity = Severity.ERROR if severe else Severity.WARNING
        self.add(Kind.PROPERTY_UNDOCUMENTED, location, None, name, message, severity=severity)

    def _additional(self, contract: Shape, live: Shape, location: str, depth: int) -> None:
        mine, theirs = contract.additional, live.additional
        if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
            self.compare(mine, theirs, _at(location, "{*}"), depth + 1)
            return
        rank_mine, rank_theirs = _openness(contract), _openness(live)
        if rank_mine == rank_theirs:
            return
        direction = Direction.WIDER if rank_theirs > rank_mine else Direction.NARROWER
        message = f"additionalProperties differs: contract {_openness_name(contract)}, live {_openness_name(live)}"
        self.add(
            Kind.ADDITIONAL_PROPERTIES, location, _shown_value(mine), _shown_value(theirs), message, direction=direction
        )

    def _items(self, contract: Shape, live: Shape, location: str, depth: int) -> None:
        if contract.items is None and live.items is None:
            return
        self.compare(contract.items or {}, live.items or {}, _at(location, "[]"), depth + 1)

    def _alternatives(self, contract: Shape, live: Shape, location: str, depth: int) -> None:
        mine, theirs = contract.alternatives, live.alternatives
        if not mine and not theirs:
            return
        if len(mine) != len(theirs):
            message = f"alternatives differ: contract {_count(mine)}, live {_count(theirs)}"
            self.add(Kind.COMPOSITION, location, len(mine), len(theirs), message, direction=Direction.CHANGED)
            return
        for index, (left, right) in enumerate(self._paired(mine, theirs)):
            self.compare(left, right, _at(location, f"|{index}"), depth + 1)

    def _paired(self, mine: tuple[Any, ...], theirs: tuple[Any, ...]) -> list[tuple[Any, Any]]:
        """Each contract alternative with the unused live alternative it differs least from."""
        unused = list(theirs)
        pairs = []
        for left in mine:
            best = min(unused, key=lambda right: len(self._trial(left, right)))
            unused.remove(best)
            pairs.append((left, best))
        return pairs

    def _trial(self, left: Any, right: Any) -> list[Difference]:
        trial = SchemaComparison(self.operation, self.request, self.contract_document, self.live_document)
        trial.open_refs = set(self.open_refs)
        trial.compare(left, right, "")
        return trial.found


def _local(reference: str) -> bool:
    return reference.startswith("#/")


def _schema_label(contract_ref: str, live_ref: str, *, request: bool) -> str:
    """How the differences of a named schema pair are labelled.

    >>> _schema_label("#/components/schemas/Account", "#/components/schemas/AccountOut", request=False)
    'schema Account (live: AccountOut)'
    >>> _schema_label("#/components/schemas/NewAccount", "#/components/schemas/NewAccount", request=True)
    'request schema NewAccount'
    """
    mine, theirs = contract_ref.rsplit("/", 1)[-1], live_ref.rsplit("/", 1)[-1]
    label = f"schema {mine}" if mine == theirs else f"schema {mine} (live: {theirs})"
    return f"request {label}" if request else label


def _at(location: str, child: str) -> str:
    if not location:
        return child
    return f"{location}{child}" if child.startswith(("[", "|")) else f"{location}.{child}"


def _type_direction(contract: frozenset[str] | None, live: frozenset[str] | None) -> Direction | None:
    """How the live types relate to the contract's; ``number`` includes ``integer``.

    >>> _type_direction(frozenset({"integer"}), frozenset({"number"}))
    <Direction.WIDER: 'wider'>
    >>> _type_direction(frozenset({"string"}), frozenset({"integer"}))
    <Direction.CHANGED: 'changed'>
    """
    if contract == live:
        return None
    if contract is None or live is None:
        return Direction.NARROWER if contract is None else Direction.WIDER
    covers_live, covers_contract = live <= _expanded(contract), contract <= _expanded(live)
    if covers_live and covers_contract:
        return None
    return _set_direction(added=not covers_live, dropped=not covers_contract)


def _expanded(types: frozenset[str]) -> frozenset[str]:
    return types | {"integer"} if "number" in types else types


def _set_direction(added: bool, dropped: bool) -> Direction:
    if added and dropped:
        return Direction.CHANGED
    return Direction.WIDER if added else Direction.NARROWER


def _bound_direction(keyword: str, contract: Any, live: Any) -> Direction:
    """A live bound that is absent or looser is wider; tighter is narrower; other keywords changed."""
    if live is None:
        return Direction.WIDER
    if contract is None:
        return Direction.NARROWER
    numeric = isinstance(contract, int | float) and isinstance(live, int | float)
    if numeric and keyword in LOWER_BOUNDS:
        return Direction.NARROWER if live > contract else Direction.WIDER
    if numeric and keyword in UPPER_BOUNDS:
        return Direction.NARROWER if live < contract else Direction.WIDER
    return Direction.CHANGED


def _openness(form: Shape) -> int:
    """0 closed, 1 restricted (a schema for other keys, or only keys matching patterns), 2 open."""
    if form.additional is True:
        return 2
    return 1 if form.additional is not False or form.patterns else 0


def _openness_name(form: Shape) -> str:
    if form.additional is False and form.patterns:
        return f"closed but for keys matching {', '.join(form.patterns)}"
    return {0: "closed (false)", 1: "a schema", 2: "open"}[_openness(form)]


def _type_list(types: frozenset[str] | None) -> list[str] | str:
    return sorted(types) if types is not None else "any"


def _value_set(values: tuple[Any, ...] | None) -> set[str] | None:
    return None if values is None else {json.dumps(value, sort_keys=True, default=str) for value in values}


def _values(encoded: list[str]) -> list[Any]:
    return [json.loads(value) for value in encoded]


def _listed(values: tuple[Any, ...] | None) -> list[Any] | None:
    return None if values is None else list(values)


def _shown(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, default=str)


def _shown_value(value: bool | Mapping[str, Any]) -> Any:
    return value if isinstance(value, bool) else dict(value)


def _count(alternatives: tuple[Any, ...]) -> str:
    return f"{len(alternatives)} alternatives" if alternatives else "a single schema"
