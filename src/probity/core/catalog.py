"""The database catalog: tables, their columns, keys, indexes and row-level security, and a policy's tags.

One model whichever way it was read (the target's DDL file or a live database), so the two can be compared.
Names are stored as PostgreSQL resolves them (unquoted identifiers folded to lower case); lookups are
tolerant of ``public.`` qualification, double quotes and case, because statement logs and policies spell
table names every way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from types import MappingProxyType

from probity.core.policy import Policy

__all__ = [
    "Catalog",
    "Column",
    "ForeignKey",
    "Index",
    "RlsPolicy",
    "SkippedStatement",
    "Table",
    "TaggedCatalog",
    "UniqueConstraint",
    "split_name",
]


@dataclass(frozen=True)
class Column:
    """One column, in table order; ``type`` is PostgreSQL's type as sqlglot spells it (``TIMESTAMPTZ``)."""

    name: str
    type: str
    nullable: bool = True
    has_default: bool = False  # DEFAULT, identity, serial or generated: an INSERT may omit it


@dataclass(frozen=True)
class UniqueConstraint:
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"


@dataclass(frozen=True)
class Index:
    """An index created on its own (constraint-backed indexes are the constraints)."""

    name: str
    columns: tuple[str, ...]  # column names, or an expression's SQL for expression indexes
    unique: bool = False
    partial: bool = False  # has a WHERE clause: unique only among the rows it covers


@dataclass(frozen=True)
class RlsPolicy:
    """A row-level security policy; ``using``/``check`` are normalized SQL text."""

    name: str
    command: str = "ALL"
    using: str | None = None
    check: str | None = None
    permissive: bool = True
    roles: tuple[str, ...] = ("public",)


@dataclass(frozen=True)
class Table:
    """One table: columns in order, keys, indexes and row-level security.

    >>> t = Table("accounts", columns=(Column("id", "UUID", False), Column("email", "TEXT")), primary_key=("id",))
    >>> t.column_names, t.column("EMAIL")
    (('id', 'email'), Column(name='email', type='TEXT', nullable=True, has_default=False))
    """

    name: str
    schema: str = "public"
    columns: tuple[Column, ...] = ()
    primary_key: tuple[str, ...] = ()
    unique: tuple[UniqueConstraint, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    row_security: bool = False
    policies: tuple[RlsPolicy, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column | None:
        """The column named *name* (case-insensitive), or None.

        >>> Table("t", columns=(Column("Id", "INT"),)).column("id").name
        'Id'
        """
        wanted = name.lower()
        return next((column for column in self.columns if column.name.lower() == wanted), None)

    def unique_keys(self) -> tuple[tuple[str, ...], ...]:
        """Column sets no two rows share: the primary key, UNIQUE constraints and full unique indexes.

        >>> Table("t", primary_key=("id",), indexes=(Index("t_a", ("a", "b"), unique=True),)).unique_keys()
        (('id',), ('a', 'b'))
        """
        keys = [self.primary_key] if self.primary_key else []
        keys += [constraint.columns for constraint in self.unique]
        keys += [index.columns for index in self.indexes if index.unique and not index.partial]
        return tuple(dict.fromkeys(keys))

    def index_column_lists(self) -> tuple[tuple[str, ...], ...]:
        """The column lists of every index, constraint-backed ones included.

        >>> Table("t", primary_key=("id",), indexes=(Index("t_org", ("org",)),)).index_column_lists()
        (('id',), ('org',))
        """
        return self.unique_keys() + tuple(index.columns for index in self.indexes)


@dataclass(frozen=True)
class SkippedStatement:
    """A statement the catalog reader could not use, and where it was."""

    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class Catalog:
    """Every table, by name.

    >>> catalog = Catalog((Table("accounts", columns=(Column("id", "UUID"),)),))
    >>> catalog.table('public."Accounts"').name, "ACCOUNTS" in catalog, catalog.columns("nope")
    ('accounts', True, ())
    """

    tables: tuple[Table, ...] = ()
    # How the catalog was read is not what it is: two readings with different skips are still equal.
    skipped: tuple[SkippedStatement, ...] = field(default=(), compare=False)

    @cached_property
    def by_name(self) -> Mapping[str, Table]:
        """Tables by lower-case name (without schema)."""
        return MappingProxyType({table.name.lower(): table for table in self.tables})

    def table(self, name: str) -> Table | None:
        """The table *name* names: ``accounts``, ``public.accounts``, ``"Accounts"`` all find it.

        >>> catalog = Catalog((Table("accounts"),))
        >>> catalog.table("PUBLIC.accounts").name, catalog.table("other.accounts")
        ('accounts', None)
        """
        schema, bare = split_name(name)
        found = self.by_name.get(bare)
        if found is None or (schema is not None and schema != found.schema.lower()):
            return None
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.table(name) is not None

    def __iter__(self) -> Iterator[Table]:
        return iter(self.tables)

    def columns(self, table: str) -> tuple[str, ...]:
        """Column names of *table* in order; empty when the table is unknown.

        >>> Catalog((Table("t", columns=(Column("id", "INT"), Column("org", "UUID"))),)).columns('"t"')
        ('id', 'org')
        """
        found = self.table(table)
        return found.column_names if found else ()

    def unique_keys(self, table: str) -> tuple[tuple[str, ...], ...]:
        """Column sets unique per row of *table* (see :meth:`Table.unique_keys`).

        >>> Catalog((Table("t", primary_key=("id",)),)).unique_keys("public.t")
        (('id',),)
        """
        found = self.table(table)
        return found.unique_keys() if found else ()

    def is_indexed_prefix(self, table: str, columns: Sequence[str], *, ordered: bool = False) -> bool:
        """Whether some index of *table* (keys included) leads with *columns*.

        Equality filters can use an index whose leading columns are the filter's columns in any order;
        ``ordered=True`` asks for exactly this order (an ORDER BY).

        >>> t = Table("t", primary_key=("id",), indexes=(Index("t_org_at", ("org", "at", "id")),))
        >>> catalog = Catalog((t,))
        >>> catalog.is_indexed_prefix("t", ["at", "org"]), catalog.is_indexed_prefix("t", ["at", "org"], ordered=True)
        (True, False)
        """
        found = self.table(table)
        wanted = [column.lower() for column in columns]
        if found is None or not wanted:
            return False
        return any(_leads(index, wanted, ordered) for index in found.index_column_lists())

    def tag(self, policy: Policy) -> TaggedCatalog:
        """This catalog seen through a target's *policy*: tenant columns, PHI, secrets, the audit table.

        >>> from probity.core.policy import Policy, TenancyPolicy, TenantScope
        >>> scope = TenantScope(name="org", column="tenant_id", attribute="org", tables=("accounts",))
        >>> catalog = Catalog((Table("accounts", columns=(Column("tenant_id", "UUID"),)),))
        >>> catalog.tag(Policy(tenancy=TenancyPolicy(scopes=(scope,)))).tenant_column("public.accounts")
        'tenant_id'
        """
        return TaggedCatalog.build(self, policy)


def _leads(index: tuple[str, ...], wanted: list[str], ordered: bool) -> bool:
    head = [column.lower() for column in index[: len(wanted)]]
    return head == wanted if ordered else len(head) == len(wanted) and set(head) == set(wanted)


@dataclass(frozen=True)
class TaggedCatalog:
    """Which tables are tenant data (and by which column), PHI, secret columns and the audit table.

    Names are the catalog's lower-case table names. ``missing`` lists what the policy names that the
    catalog lacks, so a stale policy is visible instead of silently checking nothing.
    """

    catalog: Catalog
    tenant_columns: Mapping[str, str]
    phi_tables: frozenset[str]
    secret_columns: frozenset[tuple[str, str]]
    audit_table: str | None
    missing: tuple[str, ...] = ()

    @classmethod
    def build(cls, catalog: Catalog, policy: Policy) -> TaggedCatalog:
        """Tag *catalog* with *policy* (the same as :meth:`Catalog.tag`).

        >>> from probity.core.policy import Policy, TenancyPolicy, TenantScope
        >>> scope = TenantScope(name="org", column="org", attribute="org", tables=("gone",))
        >>> TaggedCatalog.build(Catalog(), Policy(tenancy=TenancyPolicy(scopes=(scope,)))).missing
        ('table gone',)
        """
        tenants = {_key(t): scope.column for scope in policy.tenancy.scopes for t in scope.tables}
        secrets = frozenset(_secret(ref) for ref in (policy.secrets.columns if policy.secrets else ()))
        audit = _key(policy.audit.table) if policy.audit else None
        phi = frozenset(_key(table) for table in policy.phi.tables)
        missing = _missing(catalog, tenants, phi, secrets, audit)
        return cls(catalog, MappingProxyType(tenants), phi, secrets, audit, missing)

    def tenant_column(self, table: str) -> str | None:
        """The column that scopes *table* to a tenant, or None for tables no scope names.

        >>> TaggedCatalog(Catalog(), {"t": "org"}, frozenset(), frozenset(), None).tenant_column('"T"')
        'org'
        """
        return self.tenant_columns.get(_key(table))

    def is_phi(self, table: str) -> bool:
        """Whether *table* holds PHI.

        >>> TaggedCatalog(Catalog(), {}, frozenset({"p"}), frozenset(), None).is_phi("public.p")
        True
        """
        return _key(table) in self.phi_tables

    def is_audit(self, table: str) -> bool:
        """Whether *table* is the policy's audit table.

        >>> TaggedCatalog(Catalog(), {}, frozenset(), frozenset(), "audit_trail").is_audit("AUDIT_TRAIL")
        True
        """
        return self.audit_table is not None and _key(table) == self.audit_table

    def secrets_of(self, table: str) -> frozenset[str]:
        """The secret columns of *table*.

        >>> TaggedCatalog(Catalog(), {}, frozenset(), frozenset({("u", "pw")}), None).secrets_of("u")
        frozenset({'pw'})
        """
        key = _key(table)
        return frozenset(column for owner, column in self.secret_columns if owner == key)

    def is_secret(self, table: str, column: str) -> bool:
        """Whether *table*.*column* is secret.

        >>> TaggedCatalog(Catalog(), {}, frozenset(), frozenset({("u", "pw")}), None).is_secret("u", "PW")
        True
        """
        return column.lower() in self.secrets_of(table)


def _secret(ref: str) -> tuple[str, str]:
    table, _, column = ref.rpartition(".")
    return _key(table), column.lower()


def _missing(
    catalog: Catalog,
    tenants: Mapping[str, str],
    phi: Iterable[str],
    secrets: Iterable[tuple[str, str]],
    audit: str | None,
) -> tuple[str, ...]:
    tables = {*tenants, *phi, *(table for table, _ in secrets), *([audit] if audit else [])}
    gone = [f"table {table}" for table in sorted(tables) if table not in catalog]
    columns = [*tenants.items(), *secrets]
    gone += [f"column {t}.{c}" for t, c in sorted(columns) if t in catalog and c not in _lower(catalog, t)]
    return tuple(gone)


def _lower(catalog: Catalog, table: str) -> set[str]:
    return {column.lower() for column in catalog.columns(table)}


def _key(name: str) -> str:
    return split_name(name)[1]


@lru_cache(maxsize=8192)  # probes ask for the same few names for every statement of every request
def split_name(name: str) -> tuple[str | None, str]:
    """``(schema, table)`` of a possibly qualified, possibly quoted name, both lower-cased.

    >>> split_name('public."Accounts"'), split_name("accounts"), split_name('"a.b"')
    (('public', 'accounts'), (None, 'accounts'), (None, 'a.b'))
    """
    parts = _identifier_parts(name.strip())
    schema = parts[-2].lower() if len(parts) > 1 else None
    return schema, parts[-1].lower() if parts else ""


def _identifier_parts(name: str) -> list[str]:
    # A dotted identifier, where a dot inside double quotes belongs to the name ("a.b" is one part) and
    # a doubled quote inside quotes is one quote character.
    parts: list[str] = [""]
    quoted, index = False, 0
    while index < len(name):
        char = name[index]
        if char == '"' and quoted and name[index + 1 : index + 2] == '"':
            parts[-1] += '"'
            index += 1
        elif char == '"':
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append("")
        else:
            parts[-1] += char
        index += 1
    return parts
