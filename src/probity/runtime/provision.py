"""Create a target's database on an embedded cluster from its DDL and seed, and reset it to that seed.

The DDL and seed are loaded once into a template database; the working database is a copy of it, so a reset
between runs is a fast ``CREATE DATABASE … TEMPLATE`` instead of a reload.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import psycopg
from psycopg import sql

from probity.core.errors import ConfigError, PostgresError
from probity.core.target import DatabaseSpec, Target
from probity.runtime.postgres import Credentials, EmbeddedPostgres

__all__ = ["ProvisionedDatabase", "provision", "reset_database"]


class ProvisionedDatabase:
    """A target database on an embedded cluster, and the role its backend connects as."""

    def __init__(self, pg: EmbeddedPostgres, spec: DatabaseSpec, app: Credentials) -> None:
        self.pg = pg
        self.spec = spec
        self.app = app

    @property
    def template(self) -> str:
        return f"{self.spec.name}_seed"

    @property
    def app_url(self) -> str:
        """The connection string the backend uses (its own unprivileged role)."""
        return self.pg.url(self.spec.name, self.app)

    @property
    def admin_url(self) -> str:
        return self.pg.url(self.spec.name)


def provision(pg: EmbeddedPostgres, target: Target) -> ProvisionedDatabase:
    """Create the app role, the seeded template and the working database of *target*."""
    spec = target.embedded_parts()[0]
    db = ProvisionedDatabase(pg, spec, Credentials(spec.app_role, secrets.token_urlsafe(18)))
    with _admin(pg, "postgres") as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(spec.app_role), sql.Literal(db.app.password)
            )
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.template)))
    _load_template(pg, target, db)
    reset_database(db)
    return db


def reset_database(db: ProvisionedDatabase) -> None:
    """Drop the working database, closing its connections, and copy it afresh from the seeded template."""
    name = sql.Identifier(db.spec.name)
    with _admin(db.pg, "postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(name, sql.Identifier(db.template)))


def _load_template(pg: EmbeddedPostgres, target: Target, db: ProvisionedDatabase) -> None:
    role = sql.Identifier(db.spec.app_role)
    with _admin(pg, db.template) as conn:
        _run_file(conn, target.resolve(db.spec.ddl))
        if db.spec.seed is not None:
            _run_file(conn, target.resolve(db.spec.seed))
        for grant in (
            "GRANT USAGE ON SCHEMA public TO {}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}",
        ):
            conn.execute(sql.SQL(grant).format(role))


def _run_file(conn: psycopg.Connection, path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read SQL file: {exc.strerror}", path) from exc
    try:
        # Without parameters psycopg sends the simple query protocol, so a file of many statements runs.
        conn.execute(text.encode())
    except psycopg.Error as exc:
        raise PostgresError(f"{path}: loading failed: {exc.diag.message_primary or exc}") from exc


def _admin(pg: EmbeddedPostgres, dbname: str) -> psycopg.Connection:
    try:
        return psycopg.connect(pg.url(dbname), autocommit=True, application_name="probity-admin")
    except psycopg.OperationalError as exc:
        raise PostgresError(f"cannot connect to the embedded PostgreSQL: {exc}") from exc
