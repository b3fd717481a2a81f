"""Run the design review: read the four documents, apply every rule to every operation, add drift if asked.

The operations are the API reference's, in its order, then any the blueprint adds. Files that cannot be
read, a reference without a title or a policy that does not validate stop the review (a
:class:`~probity.core.errors.ConfigError`, exit 2); everything inside the documents that does not hold is a
finding, an unparseable SQL statement included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from probity.contracts import parse_reference
from probity.contracts.model import Operation
from probity.core.errors import ConfigError
from probity.core.findings import Outcome, Result
from probity.core.policy import Policy, load_policy
from probity.review import RULES
from probity.review.blueprint import Blueprint, parse_blueprint
from probity.review.context import ReviewContext, Subject
from probity.review.drift import drift, live_catalog
from probity.sql import catalog_from_ddl

__all__ = ["ReviewDocuments", "ReviewReport", "review_documents"]


@dataclass(frozen=True)
class ReviewDocuments:
    """The documents a review reads: API reference, implementation blueprint, DDL and compliance policy."""

    reference: Path
    blueprint: Path
    ddl: Path
    policy: Path

    def as_dict(self) -> dict[str, Path]:
        return {"reference": self.reference, "blueprint": self.blueprint, "ddl": self.ddl, "policy": self.policy}


@dataclass(frozen=True)
class ReviewReport:
    """Every result of one review, the operations reviewed and what the reading noted."""

    documents: ReviewDocuments
    results: tuple[Result, ...]
    operations: tuple[str, ...]
    notes: tuple[str, ...]
    started: str
    finished: str
    drift_checked: bool = False

    @property
    def exit_code(self) -> int:
        """0 clean, 1 a FAIL finding, 3 nothing failed but something could not be reviewed."""
        outcomes = {result.outcome for result in self.results}
        return 1 if Outcome.FAIL in outcomes else 3 if Outcome.INCONCLUSIVE in outcomes else 0


def review_documents(documents: ReviewDocuments, dsn: str | None = None) -> ReviewReport:
    """Review *documents*; with *dsn*, compare the DDL with that database's catalog too."""
    started = _now()
    ctx, subjects, notes = _load(documents)
    results = [result for subject in subjects for rule in RULES for result in rule(subject, ctx)]
    if dsn:
        results += drift(ctx.catalog, live_catalog(dsn))
    operations = tuple(subject.label for subject in subjects)
    return ReviewReport(documents, tuple(results), operations, notes, started, _now(), drift_checked=bool(dsn))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load(documents: ReviewDocuments) -> tuple[ReviewContext, list[Subject], tuple[str, ...]]:
    texts = {name: _read(path) for name, path in documents.as_dict().items()}
    reference, diagnostics = parse_reference(texts["reference"], documents.reference)
    blueprint = _relative(parse_blueprint(texts["blueprint"], documents.blueprint), reference.base_path)
    catalog = catalog_from_ddl(texts["ddl"])
    policy = load_policy(documents.policy)
    tagged = catalog.tag(policy)
    ctx = ReviewContext(policy, catalog, tagged, blueprint, documents.reference, documents.ddl)
    notes = [str(d) for d in diagnostics if d.is_problem]
    notes += [f"{documents.ddl}:{s.line}: DDL statement skipped ({s.reason})" for s in catalog.skipped]
    notes += [f"{documents.policy}: the policy names {gone}, which the DDL lacks" for gone in tagged.missing]
    return ctx, list(_subjects(reference.operations, blueprint, policy)), tuple(notes)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read this review document: {exc}", path) from exc


def _relative(blueprint: Blueprint, base_path: str | None) -> Blueprint:
    """The blueprint with its headings relative to the reference's base path (``/api/v1/x`` → ``/x``)."""
    base = (base_path or "").rstrip("/")
    if not base:
        return blueprint
    endpoints = {_strip(label, base): endpoint for label, endpoint in blueprint.endpoints.items()}
    return Blueprint(blueprint.path, MappingProxyType(endpoints))


def _strip(label: str, base: str) -> str:
    method, _, path = label.partition(" ")
    return f"{method} {path[len(base) :] or '/'}" if path.startswith(base + "/") or path == base else label


def _subjects(operations: list[Operation], blueprint: Blueprint, policy: Policy) -> Iterator[Subject]:
    documented = {f"{op.method} {op.path}": op for op in operations}
    for label, operation in documented.items():
        phi = bool(operation.phi) or label in policy.phi.operations
        yield Subject(label, operation, blueprint.endpoints.get(label), phi, bool(operation.paginated))
    for label, endpoint in blueprint.endpoints.items():
        if label not in documented:
            phi = label in policy.phi.operations or (endpoint.key("PHI") or "").lower().startswith("yes")
            yield Subject(label, None, endpoint, phi)
