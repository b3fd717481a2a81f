"""Keep ARCHITECTURE.md true: every module imports only the layers it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# layer -> the layers of Probity it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "probes": {"core", "sql"},
    "sql": {"core"},
    "runtime": {"core"},
    "contracts": {"core"},
    "capture": {"core"},
    "engine": {"core", "probes", "sql", "runtime", "contracts", "capture"},
    "reporting": {"core", "engine"},
    "review": {"core", "sql", "contracts"},
    "cli": {"core", "probes", "sql", "runtime", "contracts", "capture", "engine", "reporting", "review"},
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "probity" else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules() -> list[Path]:
    return sorted((SRC / "probity").rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    layer = path.relative_to(SRC / "probity").parts[0]
    if layer not in ALLOWED:
        assert path.parent == SRC / "probity", f"{path} is in no layer of ARCHITECTURE.md"
        return
    wrong = {
        imported
        for imported in _imports(path)
        if (other := _layer(imported)) not in (None, layer) and other not in ALLOWED[layer]
    }
    assert not wrong, f"{path.relative_to(SRC)} ({layer}) imports {sorted(wrong)}"


def test_harness_never_imports_the_reference_backend() -> None:
    offenders = [p for p in _modules() if any(m.split(".")[0] == "clinic" for m in _imports(p))]
    assert offenders == []


def test_every_layer_named_here_is_documented() -> None:
    text = (SRC.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert all(f"probity.{layer}" in text for layer in ALLOWED)


def test_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from probity.cli import main\nimport probity.engine.runner\n", encoding="utf-8")
    assert {_layer(m) for m in _imports(bad)} == {"cli", "engine"}
