"""The contract's inventory against the backend: is every operation documented, implemented, and nothing more?

It reuses ``probity contract diff``: the backend's live OpenAPI document when it serves one (certain), else one
safe probe per operation (``GET``/``HEAD``/``OPTIONS`` only; *likely*, never certain). Per contract operation it
states ``contract_inventory.documented`` and ``contract_inventory.implemented``; per operation the backend serves
that the contract lacks, ``contract_inventory.undocumented`` (OWASP API9, improper inventory). When neither
source answers, whether an operation is implemented is INCONCLUSIVE, never assumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from probity.contracts.diff import diff_documents
from probity.contracts.differences import DiffReport, Implemented, OperationResult
from probity.contracts.live import default_openapi_url, fetch_openapi
from probity.contracts.normalize import HTTP_METHODS, join_path, server_prefix
from probity.contracts.probe import probe_contract
from probity.core.errors import BackendError
from probity.core.findings import Category, Outcome, Result, Severity, finding

__all__ = [
    "CHECK",
    "DOCUMENTED",
    "IMPLEMENTED",
    "SOURCE_EXTENSION",
    "UNDOCUMENTED",
    "Inventory",
    "contract_inventory",
    "documented_results",
]

CHECK = "contract_inventory"
DOCUMENTED = f"{CHECK}.documented"
IMPLEMENTED = f"{CHECK}.implemented"
UNDOCUMENTED = f"{CHECK}.undocumented"
# Where an operation is written in the API reference (e.g. "api-reference.md:120"), when the contract says so.
SOURCE_EXTENSION = "x-source"

_FOUND = {Implemented.YES: Outcome.PASS, Implemented.LIKELY: Outcome.PASS}
_MISSING = {Implemented.NO: Outcome.FAIL, Implemented.LIKELY_NOT: Outcome.FAIL}


@dataclass(frozen=True)
class Inventory:
    """The inventory's results, and one line for the run's notes saying where it looked."""

    results: tuple[Result, ...]
    note: str


def contract_inventory(contract: Mapping[str, Any], api_root: str, openapi_url: str | None = None) -> Inventory:
    """Documented, implemented and undocumented operations of *contract* on the backend at *api_root*.

    *openapi_url* is the backend's live OpenAPI document (default: ``/openapi.json`` at the API root's origin);
    when it cannot be read, each operation is probed instead.
    """
    labels = _contract_labels(contract)
    report, how = _implementation(contract, api_root, openapi_url)
    if report is None:
        implemented = [_unobserved(operation, how) for operation in labels.values()]
    else:
        implemented = [_implemented(entry, labels, server_prefix(contract), report.mode) for entry in report.operations]
    results = (*documented_results(contract), *(result for group in implemented for result in group))
    return Inventory(results, f"contract inventory {how}")


def documented_results(contract: Mapping[str, Any]) -> list[Result]:
    """Every operation of the contract is documented (PASS), with its place in the API reference when known.

    >>> contract = {"paths": {"/a": {"get": {"x-source": "api.md:7"}, "post": {}}}}
    >>> [(r.operation, r.message) for r in documented_results(contract)]
    [('GET /a', 'documented in the contract (api.md:7)'), ('POST /a', 'documented in the contract')]
    """
    found = []
    for path, method, spec in _contract_operations(contract):
        source = spec.get(SOURCE_EXTENSION)
        message = f"documented in the contract ({source})" if source else "documented in the contract"
        evidence = {"source": str(source)} if source else {}
        found.append(_result(DOCUMENTED, Outcome.PASS, f"{method} {path}", message, evidence=evidence))
    return found


def _contract_operations(contract: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    paths = contract.get("paths") or {}
    return [
        (str(path), method.upper(), spec)
        for path, item in paths.items()
        if isinstance(item, Mapping)
        for method, spec in item.items()
        if method in HTTP_METHODS and isinstance(spec, Mapping)
    ]


def _contract_labels(contract: Mapping[str, Any]) -> dict[str, str]:
    """The diff's label of each contract operation (its path under the base path) -> the run's "METHOD /path"."""
    prefix = server_prefix(contract)
    return {
        f"{method} {join_path(prefix, path)}": f"{method} {path}" for path, method, _ in _contract_operations(contract)
    }


def _implementation(
    contract: Mapping[str, Any], api_root: str, openapi_url: str | None
) -> tuple[DiffReport | None, str]:
    """The diff against the live document, else against probes; None (and why) when neither was possible."""
    url = openapi_url or default_openapi_url(api_root)
    try:
        return diff_documents(contract, fetch_openapi(url), live_name=url), f"from the live OpenAPI document {url}"
    except BackendError as exc:
        unread = f"no live OpenAPI document ({exc})"
    try:
        return probe_contract(contract, api_root), f"by safe probes (GET/HEAD/OPTIONS): {unread}"
    except BackendError as exc:
        return None, f"could not be taken: {unread}; probes failed too ({exc})"


def _implemented(entry: OperationResult, labels: Mapping[str, str], prefix: str, mode: str) -> list[Result]:
    if not entry.documented:
        return _undocumented(_operation_of(entry.operation, prefix), mode)
    operation = labels.get(entry.operation, _operation_of(entry.operation, prefix))
    source = "the live OpenAPI document" if mode == "openapi" else "a probe (likely, not certain)"
    evidence = {"implemented": str(entry.implemented), "source": source}
    if entry.evidence:
        evidence["probe"] = entry.evidence
    if entry.implemented in _FOUND:
        return [_result(IMPLEMENTED, Outcome.PASS, operation, f"implemented, per {source}", evidence=evidence)]
    if entry.implemented in _MISSING:
        message = f"documented but not implemented, per {source}"
        return [_result(IMPLEMENTED, Outcome.FAIL, operation, message, Severity.MEDIUM, evidence)]
    message = f"whether it is implemented is unknown: {entry.evidence or entry.implemented}"
    return [_result(IMPLEMENTED, Outcome.INCONCLUSIVE, operation, message, evidence=evidence)]


def _undocumented(operation: str, mode: str) -> list[Result]:
    evidence = {"source": "the live OpenAPI document" if mode == "openapi" else "a probe"}
    message = "the backend serves this operation; the contract does not document it"
    return [
        _result(UNDOCUMENTED, Outcome.FAIL, operation, message, Severity.MEDIUM, evidence),
        _result(IMPLEMENTED, Outcome.PASS, operation, f"implemented, per {evidence['source']}", evidence=evidence),
    ]


def _operation_of(label: str, prefix: str) -> str:
    """A diff label as the run names operations: its path below the contract's base path, where it is under it.

    >>> _operation_of("GET /api/v1/debug", "/api/v1"), _operation_of("GET /metrics", "/api/v1")
    ('GET /debug', 'GET /metrics')
    """
    method, _, path = label.partition(" ")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    return f"{method} {path}"


def _unobserved(operation: str, why: str) -> list[Result]:
    message = f"neither a live OpenAPI document nor probes said whether it is implemented: the inventory {why}"
    return [_result(IMPLEMENTED, Outcome.INCONCLUSIVE, operation, message)]


def _result(
    rule: str,
    outcome: Outcome,
    operation: str,
    message: str,
    severity: Severity = Severity.INFO,
    evidence: dict[str, Any] | None = None,
) -> Result:
    return finding(CHECK, rule, Category.CONTRACT, outcome, operation, message, severity, evidence)
