"""Configuration files are validated by models, and every error names its file and line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from probity.core.errors import ConfigError
from probity.core.policy import load_policy
from probity.core.principals import expand_env, load_principals
from probity.core.target import load_target
from probity.core.yamlfile import line_of, load_yaml

GOOD = """\
name: demo
database:
  name: shop
  app_role: shop_app
  ddl: schema.sql
backend:
  command: ["{python}", "-m", "shop"]
  base_path: /api
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "target.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_target_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    target = load_target(_write(tmp_path, GOOD))
    assert target.resolve(target.database.ddl) == tmp_path / "schema.sql"
    assert target.backend.command == ("{python}", "-m", "shop")


@pytest.mark.parametrize(
    ("bad", "good", "line", "field"),
    [
        ("name: shop", "name: Shop-DB", 3, "database.name"),
        ("base_path: /api", "base_path: api", 8, "backend.base_path"),
        ('command: ["{python}", "-m", "shop"]', "command: []", 7, "backend.command"),
        ("  ddl: schema.sql", "  ddl: schema.sql\n  colour: blue", 6, "database.colour"),
    ],
)
def test_invalid_value_is_reported_with_its_line(tmp_path: Path, bad: str, good: str, line: int, field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_target(_write(tmp_path, GOOD.replace(bad, good)))
    assert raised.value.line == line
    assert str(raised.value).startswith(f"{tmp_path / 'target.yaml'}:{line}: {field}")


def test_missing_required_field_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="database.app_role: Field required"):
        load_target(_write(tmp_path, GOOD.replace("  app_role: shop_app\n", "")))


def test_a_target_without_embedded_parts_cannot_be_started(tmp_path: Path) -> None:
    target = load_target(_write(tmp_path, GOOD.split("database:")[0] + "base_url: https://staging.example\n"))
    assert not target.embedded
    with pytest.raises(ConfigError, match="give --base-url of a running backend"):
        target.embedded_parts()


def test_broken_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_target(_write(tmp_path, GOOD.replace("  name: shop", "  name: [shop")))
    assert raised.value.line is not None and raised.value.line >= 3
    assert "invalid YAML" in str(raised.value)


def test_data_and_lines_come_from_one_reading_of_the_file(tmp_path: Path) -> None:
    # The data is built from the node tree (libyaml's parser when present): the same values PyYAML's safe_load
    # gives, anchors, timestamps and empty documents included, and lines that point at the right node.
    text = "base: &b {x: 1, when: 2026-11-25}\nitems:\n  - *b\n  - {y: [1, 'two', null, 1.5e3, yes]}\n"
    data, node = load_yaml(_write(tmp_path, text))
    assert data == yaml.safe_load(text) and data["items"][0] == {"x": 1, "when": date(2026, 11, 25)}
    assert line_of(node, ["items", 1, "y"]) == 4
    assert load_yaml(_write(tmp_path, "# nothing\n")) == (None, None)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_target(tmp_path / "nowhere.yaml")


def test_the_clinic_target_file_is_valid(project_root: Path) -> None:
    target = load_target(project_root / "contracts" / "clinic" / "target.yaml")
    database, _ = target.embedded_parts()
    assert target.resolve(database.ddl).is_file()
    assert database.seed is not None and target.resolve(database.seed).is_file()
    for document in (target.policy, target.principals):
        assert document is not None and target.resolve(document).is_file()


# -- policy and principals -------------------------------------------------------------------------------


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


POLICY = """\
tenancy:
  scopes:
    - name: org
      column: org_id
      attribute: organization_id
      tables: [orders, invoices]
secrets:
  columns: [users.password_hash]
  allowed:
    - operation: POST /login
      columns: [users.password_hash]
      reason: checks the password
pagination:
  max_limit: 50
"""


def test_clinic_policy_and_principals_are_valid(project_root: Path) -> None:
    folder = project_root / "contracts" / "clinic"
    policy = load_policy(folder / "policy.yaml")
    principals = load_principals(folder / "principals.yaml")
    assert len(principals.tenants) >= 2
    assert {p.role for p in principals.principals} >= {"ADMIN", "PROVIDER", "STAFF", "PATIENT"}
    assert policy.canary_values(), "the clinic's seeded secrets are listed"
    assert all(p.attributes.get("organization_id") for p in principals.principals)


def test_policy_lookups(tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path, POLICY))
    assert policy.tenancy.scope_of("invoices") is not None and policy.tenancy.scope_of("users") is None
    assert policy.secrets is not None and policy.secrets.allowed_for("POST /login") == {"users.password_hash"}
    assert policy.canary_values() == ()


@pytest.mark.parametrize(
    ("bad", "good", "line", "message"),
    [
        ("max_limit: 50", "max_limit: 10", 14, "default_limit is above max_limit"),
        ("operation: POST /login", "operation: login", 10, "String should match pattern"),
        ("[users.password_hash]\n  allowed", "[password_hash]\n  allowed", 8, "table.column"),
        ("tables: [orders, invoices]", "tables: []", 6, "at least 1 item"),
        ("tables: [orders, invoices]", "tables: [orders]\n    - {name: b, column: c, attribute: d, "
         "tables: [orders]}", 2, "tables in more than one scope: orders"),
    ],
)  # fmt: skip
def test_policy_errors_name_their_line(tmp_path: Path, bad: str, good: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_policy(_policy(tmp_path, POLICY.replace(bad, good)))
    assert raised.value.line == line
    assert message in str(raised.value)


PRINCIPALS = """\
principals:
  - name: a_admin
    tenant: a
    role: ADMIN
    token:
      env: A_TOKEN
  - name: b_user
    tenant: b
    role: USER
    token:
      login: {operation: POST /login, body: {user: b, password: "${B_PASSWORD}"}}
"""


def test_principals_need_exactly_one_token_source(tmp_path: Path) -> None:
    path = tmp_path / "principals.yaml"
    path.write_text(PRINCIPALS.replace("      env: A_TOKEN", "      env: A_TOKEN\n      login: {operation: "
                                       "POST /x}"), encoding="utf-8")  # fmt: skip
    with pytest.raises(ConfigError, match="exactly one of 'login' or 'env'") as raised:
        load_principals(path)
    assert raised.value.line == 6


def test_principal_names_are_unique(tmp_path: Path) -> None:
    path = tmp_path / "principals.yaml"
    path.write_text(PRINCIPALS.replace("b_user", "a_admin"), encoding="utf-8")
    with pytest.raises(ConfigError, match="used twice: a_admin"):
        load_principals(path)


def test_environment_references_expand_late_and_name_what_is_missing() -> None:
    assert expand_env("${X:-d}-${Y}", {"Y": "y"}) == "d-y"
    with pytest.raises(ConfigError, match="B_PASSWORD is not set"):
        expand_env("${B_PASSWORD}", {})
