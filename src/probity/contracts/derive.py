"""``probity contract derive``: an API reference in Markdown, made into a validated OpenAPI 3.1 contract.

read the file → parse it (:mod:`~probity.contracts.reference`) → build the document
(:mod:`~probity.contracts.openapi`) → validate it with openapi-spec-validator → write it as YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from probity.contracts.diagnostics import Diagnostic
from probity.contracts.openapi import build_openapi, to_yaml
from probity.contracts.reference import parse_reference
from probity.core.errors import ConfigError

__all__ = ["Derivation", "derive", "derive_contract", "require_clean", "write_contract"]


@dataclass(frozen=True)
class Derivation:
    """A derived contract, before it is written: the document, and what was found on the way."""

    source: Path
    document: dict[str, Any]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def problems(self) -> tuple[Diagnostic, ...]:
        """The diagnostics that are problems (``--strict`` fails on them), without the notes."""
        return tuple(diagnostic for diagnostic in self.diagnostics if diagnostic.is_problem)

    def yaml(self) -> str:
        # The file's name only, not its path, so the output does not depend on where it was run.
        header = f"# Derived by `probity contract derive` from {self.source.name}; edit that, not this file.\n"
        return header + to_yaml(self.document)


def derive_contract(source: Path) -> Derivation:
    r"""Read, parse, build and validate the contract of the reference at *source*; nothing is written.

    Raises :class:`ConfigError` when the file cannot be read, has no title, or gives a document that is
    not valid OpenAPI 3.1.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     source = Path(folder) / "api.md"
    ...     _ = source.write_text("# Pets\n\n- **Version:** 1.0.0\n", encoding="utf-8")
    ...     derivation = derive_contract(source)
    >>> derivation.document["info"], derivation.diagnostics
    ({'title': 'Pets', 'version': '1.0.0'}, ())
    """
    reference, diagnostics = parse_reference(_read(source), source)
    document = build_openapi(reference)
    _validate(document, source)
    return Derivation(source, document, diagnostics)


def require_clean(derivation: Derivation) -> None:
    """Raise :class:`ConfigError` at the first problem of *derivation*, counting the others."""
    problems = derivation.problems
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{first.message}{more}", first.path, first.line)


def write_contract(derivation: Derivation, output: Path) -> None:
    """Write the contract of *derivation* to *output* as YAML, creating its folder if need be."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(derivation.yaml(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the contract: {exc.strerror}", output) from exc


def derive(source: Path, output: Path, *, strict: bool = False) -> tuple[Diagnostic, ...]:
    r"""Derive the contract of *source* into *output*; returns the diagnostics.

    With *strict*, any problem raises :class:`ConfigError` (file and line) and nothing is written.

    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> source = Path(folder.name) / "api.md"
    >>> _ = source.write_text("# Pets\n\n- **Owner:** us\n", encoding="utf-8")
    >>> [diagnostic.located() for diagnostic in derive(source, Path(folder.name) / "openapi.yaml")]
    ['1: the front matter has no `- **Version:**` line', "3: unknown front-matter key 'Owner'"]
    >>> derive(source, Path(folder.name) / "strict.yaml", strict=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    probity.core.errors.ConfigError: ...api.md:1: the front matter has no `- **Version:**` line (and 1 more)
    >>> folder.cleanup()
    """
    derivation = derive_contract(source)
    if strict:
        require_clean(derivation)
    write_contract(derivation, output)
    return derivation.diagnostics


def _read(source: Path) -> str:
    try:
        return source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", source) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", source) from exc


def _validate(document: dict[str, Any], source: Path) -> None:
    try:
        validate(document)
    except OpenAPIValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "(document)"
        # The validator's message goes on with the schema and the instance; people need its first line.
        problem = exc.message.splitlines()[0] if exc.message else "invalid"
        raise ConfigError(f"the derived contract is not valid OpenAPI 3.1 at {where}: {problem}", source) from exc
