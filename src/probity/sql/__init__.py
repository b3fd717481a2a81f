"""The SQL layer: catalogs read from DDL or a live database, and per-statement facts from sqlglot's tree.

It imports ``probity.core`` only; probes, the engine and the CLI build on it. Nothing here searches SQL text:
statements are parsed with sqlglot's PostgreSQL dialect and read from the tree and its scopes.
"""

from __future__ import annotations

# Catalogs
from probity.sql.ddl import catalog_from_ddl
from probity.sql.facts import CacheInfo, cache_info, clear_cache, statement_facts
from probity.sql.live import catalog_from_database

# Facts
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
    Setting,
    StatementFacts,
    TableRef,
    Value,
    ValueKind,
    Write,
)

__all__ = [
    "CacheInfo",
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
    "cache_info",
    "catalog_from_database",
    "catalog_from_ddl",
    "clear_cache",
    "statement_facts",
]
