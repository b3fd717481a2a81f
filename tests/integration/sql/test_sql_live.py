"""live.py: the catalog read from a real PostgreSQL equals the one read from the same DDL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from probity.core.catalog import Catalog, Index, RlsPolicy
from probity.runtime.postgres import EmbeddedPostgres
from probity.sql.ddl import catalog_from_ddl
from probity.sql.live import catalog_from_database

pytestmark = pytest.mark.postgres

SCHEMA = Path(__file__).resolve().parents[3] / "fixtures" / "clinic" / "schema.sql"

# What schema.sql lacks and the catalog must read too: RLS, policies, quoted names, expression and partial
# unique indexes, a table outside public.
EXTRA_DDL = """
CREATE TABLE "CamelCase" ("Id" serial PRIMARY KEY, "OrgId" uuid NOT NULL, label text, UNIQUE ("OrgId", label));
CREATE UNIQUE INDEX camel_lower_label ON "CamelCase" (lower(label)) WHERE "OrgId" IS NOT NULL;
ALTER TABLE patients ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON patients USING (organization_id = current_setting('app.current_org')::uuid);
CREATE POLICY staff_write ON patients AS RESTRICTIVE FOR UPDATE TO probity
    USING (deleted_at IS NULL AND (is_restricted = false OR notes IS NOT NULL)) WITH CHECK (true);
CREATE SCHEMA reporting;
CREATE TABLE reporting.daily_counts (organization_id uuid NOT NULL, day date NOT NULL, visits int NOT NULL,
    PRIMARY KEY (organization_id, day));
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[psycopg.Connection[Any]]:
    """One cluster for the module, loaded with schema.sql and EXTRA_DDL; stopped at the end."""
    monkeypatch = pytest.MonkeyPatch()
    state = tmp_path_factory.mktemp("sql-live") / "state"
    monkeypatch.setenv("PROBITY_STATE_DIR", str(state))
    for folder in (state.parent, *state.parent.parents):  # the server's account must reach its cluster
        if folder == Path("/"):
            break
        folder.chmod(folder.stat().st_mode | 0o005)
    try:
        with EmbeddedPostgres() as pg, psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
            conn.execute((SCHEMA.read_text(encoding="utf-8") + EXTRA_DDL).encode())
            yield conn
    finally:
        monkeypatch.undo()


@pytest.fixture(scope="module")
def live(loaded: psycopg.Connection[Any]) -> Catalog:
    return catalog_from_database(loaded)


def test_the_database_and_the_ddl_give_the_same_catalog(live: Catalog) -> None:
    from_ddl = catalog_from_ddl(SCHEMA.read_text(encoding="utf-8") + EXTRA_DDL)
    assert from_ddl.skipped == ()
    differing = [t.name for t, d in zip(live.tables, from_ddl.tables, strict=True) if t != d]
    assert [t.name for t in live.tables] == [t.name for t in from_ddl.tables]
    assert differing == []
    assert live == from_ddl


def test_row_level_security_as_the_server_stores_it(live: Catalog) -> None:
    patients = live.table("patients")
    assert patients is not None and patients.row_security
    assert patients.policies == (
        RlsPolicy("staff_write", "UPDATE", "deleted_at IS NULL AND (is_restricted = FALSE OR notes IS NOT NULL)",
                  "TRUE", permissive=False, roles=("probity",)),
        RlsPolicy("tenant_isolation", "ALL", "organization_id = CAST(CURRENT_SETTING('app.current_org') AS UUID)"),
    )  # fmt: skip


def test_names_keys_and_indexes_as_postgres_made_them(live: Catalog) -> None:
    camel = live.table('"CamelCase"')
    assert camel is not None and camel.name == "CamelCase"
    assert camel.unique[0].name == "CamelCase_OrgId_label_key"
    assert camel.indexes == (Index("camel_lower_label", ("LOWER(label)",), unique=True, partial=True),)
    assert camel.columns[0].has_default and not camel.columns[0].nullable
    daily = live.table("reporting.daily_counts")
    assert daily is not None and daily.schema == "reporting" and daily.primary_key == ("organization_id", "day")
    sessions = live.table("sessions")
    assert sessions is not None
    assert {fk.name for fk in sessions.foreign_keys} >= {"sessions_organization_id_user_id_fkey"}
