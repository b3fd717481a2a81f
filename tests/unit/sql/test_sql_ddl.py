"""ddl.py: the clinic's schema read into a catalog, and the statements the reader must survive."""

from __future__ import annotations

from pathlib import Path

import pytest

from probity.core.catalog import Catalog, ForeignKey, Index, RlsPolicy
from probity.core.policy import AuditColumns, AuditPolicy, PhiPolicy, Policy, SecretsPolicy, TenancyPolicy, TenantScope
from probity.sql.ddl import catalog_from_ddl, normalize_condition, normalize_type, pg_default_name

SCHEMA = Path(__file__).resolve().parents[3] / "fixtures" / "clinic" / "schema.sql"

TABLES = [
    "organizations", "users", "memberships", "sessions", "patients", "appointments", "message_threads",
    "messages", "notifications", "support_tickets", "support_messages", "proxies", "billing_accounts",
    "telemetry_events", "audit_logs",
]  # fmt: skip

# Every CREATE INDEX of schema.sql, by table.
INDEXES = {
    "appointments": [
        "appointments_created_by_idx", "appointments_org_patient_idx", "appointments_org_provider_idx",
        "appointments_org_starts_idx", "appointments_org_status_idx", "appointments_patient_id_idx",
        "appointments_provider_user_id_idx",
    ],
    "audit_logs": [
        "audit_logs_actor_user_id_idx", "audit_logs_org_action_idx", "audit_logs_org_actor_idx",
        "audit_logs_org_occurred_idx", "audit_logs_org_resource_idx",
    ],
    "memberships": ["memberships_org_created_idx", "memberships_org_role_user_idx", "memberships_user_id_idx"],
    "message_threads": [
        "message_threads_created_by_idx", "message_threads_org_last_idx", "message_threads_org_patient_idx",
        "message_threads_patient_id_idx",
    ],
    "messages": ["messages_org_thread_created_idx", "messages_sender_user_id_idx", "messages_thread_id_idx"],
    "notifications": [
        "notifications_org_user_created_idx", "notifications_org_user_unread_idx", "notifications_read_at_idx",
        "notifications_user_id_idx",
    ],
    "patients": [
        "patients_created_by_idx", "patients_deleted_at_idx", "patients_given_name_idx", "patients_org_name_idx",
        "patients_org_restricted_idx", "patients_org_user_idx", "patients_primary_provider_idx",
        "patients_user_id_idx",
    ],
    "proxies": ["proxies_created_by_idx", "proxies_org_patient_created_idx", "proxies_patient_id_idx"],
    "sessions": [
        "sessions_expires_at_idx", "sessions_org_user_active_idx", "sessions_revoked_at_idx", "sessions_user_id_idx",
    ],
    "support_messages": [
        "support_messages_author_user_id_idx", "support_messages_org_ticket_created_idx",
        "support_messages_ticket_id_idx",
    ],
    "support_tickets": [
        "support_tickets_org_created_idx", "support_tickets_org_requester_idx", "support_tickets_org_status_idx",
        "support_tickets_requester_user_id_idx", "support_tickets_status_idx",
    ],
    "telemetry_events": [
        "telemetry_events_org_name_idx", "telemetry_events_org_occurred_idx", "telemetry_events_user_id_idx",
    ],
}  # fmt: skip

# The composite foreign keys that keep a row from pointing at another tenant's row.
COMPOSITE_FKS = [
    ("sessions", ("organization_id", "user_id"), "memberships", ("organization_id", "user_id")),
    ("appointments", ("organization_id", "patient_id"), "patients", ("organization_id", "id")),
    ("message_threads", ("organization_id", "patient_id"), "patients", ("organization_id", "id")),
    ("messages", ("organization_id", "thread_id"), "message_threads", ("organization_id", "id")),
    ("support_messages", ("organization_id", "ticket_id"), "support_tickets", ("organization_id", "id")),
    ("proxies", ("organization_id", "patient_id"), "patients", ("organization_id", "id")),
]


@pytest.fixture(scope="module")
def clinic() -> Catalog:
    return catalog_from_ddl(SCHEMA.read_text(encoding="utf-8"))


def test_every_table_and_nothing_skipped(clinic: Catalog) -> None:
    assert clinic.skipped == ()
    assert sorted(table.name for table in clinic) == sorted(TABLES)
    assert all(table.schema == "public" and table.primary_key == ("id",) for table in clinic)


def test_every_index_with_its_columns(clinic: Catalog) -> None:
    found = {table.name: [index.name for index in table.indexes] for table in clinic if table.indexes}
    assert found == INDEXES
    patients = clinic.table("patients")
    assert patients is not None
    assert Index("patients_org_name_idx", ("organization_id", "deleted_at", "family_name", "given_name", "id")) in (
        patients.indexes
    )
    assert not any(index.unique or index.partial for table in clinic for index in table.indexes)


@pytest.mark.parametrize(("table", "columns", "ref_table", "ref_columns"), COMPOSITE_FKS)
def test_composite_foreign_keys(
    clinic: Catalog, table: str, columns: tuple[str, ...], ref_table: str, ref_columns: tuple[str, ...]
) -> None:
    found = clinic.table(table)
    assert found is not None
    fk = next(fk for fk in found.foreign_keys if fk.columns == columns)
    assert (fk.ref_table, fk.ref_columns, fk.on_delete) == (ref_table, ref_columns, "CASCADE")
    assert fk.name == f"{table}_{'_'.join(columns)}_fkey"  # as PostgreSQL names it


def test_inline_constraints(clinic: Catalog) -> None:
    users, billing = clinic.table("users"), clinic.table("billing_accounts")
    assert users is not None and billing is not None
    assert clinic.unique_keys("users") == (("id",), ("email",))
    assert clinic.unique_keys("billing_accounts") == (("id",), ("organization_id",))
    assert billing.foreign_keys == (
        ForeignKey("billing_accounts_organization_id_fkey", ("organization_id",), "organizations", ("id",), "CASCADE"),
    )
    assert clinic.unique_keys("memberships") == (("id",), ("organization_id", "id"), ("organization_id", "user_id"))


def test_columns_types_nullability_defaults(clinic: Catalog) -> None:
    users = clinic.table("users")
    assert users is not None
    assert clinic.columns("users")[:3] == ("id", "email", "password_hash")
    id_, _, _, mfa_secret, mfa_enabled, *_ = users.columns
    assert (id_.type, id_.nullable, id_.has_default) == ("UUID", False, True)
    assert (mfa_secret.type, mfa_secret.nullable, mfa_secret.has_default) == ("TEXT", True, False)
    assert (mfa_enabled.type, mfa_enabled.nullable, mfa_enabled.has_default) == ("BOOLEAN", False, True)
    assert users.column("created_at") is not None and users.column("created_at").type == "TIMESTAMPTZ"  # type: ignore[union-attr]


def test_index_prefixes(clinic: Catalog) -> None:
    assert clinic.is_indexed_prefix("patients", ["deleted_at", "organization_id"])
    assert not clinic.is_indexed_prefix("patients", ["deleted_at", "organization_id"], ordered=True)
    assert clinic.is_indexed_prefix("public.messages", ["organization_id", "thread_id", "created_at"], ordered=True)
    assert clinic.is_indexed_prefix("memberships", ["organization_id", "user_id"])  # the UNIQUE constraint
    assert not clinic.is_indexed_prefix("billing_accounts", ["status"])
    assert not clinic.is_indexed_prefix("nope", ["id"])


def test_lookups_tolerate_schema_quotes_and_case(clinic: Catalog) -> None:
    for name in ("patients", "public.patients", '"patients"', 'public."patients"', "PATIENTS"):
        assert clinic.table(name) is not None, name
    assert clinic.table("other.patients") is None


def test_unparseable_and_unusable_statements_are_reported_with_their_line() -> None:
    catalog = catalog_from_ddl(
        "CREATE TABLE a (id int PRIMARY KEY);\n"
        "CREATE TABLE b (;\n"
        "\n"
        "CREATE INDEX ON missing (x);\n"
        "ALTER TABLE a ALTER COLUMN id SET STATISTICS 5;\n"
        "CREATE POLICY p ON a USING (true;\n"
        "CREATE EXTENSION pgcrypto;\n"
        "CREATE TABLE c AS SELECT 1 AS x;\n"
        "CREATE TABLE d id int;\n"
    )
    assert [t.name for t in catalog] == ["a"]
    assert [(s.line, s.reason.split(":")[0]) for s in catalog.skipped] == [
        (2, "cannot parse"),
        (4, "table missing is not created above"),
        (5, "unsupported ALTER TABLE"),
        (6, "cannot read"),
        (8, "CREATE TABLE without a column list"),
        (9, "unsupported CREATE TABLE"),
    ]


def test_an_untokenizable_script_is_reported_not_raised() -> None:
    catalog = catalog_from_ddl("CREATE TABLE a (x text DEFAULT 'unterminated);")
    assert catalog.tables == () and len(catalog.skipped) == 1


def test_row_level_security_and_policies() -> None:
    catalog = catalog_from_ddl(
        "CREATE TABLE notes (id uuid PRIMARY KEY, org uuid NOT NULL, body text);\n"
        "ALTER TABLE ONLY public.notes ENABLE ROW LEVEL SECURITY;\n"
        "ALTER TABLE notes FORCE ROW LEVEL SECURITY;\n"
        "CREATE POLICY tenant ON notes USING (org = current_setting('app.org')::uuid);\n"
        'CREATE POLICY "Writers" ON public.notes AS RESTRICTIVE FOR INSERT TO app, "Ops" WITH CHECK (body <> \'\');\n'
    )
    notes = catalog.table("notes")
    assert notes is not None and notes.row_security and catalog.skipped == ()
    assert notes.policies == (
        RlsPolicy("Writers", "INSERT", None, "body <> ''", permissive=False, roles=("app", "Ops")),
        RlsPolicy("tenant", "ALL", "org = CAST(CURRENT_SETTING('app.org') AS UUID)"),
    )


def test_alter_table_add_constraint_and_column() -> None:
    catalog = catalog_from_ddl(
        "CREATE TABLE p (id int, org int);\n"
        "CREATE TABLE c (id int, org int, p_id int);\n"
        "ALTER TABLE ONLY p ADD CONSTRAINT p_pkey PRIMARY KEY (id);\n"
        "ALTER TABLE p ADD CONSTRAINT p_org_id UNIQUE (org, id);\n"
        "ALTER TABLE c ADD CONSTRAINT c_p FOREIGN KEY (org, p_id) REFERENCES p (org, id) ON DELETE SET NULL;\n"
        "ALTER TABLE c ADD COLUMN note text NOT NULL DEFAULT '';\n"
    )
    p, c = catalog.table("p"), catalog.table("c")
    assert p is not None and c is not None
    assert p.primary_key == ("id",) and p.unique[0].columns == ("org", "id")
    assert c.foreign_keys == (ForeignKey("c_p", ("org", "p_id"), "p", ("org", "id"), "SET NULL"),)
    assert c.column_names[-1] == "note" and c.columns[-1].has_default and not c.columns[-1].nullable


def test_serial_identity_quoted_and_unnamed() -> None:
    catalog = catalog_from_ddl(
        'CREATE TABLE "Odd" ("Id" serial PRIMARY KEY, n bigint GENERATED ALWAYS AS IDENTITY, "Label" text);\n'
        'CREATE UNIQUE INDEX ON "Odd" ("Label", lower("Label")) WHERE n > 0;\n'
    )
    odd = catalog.table('"Odd"')
    assert odd is not None and odd.name == "Odd"
    assert [(c.name, c.type, c.nullable, c.has_default) for c in odd.columns] == [
        ("Id", "INT", False, True), ("n", "BIGINT", False, True), ("Label", "TEXT", True, False),
    ]  # fmt: skip
    assert odd.indexes == (Index("Odd_Label_expr_idx", ("Label", 'LOWER("Label")'), unique=True, partial=True),)
    assert odd.unique_keys() == (("Id",),)  # a partial unique index is not a key of every row


def test_normalizers() -> None:
    assert normalize_type("character varying(20)") == "VARCHAR(20)"
    assert normalize_type("not a type (") == "NOT A TYPE ("
    assert normalize_condition("((a = 1) OR (b = 2)) AND (c = 3)") == "(a = 1 OR b = 2) AND c = 3"
    assert normalize_condition("NOT ((a = 1) AND (b = 2))") == "NOT (a = 1 AND b = 2)"
    assert pg_default_name("t", [], "pkey") == "t_pkey"


def test_tagging_with_a_policy(clinic: Catalog) -> None:
    policy = Policy(
        tenancy=TenancyPolicy(
            scopes=(
                TenantScope(name="org", column="organization_id", attribute="organization_id",
                            tables=("patients", "public.appointments", "ghosts")),
                TenantScope(name="user", column="owner_id", attribute="user_id", tables=("notifications",)),
            )
        ),
        phi=PhiPolicy(tables=("patients", "appointments")),
        audit=AuditPolicy(
            table="audit_logs",
            columns=AuditColumns(actor="actor_user_id", tenant="organization_id", action="action",
                                 resource_type="resource_type", resource_id="resource_id"),
            actor_attribute="user_id",
            tenant_attribute="organization_id",
        ),
        secrets=SecretsPolicy(columns=("users.password_hash", "users.mfa_secret", "billing_accounts.stripe_token")),
    )  # fmt: skip
    tagged = clinic.tag(policy)
    assert tagged.tenant_column("appointments") == "organization_id"
    assert tagged.tenant_column("users") is None
    assert tagged.is_phi('"patients"') and not tagged.is_phi("users")
    assert tagged.is_audit("public.audit_logs")
    assert tagged.secrets_of("users") == {"password_hash", "mfa_secret"}
    assert tagged.is_secret("billing_accounts", "stripe_token") and not tagged.is_secret("users", "email")
    assert tagged.missing == ("table ghosts", "column notifications.owner_id")
