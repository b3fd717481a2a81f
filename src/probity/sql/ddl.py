"""Read a :class:`~probity.core.catalog.Catalog` from DDL text through sqlglot's syntax tree.

The text is split into statements on the tokenizer's semicolons (never by searching the text), and each
statement is parsed on its own, so one statement sqlglot cannot parse is reported with its line instead of
losing the file. sqlglot parses ``CREATE TABLE``, ``CREATE INDEX`` and ``ALTER TABLE … ADD CONSTRAINT``;
``ALTER TABLE … ENABLE ROW LEVEL SECURITY`` and ``CREATE POLICY`` come back as opaque commands, so those two
are read from the statement's tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.tokenizer_core import Token, TokenType

from probity.core.catalog import (
    Catalog,
    Column,
    ForeignKey,
    Index,
    RlsPolicy,
    SkippedStatement,
    Table,
    UniqueConstraint,
)

__all__ = ["catalog_from_ddl", "normalize_condition", "normalize_type", "pg_default_name"]

DIALECT = Dialect.get_or_raise("postgres")
_NAMEDATALEN = 63  # PostgreSQL's longest identifier, in bytes
_SERIALS = {"SERIAL": "INT", "BIGSERIAL": "BIGINT", "SMALLSERIAL": "SMALLINT"}
_RLS_ACTIONS = ("ENABLE", "DISABLE", "FORCE")
_Named = TypeVar("_Named", UniqueConstraint, ForeignKey, Index, RlsPolicy)


def catalog_from_ddl(text: str) -> Catalog:
    """The catalog a DDL script creates; statements it cannot use are in ``Catalog.skipped``.

    >>> catalog = catalog_from_ddl('''
    ...     CREATE TABLE orgs (id uuid PRIMARY KEY, slug text NOT NULL UNIQUE);
    ...     CREATE TABLE notes (id uuid PRIMARY KEY, org uuid NOT NULL REFERENCES orgs, body text);
    ...     CREATE INDEX notes_org_idx ON notes (org, id);
    ...     CREATE TABLE broken (;
    ... ''')
    >>> catalog.unique_keys("orgs"), catalog.is_indexed_prefix("notes", ["org"])
    ((('id',), ('slug',)), True)
    >>> catalog.table("notes").foreign_keys[0]
    ForeignKey(name='notes_org_fkey', columns=('org',), ref_table='orgs', ref_columns=('id',), on_delete='NO ACTION')
    >>> [(s.line, s.text) for s in catalog.skipped]
    [(5, 'CREATE TABLE broken (')]
    """
    reader = _Reader(text)
    try:
        chunks = list(_chunks(text))
    except SqlglotError as exc:
        reader.skip(1, text, f"cannot tokenize: {exc}")
        chunks = []
    for chunk in chunks:
        reader.read(chunk)
    return reader.catalog()


def normalize_type(text: str) -> str:
    """A PostgreSQL type as sqlglot spells it, so the DDL's and the server's spellings compare equal.

    >>> normalize_type("timestamp with time zone"), normalize_type("timestamptz"), normalize_type("integer")
    ('TIMESTAMPTZ', 'TIMESTAMPTZ', 'INT')
    """
    try:
        return exp.DataType.build(text, dialect=DIALECT).sql(DIALECT)
    except SqlglotError:
        return text.upper()


def normalize_condition(text: str) -> str:
    """An SQL condition as sqlglot prints it, without the casts and parentheses PostgreSQL adds.

    PostgreSQL stores a policy's USING clause deparsed: ``(org = (current_setting('app.org'::text))::uuid)``.
    Dropping the outer parentheses, the ``::text`` on string literals and the parentheses around a single
    function call makes it equal to the DDL's ``org = current_setting('app.org')::uuid``.

    >>> normalize_condition("(org = (current_setting('app.org'::text))::uuid)")
    "org = CAST(CURRENT_SETTING('app.org') AS UUID)"
    >>> normalize_condition("org = current_setting('app.org')::uuid")
    "org = CAST(CURRENT_SETTING('app.org') AS UUID)"
    >>> normalize_condition("((a IS NULL) AND ((b = 'x'::text) OR (c > 1)))")
    "a IS NULL AND (b = 'x' OR c > 1)"
    """
    try:
        tree = sqlglot.parse_one(text, dialect=DIALECT).unnest().copy()  # a copy has no parent
    except SqlglotError:
        return text.strip()
    for cast in list(tree.find_all(exp.Cast)):
        if cast.this.is_string and cast.to.is_type("text"):
            cast.replace(cast.this)
    for paren in list(tree.find_all(exp.Paren)):
        if _redundant(paren):
            paren.replace(paren.this)
    return tree.sql(DIALECT)


def _redundant(paren: exp.Paren) -> bool:
    # PostgreSQL parenthesizes every operand of AND/OR when it deparses; those parentheses change nothing
    child, parent = paren.this, paren.parent
    if isinstance(child, exp.Or):
        return parent is None or isinstance(parent, exp.Or)
    if isinstance(child, exp.And):
        return parent is None or isinstance(parent, exp.Connector)
    if isinstance(child, (exp.Column, exp.Literal, exp.Func)):
        return True
    return isinstance(child, exp.Predicate) and (parent is None or isinstance(parent, (exp.Connector, exp.Not)))


def pg_default_name(table: str, columns: Sequence[str], label: str) -> str:
    """The name PostgreSQL gives an unnamed constraint or index (``makeObjectName``), truncated like it.

    >>> pg_default_name("devices", ["tenant_id", "user_id"], "fkey")
    'devices_tenant_id_user_id_fkey'
    >>> len(pg_default_name("t" * 40, ["c" * 40], "key"))
    63
    """
    name2 = "_".join(columns)
    available = _NAMEDATALEN - len(label) - 1 - (1 if name2 else 0)
    keep1, keep2 = len(table), len(name2)
    while keep1 + keep2 > available:  # PostgreSQL shortens the longer part first
        keep1, keep2 = (keep1 - 1, keep2) if keep1 > keep2 else (keep1, keep2 - 1)
    return "_".join(part for part in (table[:keep1], name2[:keep2], label) if part)


# -- statements ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    """One statement's tokens, its text and its first line."""

    tokens: list[Token]
    text: str
    line: int

    @property
    def words(self) -> list[str]:
        return [token.text.upper() for token in self.tokens]


def _chunks(text: str) -> Iterator[_Chunk]:
    current: list[Token] = []
    for token in [*DIALECT.tokenize(text), None]:
        if token is not None and token.token_type is not TokenType.SEMICOLON:
            current.append(token)
        elif current:
            yield _Chunk(current, text[current[0].start : current[-1].end + 1], current[0].line)
            current = []


@dataclass
class _Draft:
    """A table while its statements are read: lists that later statements (indexes, ALTERs) extend."""

    name: str
    schema: str
    columns: list[Column] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    unique: list[UniqueConstraint] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    row_security: bool = False
    policies: list[RlsPolicy] = field(default_factory=list)


class _Reader:
    """Reads statements one at a time into table drafts; a statement it cannot use is noted, not raised."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.drafts: dict[str, _Draft] = {}
        self.skipped: list[SkippedStatement] = []

    def skip(self, line: int, text: str, reason: str) -> None:
        self.skipped.append(SkippedStatement(line, " ".join(text.split())[:200], reason))

    def read(self, chunk: _Chunk) -> None:
        try:
            trees = [tree for tree in DIALECT.parser().parse(chunk.tokens, self.text) if tree is not None]
        except SqlglotError as exc:
            self.skip(chunk.line, chunk.text, f"cannot parse: {_first_line(exc)}")
            return
        for tree in trees:
            try:
                self._dispatch(normalize_identifiers(tree, dialect=DIALECT), chunk)
            except _Unreadable as exc:
                self.skip(chunk.line, chunk.text, f"cannot read: {exc}")

    def _dispatch(self, tree: exp.Expr, chunk: _Chunk) -> None:
        if isinstance(tree, exp.Create) and tree.kind == "TABLE":
            self._create_table(tree, chunk)
        elif isinstance(tree, exp.Create) and tree.kind == "INDEX":
            self._create_index(tree, chunk)
        elif isinstance(tree, exp.Alter) and tree.kind == "TABLE":
            self._alter_table(tree, chunk)
        elif isinstance(tree, exp.Command):
            self._command(chunk)

    def draft(self, table: exp.Expr | None, chunk: _Chunk) -> _Draft | None:
        if not isinstance(table, exp.Table):
            raise _Unreadable("no table name")
        found = self.drafts.get(table.name.lower())
        if found is None:
            self.skip(chunk.line, chunk.text, f"table {table.name} is not created above")
        return found

    # -- CREATE TABLE / CREATE INDEX / ALTER TABLE ADD CONSTRAINT ---------------------------------------

    def _create_table(self, create: exp.Create, chunk: _Chunk) -> None:
        schema = create.this
        if not isinstance(schema, exp.Schema):
            self.skip(chunk.line, chunk.text, "CREATE TABLE without a column list")
            return
        table = schema.this
        draft = _Draft(table.name, table.db or "public")
        self.drafts[table.name.lower()] = draft
        for item in schema.expressions:
            _table_item(draft, item)

    def _create_index(self, create: exp.Create, chunk: _Chunk) -> None:
        index = create.this
        draft = self.draft(index.args.get("table"), chunk)
        if draft is None:
            return
        params = index.args.get("params") or exp.IndexParameters()
        columns = tuple(_index_column(ordered) for ordered in params.args.get("columns") or ())
        name = index.name or pg_default_name(draft.name, [_plain(c) for c in columns], "idx")
        partial = params.args.get("where") is not None
        draft.indexes.append(Index(name, columns, bool(create.args.get("unique")), partial))

    def _alter_table(self, alter: exp.Alter, chunk: _Chunk) -> None:
        draft = self.draft(alter.this, chunk)
        for action in alter.args.get("actions") or ():
            if draft is not None and isinstance(action, exp.AddConstraint):
                for constraint in action.expressions:
                    _table_item(draft, constraint)
            elif draft is not None and isinstance(action, exp.ColumnDef):
                _column_def(draft, action)

    # -- statements sqlglot leaves as commands ---------------------------------------------------------

    def _command(self, chunk: _Chunk) -> None:
        words = chunk.words
        if words[:2] == ["ALTER", "TABLE"]:
            self._alter_command(chunk)
        elif words[:2] == ["CREATE", "POLICY"]:
            self._create_policy(chunk)
        elif words[:2] in (["CREATE", "TABLE"], ["CREATE", "INDEX"], ["CREATE", "UNIQUE"]):
            # sqlglot gave up on a statement that shapes the catalog (others, like GRANT, do not)
            self.skip(chunk.line, chunk.text, f"unsupported {' '.join(words[:2])}")

    def _alter_command(self, chunk: _Chunk) -> None:
        words = chunk.words
        if len(words) < 7 or words[-3:] != ["ROW", "LEVEL", "SECURITY"] or words[-4] not in _RLS_ACTIONS:
            self.skip(chunk.line, chunk.text, "unsupported ALTER TABLE")
            return
        name_end = len(words) - (5 if words[-5] == "NO" else 4)
        draft = self.draft(_table_in(self.text, chunk.tokens[2:name_end]), chunk)
        if draft is not None and words[-4] != "FORCE":  # FORCE concerns the owner; the model has no flag
            draft.row_security = words[-4] == "ENABLE"

    def _create_policy(self, chunk: _Chunk) -> None:
        cursor = _Cursor(self.text, chunk.tokens[2:])
        name = _identifier(cursor.take())
        cursor.expect("ON")
        draft = self.draft(_table_in(self.text, cursor.until("AS", "FOR", "TO", "USING", "WITH")), chunk)
        if draft is not None:
            draft.policies.append(_policy_clauses(name, cursor))

    def catalog(self) -> Catalog:
        tables = tuple(_freeze(draft, self.drafts) for draft in self.drafts.values())
        return Catalog(tuple(sorted(tables, key=lambda t: t.name)), tuple(self.skipped))


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# -- table items -------------------------------------------------------------------------------------------


def _table_item(draft: _Draft, item: exp.Expr) -> None:
    if isinstance(item, exp.ColumnDef):
        _column_def(draft, item)
    elif isinstance(item, exp.Constraint):
        for constraint in item.expressions:
            _constraint(draft, constraint, item.name or None)
    else:
        _constraint(draft, item, None)


def _column_def(draft: _Draft, definition: exp.ColumnDef) -> None:
    kinds = [constraint.args.get("kind") for constraint in definition.constraints]
    type_name = definition.args["kind"].sql(DIALECT) if definition.args.get("kind") else "UNKNOWN"
    serial = type_name in _SERIALS
    not_null = serial or any(_makes_not_null(kind) for kind in kinds)
    has_default = serial or any(isinstance(kind, _DEFAULTS) for kind in kinds)
    draft.columns.append(Column(definition.name, _SERIALS.get(type_name, type_name), not not_null, has_default))
    for constraint in definition.constraints:
        _column_constraint(draft, definition.name, constraint)


_DEFAULTS = (
    exp.DefaultColumnConstraint,
    exp.GeneratedAsIdentityColumnConstraint,
    exp.ComputedColumnConstraint,
)


def _makes_not_null(kind: exp.Expr | None) -> bool:
    if isinstance(kind, exp.NotNullColumnConstraint):
        return not kind.args.get("allow_null")
    return isinstance(kind, (exp.PrimaryKeyColumnConstraint, exp.GeneratedAsIdentityColumnConstraint))


def _column_constraint(draft: _Draft, column: str, constraint: exp.ColumnConstraint) -> None:
    kind, name = constraint.args.get("kind"), constraint.name or None
    if isinstance(kind, exp.PrimaryKeyColumnConstraint):
        draft.primary_key = (column,)
    elif isinstance(kind, exp.UniqueColumnConstraint):
        draft.unique.append(UniqueConstraint(name or pg_default_name(draft.name, [column], "key"), (column,)))
    elif isinstance(kind, exp.Reference):
        draft.foreign_keys.append(_foreign_key(draft, name, (column,), kind))


def _constraint(draft: _Draft, node: exp.Expr, name: str | None) -> None:
    if isinstance(node, exp.PrimaryKey):
        draft.primary_key = _names(node.expressions)
    elif isinstance(node, exp.UniqueColumnConstraint) and isinstance(node.this, exp.Schema):
        columns = _names(node.this.expressions)
        draft.unique.append(UniqueConstraint(name or pg_default_name(draft.name, columns, "key"), columns))
    elif isinstance(node, exp.ForeignKey):
        draft.foreign_keys.append(_foreign_key(draft, name, _names(node.expressions), node.args["reference"]))


def _foreign_key(draft: _Draft, name: str | None, columns: tuple[str, ...], ref: exp.Reference) -> ForeignKey:
    target = ref.this
    table = target.this if isinstance(target, exp.Schema) else target
    ref_columns = _names(target.expressions) if isinstance(target, exp.Schema) else ()
    on_delete = next((_on_delete(str(option)) for option in ref.args.get("options") or ()), "NO ACTION")
    name = name or pg_default_name(draft.name, columns, "fkey")
    return ForeignKey(name, columns, table.name, ref_columns, on_delete or "NO ACTION")


def _on_delete(option: str) -> str:
    # sqlglot keeps each ON DELETE / ON UPDATE action as one option string it generated itself
    words = option.upper().split()
    return " ".join(words[2:]) if words[:2] == ["ON", "DELETE"] else ""


def _names(nodes: Sequence[exp.Expr]) -> tuple[str, ...]:
    return tuple(node.name for node in nodes)


def _index_column(ordered: exp.Expr) -> str:
    key = ordered.this if isinstance(ordered, exp.Ordered) else ordered
    return key.name if isinstance(key, exp.Column) else key.sql(DIALECT)


def _plain(column: str) -> str:
    return column if column.isidentifier() else "expr"


def _freeze(draft: _Draft, drafts: dict[str, _Draft]) -> Table:
    key = set(draft.primary_key)
    columns = tuple(Column(c.name, c.type, c.nullable and c.name not in key, c.has_default) for c in draft.columns)
    foreign_keys = tuple(_resolve_reference(fk, drafts) for fk in draft.foreign_keys)
    return Table(
        draft.name, draft.schema, columns, draft.primary_key, _by_name(draft.unique), _by_name(foreign_keys),
        _by_name(draft.indexes), draft.row_security, _by_name(draft.policies),
    )  # fmt: skip


def _resolve_reference(fk: ForeignKey, drafts: dict[str, _Draft]) -> ForeignKey:
    # REFERENCES t without columns means t's primary key
    target = drafts.get(fk.ref_table.lower())
    if fk.ref_columns or target is None:
        return fk
    return ForeignKey(fk.name, fk.columns, fk.ref_table, target.primary_key, fk.on_delete)


def _by_name(items: Sequence[_Named]) -> tuple[_Named, ...]:
    return tuple(sorted(items, key=lambda item: item.name))


# -- token reading for the statements sqlglot keeps as commands -------------------------------------------


class _Cursor:
    """Walks a statement's tokens; the SQL inside parentheses is cut from the text by token offsets."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text, self.tokens, self.pos = text, tokens, 0

    def peek(self) -> str:
        return self.tokens[self.pos].text.upper() if self.pos < len(self.tokens) else ""

    def take(self) -> Token:
        if self.pos >= len(self.tokens):
            raise _Unreadable("the statement ends early")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expect(self, word: str) -> None:
        if self.take().text.upper() != word:
            raise _Unreadable(f"expected {word}")

    def until(self, *words: str) -> list[Token]:
        start = self.pos
        while self.pos < len(self.tokens) and self.peek() not in words:
            self.pos += 1
        return self.tokens[start : self.pos]

    def parenthesized(self) -> str:
        """The SQL between a balanced pair of parentheses starting here."""
        opening, depth = self.take(), 0
        for token in self.tokens[self.pos - 1 :]:
            self.pos += token is not opening
            depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
            if depth == 0:
                return self.text[opening.end + 1 : token.start]
        raise _Unreadable("unbalanced parentheses")


class _Unreadable(ValueError):
    """A command's tokens are not in the form expected."""


def _policy_clauses(name: str, cursor: _Cursor) -> RlsPolicy:
    # CREATE POLICY name ON table [AS kind] [FOR command] [TO roles] [USING (…)] [WITH CHECK (…)]
    policy = RlsPolicy(name)
    while cursor.peek():
        word = cursor.take().text.upper()
        if word == "AS":
            policy = replace(policy, permissive=cursor.take().text.upper() != "RESTRICTIVE")
        elif word == "FOR":
            policy = replace(policy, command=cursor.take().text.upper())
        elif word == "TO":
            roles = [t for t in cursor.until("USING", "WITH") if t.token_type is not TokenType.COMMA]
            policy = replace(policy, roles=tuple(_identifier(t) for t in roles))
        elif word == "USING":
            policy = replace(policy, using=normalize_condition(cursor.parenthesized()))
        elif word == "CHECK":
            policy = replace(policy, check=normalize_condition(cursor.parenthesized()))
    return policy


def _identifier(token: Token) -> str:
    # PostgreSQL folds unquoted names to lower case; the tokenizer marks quoted ones as IDENTIFIER
    return token.text if token.token_type is TokenType.IDENTIFIER else token.text.lower()


def _table_in(text: str, tokens: list[Token]) -> exp.Table:
    names = [t for t in tokens if t.text.upper() not in ("IF", "EXISTS", "ONLY", "*")]
    if not names:
        raise _Unreadable("no table name")
    table = exp.to_table(text[names[0].start : names[-1].end + 1], dialect=DIALECT)
    return normalize_identifiers(table, dialect=DIALECT)
