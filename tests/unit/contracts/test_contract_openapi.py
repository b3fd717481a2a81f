"""Good references into OpenAPI 3.1: values at JSON pointers, validity, and byte-for-byte determinism.

Each ``tests/fixtures/reference/good/NAME.md`` has a ``NAME.expect.yaml`` beside it: the diagnostics the
reference gives (notes only) and the values expected at JSON pointers of its contract.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from probity.contracts import derive, derive_contract, parse_reference
from probity.contracts.openapi import to_yaml
from probity.core.errors import ConfigError

GOOD = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "reference" / "good").glob("*.md"))
ABSENT = "<absent>"


def _expectations(reference: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(reference.with_suffix(".expect.yaml").read_text(encoding="utf-8"))
    return loaded


def _pointer_cases() -> list[Any]:
    return [
        pytest.param(reference, pointer, value, id=f"{reference.stem}:{pointer}")
        for reference in GOOD
        for pointer, value in _expectations(reference)["pointers"].items()
    ]


def _resolve(document: Any, pointer: str) -> Any:
    node = document
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)] if int(part) < len(node) else ABSENT
        else:
            node = node.get(part, ABSENT) if isinstance(node, dict) else ABSENT
        if node is ABSENT:
            return ABSENT
    return node


@pytest.mark.parametrize(("reference", "pointer", "expected"), _pointer_cases())
def test_contract_value_at_pointer(reference: Path, pointer: str, expected: Any) -> None:
    document = derive_contract(reference).document
    assert _resolve(document, pointer) == expected


@pytest.mark.parametrize("reference", GOOD, ids=lambda path: path.stem)
def test_good_reference_gives_only_its_notes(reference: Path) -> None:
    derivation = derive_contract(reference)
    assert [diagnostic.located() for diagnostic in derivation.diagnostics] == _expectations(reference)["diagnostics"]
    assert derivation.problems == ()


@pytest.mark.parametrize("reference", GOOD, ids=lambda path: path.stem)
def test_written_contract_is_valid_openapi_31(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "openapi.yaml"
    derive(reference, out)
    written = yaml.safe_load(out.read_text(encoding="utf-8"))
    validate(written)  # raises if the file is not valid OpenAPI 3.1
    assert written == derive_contract(reference).document  # YAML round trip keeps every value and type


@pytest.mark.parametrize("reference", GOOD, ids=lambda path: path.stem)
def test_deriving_twice_gives_the_same_bytes(reference: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "openapi.yaml", tmp_path / "b" / "openapi.yaml"
    derive(reference, first)
    derive(reference, second)
    assert first.read_bytes() == second.read_bytes()
    assert b"&id" not in first.read_bytes()  # no YAML anchors and aliases


def test_output_does_not_depend_on_hash_seeds(tmp_path: Path) -> None:
    reference = GOOD[0]
    code = "import sys; from pathlib import Path; from probity.contracts import derive_contract; "
    code += "sys.stdout.write(derive_contract(Path(sys.argv[1])).yaml())"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, str(reference)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1 and next(iter(outputs)).startswith("# Derived by `probity contract derive`")


def test_an_invalid_document_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The package exports the function `derive`, which hides the module of that name as an attribute.
    derive_module = importlib.import_module("probity.contracts.derive")
    monkeypatch.setattr(derive_module, "build_openapi", lambda reference: {"openapi": "3.1.0", "paths": {}})
    with pytest.raises(ConfigError, match=r"not valid OpenAPI 3\.1 at \(document\): .info. is a required") as raised:
        derive_contract(GOOD[0])
    assert "\n" not in str(raised.value)


def test_a_reference_without_a_title_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"api\.md:1: no level-1 heading"):
        parse_reference("Just text.\n\n## GET /x\n", "api.md")


def test_yaml_keeps_build_order_and_quotes_what_yaml_would_misread() -> None:
    text = to_yaml({"z": 1, "a": {"200": "yes", "nullable": [None, "null"]}})
    assert text == "z: 1\na:\n  '200': 'yes'\n  nullable:\n  - null\n  - 'null'\n"
