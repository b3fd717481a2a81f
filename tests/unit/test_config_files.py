"""Configuration files are validated by models, and every error names its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from probity.core.errors import ConfigError
from probity.core.target import load_target

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
def test_invalid_value_is_reported_with_its_line(
    tmp_path: Path, bad: str, good: str, line: int, field: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_target(_write(tmp_path, GOOD.replace(bad, good)))
    assert raised.value.line == line
    assert str(raised.value).startswith(f"{tmp_path / 'target.yaml'}:{line}: {field}")


def test_missing_section_points_at_the_document(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="backend: Field required"):
        load_target(_write(tmp_path, GOOD.split("backend:")[0]))


def test_broken_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_target(_write(tmp_path, GOOD.replace("  name: shop", "  name: [shop")))
    assert raised.value.line is not None and raised.value.line >= 3
    assert "invalid YAML" in str(raised.value)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_target(tmp_path / "nowhere.yaml")


def test_the_clinic_target_file_is_valid(project_root: Path) -> None:
    target = load_target(project_root / "contracts" / "clinic" / "target.yaml")
    assert target.resolve(target.database.ddl).is_file()
    assert target.database.seed is not None and target.resolve(target.database.seed).is_file()
