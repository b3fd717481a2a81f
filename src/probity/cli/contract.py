"""``probity contract derive``: print what the reference gets wrong, then write (or, strictly, refuse)."""

from __future__ import annotations

import sys
from pathlib import Path

from probity.contracts.derive import Derivation, derive_contract, require_clean, write_contract

__all__ = ["run_derive"]


def run_derive(reference: Path, output: Path, *, strict: bool = False) -> int:
    """Derive *reference* into *output*; each diagnostic on stderr as ``FILE:LINE: message``; 0 when written.

    With *strict* and any problem, raises :class:`~probity.core.errors.ConfigError` (exit code 2) and writes
    nothing.
    """
    derivation = derive_contract(reference)
    for diagnostic in derivation.diagnostics:
        print(diagnostic, file=sys.stderr)  # noqa: T201
    refused = strict and bool(derivation.problems)
    print(_summary(derivation, output, refused))  # noqa: T201
    if refused:
        require_clean(derivation)
    write_contract(derivation, output)
    return 0


def _summary(derivation: Derivation, output: Path, refused: bool) -> str:
    paths = derivation.document.get("paths", {})
    operations = sum(len(item) for item in paths.values())
    schemas = len(derivation.document.get("components", {}).get("schemas", {}))
    problems = len(derivation.problems)
    notes = len(derivation.diagnostics) - problems
    counts = f"{operations} operations, {schemas} schemas, {problems} problems, {notes} notes"
    outcome = "nothing written (--strict)" if refused else f"wrote {output}"
    return f"{derivation.source}: {counts}; {outcome}"
