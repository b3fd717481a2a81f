"""The committed clinic contract is exactly what its API reference derives to: a stale one fails here."""

from __future__ import annotations

from pathlib import Path

from probity.contracts.derive import derive_contract, require_clean

ROOT = Path(__file__).resolve().parents[3]


def test_committed_clinic_contract_is_derived_from_the_current_reference() -> None:
    derivation = derive_contract(ROOT / "fixtures" / "clinic" / "docs" / "api-reference.md")
    require_clean(derivation)  # --strict: no diagnostic
    committed = (ROOT / "contracts" / "clinic" / "openapi.yaml").read_text(encoding="utf-8")
    assert derivation.yaml() == committed, (
        "contracts/clinic/openapi.yaml is stale: run `probity contract derive fixtures/clinic/docs/api-reference.md "
        "-o contracts/clinic/openapi.yaml --strict`"
    )
