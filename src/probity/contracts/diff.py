"""``probity contract diff``: a contract and a backend's live OpenAPI document, compared operation by operation.

Operations are matched by method and path template, with the parameter names blanked (``/p/{id}`` is
``/p/{account_id}``; the rename is a note) and each side's base path (its first server URL's path) put in
front; when the two sides only line up without base paths, they are compared that way. For each operation
on both sides: its security, parameters, request body and responses, their schemas compared in meaning
(:mod:`~probity.contracts.schema_diff`).

Everything here is pure: two dicts in, a :class:`~probity.contracts.differences.DiffReport` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from probity.contracts.differences import (
    Difference,
    DiffReport,
    Direction,
    Implemented,
    Kind,
    OperationResult,
    Severity,
    severity_of,
)
from probity.contracts.normalize import (
    HTTP_METHODS,
    join_path,
    media_type,
    resolve,
    server_prefix,
    template_key,
    template_names,
)
from probity.contracts.schema_diff import SchemaComparison, Shared

__all__ = ["DocumentOperation", "diff_documents", "document_operations", "operation_parameters"]

Document = Mapping[str, Any]
Key = tuple[str, str]

# OpenAPI ignores header parameters of these names: they are described elsewhere.
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})


@dataclass(frozen=True)
class DocumentOperation:
    """One operation of a document: its method, full path, and where it is written."""

    method: str
    path: str
    spec: Mapping[str, Any]
    item: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def names(self) -> tuple[str, ...]:
        return template_names(self.path)


def document_operations(document: Document, *, with_base_path: bool = True) -> dict[Key, DocumentOperation]:
    """The operations of *document* by (method, path template with names blanked), in document order.

    >>> document = {"servers": [{"url": "/api"}], "paths": {"/p/{id}": {"get": {}, "summary": "x"}}}
    >>> {key: operation.label for key, operation in document_operations(document).items()}
    {('GET', '/api/p/{}'): 'GET /api/p/{id}'}
    >>> list(document_operations(document, with_base_path=False))
    [('GET', '/p/{}')]
    """
    prefix = server_prefix(document)
    found: dict[Key, DocumentOperation] = {}
    paths = document.get("paths")
    for path, item in (paths or {}).items() if isinstance(paths, Mapping) else ():
        if not isinstance(item, Mapping):
            continue
        full = join_path(prefix, str(path))
        for method in HTTP_METHODS:
            spec = item.get(method)
            if isinstance(spec, Mapping):
                key = (method.upper(), template_key(full if with_base_path else str(path)))
                found.setdefault(key, DocumentOperation(method.upper(), full, spec, item))
    return found


def diff_documents(
    contract: Document, live: Document, *, contract_name: str = "contract", live_name: str = "live"
) -> DiffReport:
    """Compare the *contract* with the *live* OpenAPI document of a backend.

    >>> contract = {"paths": {"/p/{account_id}": {"get": {"responses": {"200": {"description": "ok"}}}},
    ...                       "/p": {"post": {"responses": {"201": {"description": "made"}}}}}}
    >>> live = {"paths": {"/p/{id}": {"get": {"responses": {"200": {"description": "OK"}}}}}}
    >>> report = diff_documents(contract, live)
    >>> for result in report.operations:
    ...     print(result.operation, result.implemented, [item.line() for item in result.differences])
    GET /p/{account_id} yes ["[info] path: path parameter 'account_id' is called 'id' in the live document"]
    POST /p no ['[error] documented in the contract, not in the live document']
    >>> report.exit_code
    1
    """
    documented, found, notes = _aligned(contract, live)
    named: Shared = {}
    results = [
        _both(operation, found[key], contract, live, named) if key in found else _missing(operation)
        for key, operation in documented.items()
    ]
    results += [_undocumented(operation) for key, operation in found.items() if key not in documented]
    shared = [*notes, *(difference for differences in named.values() for difference in differences)]
    return DiffReport(contract_name, live_name, "openapi", tuple(results), tuple(shared))


def _aligned(
    contract: Document, live: Document
) -> tuple[dict[Key, DocumentOperation], dict[Key, DocumentOperation], list[Difference]]:
    """Both sides' operations keyed with base paths, or without them when that matches more operations."""
    full = document_operations(contract), document_operations(live)
    bare = document_operations(contract, with_base_path=False), document_operations(live, with_base_path=False)
    if len(bare[0].keys() & bare[1].keys()) <= len(full[0].keys() & full[1].keys()):
        return full[0], full[1], []
    mine, theirs = server_prefix(contract) or "/", server_prefix(live) or "/"
    message = (
        f"the contract's base path {mine} and the live document's {theirs} do not line up; "
        "operations are compared by their paths below the base path"
    )
    note = Difference("(document)", Kind.BASE_PATH, "servers", Severity.INFO, mine, theirs, message)
    return bare[0], bare[1], [note]


def _missing(operation: DocumentOperation) -> OperationResult:
    message = "documented in the contract, not in the live document"
    difference = Difference(operation.label, Kind.OPERATION_MISSING, "", Severity.ERROR, operation.label, None, message)
    return OperationResult(operation.label, documented=True, implemented=Implemented.NO, differences=(difference,))


def _undocumented(operation: DocumentOperation) -> OperationResult:
    message = "in the live document, not documented in the contract"
    difference = Difference(
        operation.label, Kind.OPERATION_UNDOCUMENTED, "", Severity.WARNING, None, operation.label, message
    )
    return OperationResult(operation.label, documented=False, implemented=Implemented.YES, differences=(difference,))


def _both(
    mine: DocumentOperation, theirs: DocumentOperation, contract: Document, live: Document, named: Shared
) -> OperationResult:
    comparison = _OperationComparison(mine, theirs, contract, live, named)
    comparison.run()
    return OperationResult(mine.label, True, Implemented.YES, tuple(comparison.found))


@dataclass
class _OperationComparison:
    mine: DocumentOperation
    theirs: DocumentOperation
    contract: Document
    live: Document
    named: Shared
    found: list[Difference] = field(default_factory=list)

    def run(self) -> None:
        renames = self._renames()
        self._security()
        self._parameters(renames)
        self._request_body()
        self._responses()

    def add(self, kind: Kind, location: str, severity: Severity, contract: Any, live: Any, message: str) -> None:
        self.found.append(Difference(self.mine.label, kind, location, severity, contract, live, message))

    def schemas(
        self, contract_schema: Any, live_schema: Any, location: str, *, request: bool, parameter: bool = False
    ) -> None:
        comparison = SchemaComparison(
            self.mine.label, request, self.contract, self.live, shared=self.named, ignore_null=parameter
        )
        comparison.compare(contract_schema, live_schema, location)
        self.found.extend(comparison.found)

    def _renames(self) -> dict[str, str]:
        """The live path parameter names mapped to the contract's, by position; each rename is a note."""
        renames = dict(zip(self.theirs.names, self.mine.names, strict=True))
        for theirs, mine in renames.items():
            if theirs != mine:
                message = f"path parameter {mine!r} is called {theirs!r} in the live document"
                self.add(Kind.PATH_PARAMETER_RENAMED, "path", Severity.INFO, mine, theirs, message)
        return renames

    def _security(self) -> None:
        if not _declares_security(self.live):
            return  # the live document says nothing about authentication at all: nothing to compare
        mine, theirs = _needs_auth(self.mine.spec, self.contract), _needs_auth(self.theirs.spec, self.live)
        if mine == theirs:
            return
        if mine:
            message, severity = "the contract requires authentication; the live document does not", Severity.ERROR
        else:
            message, severity = "the live document requires authentication; the contract does not", Severity.WARNING
        self.add(Kind.SECURITY, "security", severity, mine, theirs, message)

    def _parameters(self, renames: dict[str, str]) -> None:
        mine = operation_parameters(self.mine, self.contract)
        theirs = {_renamed(key, renames): value for key, value in operation_parameters(self.theirs, self.live).items()}
        for key in [*mine, *(key for key in theirs if key not in mine)]:
            location = f"parameters.{key[0]}.{key[1]}"
            if key in mine and key in theirs:
                self._parameter(mine[key], theirs[key], key, location)
            elif key in mine:
                message = f"{key[0]} parameter {key[1]!r} is documented, not in the live document"
                self.add(Kind.PARAMETER_MISSING, location, Severity.ERROR, key[1], None, message)
            else:
                required = bool(theirs[key].get("required"))
                severity = Severity.ERROR if required else Severity.WARNING
                label = "a required" if required else "an optional"
                message = f"the live document has {label} {key[0]} parameter {key[1]!r} the contract does not"
                self.add(Kind.PARAMETER_UNDOCUMENTED, location, severity, None, key[1], message)

    def _parameter(self, mine: Mapping[str, Any], theirs: Mapping[str, Any], key: Key, location: str) -> None:
        required_mine, required_theirs = bool(mine.get("required")), bool(theirs.get("required"))
        if key[0] != "path" and required_mine != required_theirs:
            direction = Direction.NARROWER if required_theirs else Direction.WIDER
            severity = severity_of(Kind.PARAMETER_REQUIRED, direction, request=True)
            message = f"required: contract {required_mine}, live {required_theirs}"
            self.add(Kind.PARAMETER_REQUIRED, location, severity, required_mine, required_theirs, message)
        self.schemas(_parameter_schema(mine), _parameter_schema(theirs), location, request=True, parameter=True)

    def _request_body(self) -> None:
        mine, theirs = _request_body(self.mine.spec, self.contract), _request_body(self.theirs.spec, self.live)
        if mine is None and theirs is None:
            return
        if theirs is None:
            message = "a request body is documented; the live document has none"
            self.add(Kind.REQUEST_BODY_MISSING, "requestBody", Severity.ERROR, True, False, message)
            return
        if mine is None:
            required = bool(theirs.get("required"))
            severity = Severity.ERROR if required else Severity.WARNING
            message = (
                f"the live document takes {'a required' if required else 'an optional'} request body; the contract none"
            )
            self.add(Kind.REQUEST_BODY_UNDOCUMENTED, "requestBody", severity, False, True, message)
            return
        self._body_required(mine, theirs)
        self._content(mine, theirs, "requestBody", request=True, success=True)

    def _body_required(self, mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> None:
        required_mine, required_theirs = bool(mine.get("required")), bool(theirs.get("required"))
        if required_mine == required_theirs:
            return
        direction = Direction.NARROWER if required_theirs else Direction.WIDER
        severity = severity_of(Kind.REQUEST_BODY_REQUIRED, direction, request=True)
        message = f"request body required: contract {required_mine}, live {required_theirs}"
        self.add(Kind.REQUEST_BODY_REQUIRED, "requestBody", severity, required_mine, required_theirs, message)

    def _responses(self) -> None:
        mine, theirs = _responses(self.mine.spec, self.contract), _responses(self.theirs.spec, self.live)
        for status in [*mine, *(status for status in theirs if status not in mine)]:
            location = f"responses.{status}"
            success = status.startswith("2")
            if status in mine and status in theirs:
                self._content(mine[status], theirs[status], location, request=False, success=success)
            elif status in mine:
                severity = Severity.INFO if status == "default" else Severity.ERROR if success else Severity.WARNING
                message = f"status {status} is documented; the live document does not list it"
                self.add(Kind.STATUS_MISSING, location, severity, status, None, message)
            else:
                severity = Severity.INFO if status == "default" else Severity.WARNING
                message = f"the live document lists status {status}; the contract does not"
                self.add(Kind.STATUS_UNDOCUMENTED, location, severity, None, status, message)

    def _content(
        self, mine: Mapping[str, Any], theirs: Mapping[str, Any], location: str, *, request: bool, success: bool
    ) -> None:
        content_mine, content_theirs = _content(mine), _content(theirs)
        for name in [*content_mine, *(name for name in content_theirs if name not in content_mine)]:
            at = f"{location}.{name}"
            if name in content_mine and name in content_theirs:
                self.schemas(content_mine[name], content_theirs[name], at, request=request)
            elif name in content_mine:
                severity = Severity.ERROR if request or success else Severity.WARNING
                message = f"media type {name} is documented; the live document does not list it"
                self.add(Kind.MEDIA_TYPE_MISSING, at, severity, name, None, message)
            else:
                message = f"the live document lists media type {name}; the contract does not"
                self.add(Kind.MEDIA_TYPE_UNDOCUMENTED, at, Severity.WARNING, None, name, message)


def _renamed(key: Key, renames: Mapping[str, str]) -> Key:
    location, name = key
    return (location, renames.get(name, name)) if location == "path" else key


def operation_parameters(operation: DocumentOperation, document: Document) -> dict[Key, Mapping[str, Any]]:
    """The operation's parameters by (in, name), the path item's first; header names are case-insensitive."""
    found: dict[Key, Mapping[str, Any]] = {}
    for raw in [*(operation.item.get("parameters") or ()), *(operation.spec.get("parameters") or ())]:
        parameter, _ = resolve(raw, document)
        if not isinstance(parameter, Mapping) or "name" not in parameter:
            continue
        location, name = str(parameter.get("in", "query")), str(parameter["name"])
        if location == "header":
            name = name.lower()
            if name in _IGNORED_HEADERS:
                continue
        found[(location, name)] = parameter
    return found


def _parameter_schema(parameter: Mapping[str, Any]) -> Any:
    if "schema" in parameter:
        return parameter["schema"]
    content = parameter.get("content")
    if isinstance(content, Mapping) and content:
        media = next(iter(content.values()))
        return media.get("schema", {}) if isinstance(media, Mapping) else {}
    return {}


def _request_body(spec: Mapping[str, Any], document: Document) -> Mapping[str, Any] | None:
    body, _ = resolve(spec.get("requestBody"), document)
    return body if isinstance(body, Mapping) else None


def _responses(spec: Mapping[str, Any], document: Document) -> dict[str, Mapping[str, Any]]:
    responses = spec.get("responses")
    found: dict[str, Mapping[str, Any]] = {}
    for status, raw in (responses or {}).items() if isinstance(responses, Mapping) else ():
        response, _ = resolve(raw, document)
        name = str(status)
        found[name.lower() if name.lower() == "default" else name.upper()] = (
            response if isinstance(response, Mapping) else {}
        )
    return found


def _content(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The schemas of a body or response by media type (without parameters); ``{}`` where none is given."""
    content = owner.get("content")
    if not isinstance(content, Mapping):
        return {}
    return {
        media_type(str(name)): media.get("schema", {}) if isinstance(media, Mapping) else {}
        for name, media in content.items()
    }


def _declares_security(document: Document) -> bool:
    components = document.get("components")
    schemes = components.get("securitySchemes") if isinstance(components, Mapping) else None
    return bool(schemes) or "security" in document


def _needs_auth(spec: Mapping[str, Any], document: Document) -> bool:
    """Whether the operation requires credentials: a non-empty security list without an empty (optional) entry."""
    security = spec.get("security", document.get("security"))
    if not isinstance(security, list) or not security:
        return False
    return all(isinstance(requirement, Mapping) and requirement for requirement in security)
