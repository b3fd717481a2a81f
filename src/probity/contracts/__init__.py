"""API contracts: an API reference written to the Markdown convention, derived into OpenAPI 3.1.

Layer: imports :mod:`probity.core` only; the engine and the CLI import it.

* :mod:`~probity.contracts.markdown` — Markdown structure, line by line
* :mod:`~probity.contracts.reference` — the reference into a typed model (:mod:`~probity.contracts.model`),
  with the cells, tables, bodies, operations and cross-checks it is read with
* :mod:`~probity.contracts.openapi` — the model into an OpenAPI 3.1 document (schemas in
  :mod:`~probity.contracts.schemas`)
* :mod:`~probity.contracts.derive` — file to validated contract file
"""

from __future__ import annotations

from probity.contracts.derive import Derivation, derive, derive_contract, require_clean, write_contract
from probity.contracts.diagnostics import Diagnostic
from probity.contracts.model import Reference
from probity.contracts.openapi import build_openapi, to_yaml
from probity.contracts.reference import parse_reference

__all__ = [
    "Derivation",
    "Diagnostic",
    "Reference",
    "build_openapi",
    "derive",
    "derive_contract",
    "parse_reference",
    "require_clean",
    "to_yaml",
    "write_contract",
]
