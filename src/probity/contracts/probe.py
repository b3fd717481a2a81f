"""``probity contract diff --probe``: which documented operations a backend that serves no OpenAPI answers.

One harmless request per documented operation, and never a state-changing one: ``GET``, ``HEAD`` and
``OPTIONS`` operations are sent as themselves; for any other method only ``OPTIONS`` is sent to the path.
Path parameters get a dummy value valid for their schema (a ``uuid`` gets a random one); Probity adds no
credentials of its own (headers given with ``--header`` are sent as they are).

The heuristic (:func:`judge`), whose results are *likely*, never certain:

1. Probity first asks for two paths that cannot exist under the API root, with the same method, and
   keeps their answers (status and body, with the path, timestamps and request ids taken out). An
   operation whose answer is the same as an unknown path's is *likely not* implemented when that answer
   is 404/405/410/501, and *unknown* otherwise (a backend that answers every path with 401 or 200
   cannot tell the two apart).
2. A 404 whose body is a web framework's own "no route" text (``{"detail": "Not Found"}``,
   ``Cannot GET /…``, ``404 page not found``) is *likely not* implemented.
3. ``OPTIONS`` for a state-changing operation: *likely* when the ``Allow`` header lists the method;
   otherwise the path exists but the method is *not probed (state-changing)*.
4. 405 to the documented safe method: the path exists, the method does not: *likely not*.
5. 404 that differs from an unknown path's 404 is the API's own "resource not found" for the dummy id:
   *likely*. 502/503/504 come from a gateway: *unknown*. Anything else (200, 401, 403, 422, 500…) means
   a route answered: *likely*.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from probity.contracts.diff import DocumentOperation, document_operations, operation_parameters
from probity.contracts.differences import Difference, DiffReport, Implemented, Kind, OperationResult, Severity
from probity.contracts.live import DEFAULT_TIMEOUT, connection_problem, origin_of
from probity.contracts.normalize import server_prefix, shape
from probity.core.errors import BackendError

__all__ = [
    "SAFE_METHODS",
    "Answer",
    "Prober",
    "Verdict",
    "answer_signature",
    "api_root",
    "dummy_value",
    "judge",
    "probe_contract",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_NO_ROUTE_STATUSES = frozenset({404, 405, 410, 501})
_GATEWAY_STATUSES = frozenset({502, 503, 504})
_VOLATILE_KEYS = frozenset(
    {"timestamp", "time", "date", "path", "instance", "traceid", "trace_id", "requestid", "request_id"}
    | {"correlationid", "correlation_id"}
)
_FRAMEWORK_NO_ROUTE = (
    re.compile(r'^\{"detail": "Not Found"\}$'),  # Starlette, FastAPI
    re.compile(r"^(404 page not found|Not Found|404 Not Found)$", re.IGNORECASE),  # Go net/http, plain
    re.compile(r"Cannot (GET|HEAD|OPTIONS) \{path\}"),  # Express
)
_SIGNATURE_CHARS = 500
_UNKNOWN_SEGMENT = "probity-no-such-route"


@dataclass(frozen=True)
class Answer:
    """A backend's answer, reduced to what the heuristic compares."""

    status: int
    signature: str
    allow: frozenset[str] | None = None
    excerpt: str = ""

    @property
    def says_no_route(self) -> bool:
        """A 404 whose body is a web framework's own text for "no such route"."""
        body = self.signature.partition(" ")[2]
        return self.status == 404 and any(pattern.search(body) for pattern in _FRAMEWORK_NO_ROUTE)


@dataclass(frozen=True)
class Verdict:
    """Whether an operation is implemented, and the evidence for it in words."""

    implemented: Implemented
    evidence: str


def answer_signature(status: int, body: str, path: str) -> str:
    """The status and body of an answer without what changes from request to request.

    >>> answer_signature(404, '{"error": "no route /x/1", "timestamp": "2024-05-01T10:00:00Z"}', "/x/1")
    '404 {"error": "no route {path}"}'
    >>> answer_signature(404, "Cannot GET /x/1", "/x/1")
    '404 Cannot GET {path}'
    """
    text = body.strip()
    for variant in sorted({path, quote(path)}, key=len, reverse=True):
        text = text.replace(variant, "{path}")
    try:
        data = json.loads(text)
    except ValueError:
        return f"{status} {re.sub(r'[0-9]', '0', text)[:_SIGNATURE_CHARS]}"
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if key.lower() not in _VOLATILE_KEYS}
    return f"{status} {json.dumps(data, sort_keys=True)[:_SIGNATURE_CHARS]}"


def judge(documented: str, sent: str, answer: Answer, unknown: Sequence[Answer]) -> Verdict:
    """The verdict on an operation documented as *documented*, probed with *sent*, given unknown paths' answers.

    >>> unknown = [Answer(404, '404 {"detail": "Not Found"}')]
    >>> judge("GET", "GET", Answer(401, '401 {"detail": "Not authenticated"}'), unknown).implemented
    <Implemented.LIKELY: 'likely'>
    >>> judge("GET", "GET", Answer(404, '404 {"detail": "Not Found"}'), unknown).evidence
    'GET → 404, the same answer as a path that cannot exist'
    >>> judge("POST", "OPTIONS", Answer(405, '405 {}', frozenset({"GET"})), unknown).implemented
    <Implemented.NOT_PROBED: 'not probed'>
    """
    status = answer.status
    if any(answer.signature == other.signature for other in unknown):
        if all(other.status in _NO_ROUTE_STATUSES for other in unknown):
            return Verdict(Implemented.LIKELY_NOT, f"{sent} → {status}, the same answer as a path that cannot exist")
        return Verdict(Implemented.UNKNOWN, f"{sent} → {status}, but a path that cannot exist gets the same answer")
    if answer.says_no_route:
        return Verdict(Implemented.LIKELY_NOT, f"{sent} → {status} {answer.excerpt}: the framework's 'no route' answer")
    if sent != documented:
        return _options_verdict(documented, answer)
    if status == 405:
        return Verdict(Implemented.LIKELY_NOT, f"{sent} → 405: the path exists, but not for {documented}")
    if status in (404, 410):
        evidence = f"{sent} → {status}, unlike a path that cannot exist: probably 'not found' for the dummy id"
        return Verdict(Implemented.LIKELY, evidence)
    if status in _GATEWAY_STATUSES:
        return Verdict(Implemented.UNKNOWN, f"{sent} → {status}: a gateway answered, not the backend")
    return Verdict(Implemented.LIKELY, f"{sent} → {status}: a route answered")


def _options_verdict(documented: str, answer: Answer) -> Verdict:
    allow = ", ".join(sorted(answer.allow)) if answer.allow is not None else None
    if answer.allow is not None and documented in answer.allow:
        return Verdict(Implemented.LIKELY, f"OPTIONS → {answer.status}, Allow: {allow}")
    listed = f", Allow: {allow}" if allow is not None else ""
    evidence = (
        f"not probed (state-changing); OPTIONS → {answer.status}{listed}: the path exists, {documented} unconfirmed"
    )
    return Verdict(Implemented.NOT_PROBED, evidence)


def dummy_value(schema: Any, document: Mapping[str, Any]) -> str:
    """A value valid for a path parameter's *schema*, as text; a fresh random one for a ``uuid``.

    >>> dummy_value({"type": "integer", "minimum": 10}, {}), dummy_value({"type": "string", "maxLength": 5}, {})
    ('10', 'probi')
    >>> dummy_value({"type": "string", "enum": ["open", "done"]}, {}), dummy_value({"format": "date"}, {})
    ('done', '2000-01-01')
    >>> len(dummy_value({"type": "string", "format": "uuid"}, {}))
    36
    """
    form = shape(schema, document)
    if form.enum:
        return _text(form.enum[0])
    fixed = {"date": "2000-01-01", "date-time": "2000-01-01T00:00:00Z", "email": "probe@example.com"}
    if form.format == "uuid":
        return str(uuid.uuid4())
    if form.format in fixed:
        return fixed[form.format]
    types = form.types or frozenset({"string"})
    if types & {"integer", "number"}:
        return str(_number(form.constraints))
    if "boolean" in types:
        return "true"
    return _string(form.constraints)


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def _number(constraints: Mapping[str, Any]) -> int:
    value = constraints.get("minimum", constraints.get("exclusiveMinimum", 0) + 1)
    if "maximum" in constraints:
        value = min(value, constraints["maximum"])
    elif "exclusiveMaximum" in constraints:
        value = min(value, constraints["exclusiveMaximum"] - 1)
    return int(value)


def _string(constraints: Mapping[str, Any]) -> str:
    text = "probity-probe"
    text = text.ljust(int(constraints.get("minLength", 0)), "x")
    return text[: int(constraints["maxLength"])] if "maxLength" in constraints else text


def api_root(base_url: str, contract: Mapping[str, Any]) -> str:
    """The URL the contract's paths are under: *base_url* when it has a path, else its origin + the base path.

    >>> api_root("http://127.0.0.1:8000", {"servers": [{"url": "/api/v1"}]})
    'http://127.0.0.1:8000/api/v1'
    >>> api_root("http://127.0.0.1:8000/v2/", {"servers": [{"url": "/api/v1"}]})
    'http://127.0.0.1:8000/v2'
    """
    origin = origin_of(base_url)
    path = urlsplit(base_url).path.rstrip("/")
    return f"{origin}{path}" if path else f"{origin}{server_prefix(contract)}"


@dataclass
class Prober:
    """Sends the probes (safe methods only), and keeps each method's answers to paths that cannot exist."""

    root: str
    session: requests.Session
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    _unknown: dict[str, tuple[Answer, ...]] = field(default_factory=dict, init=False, repr=False)

    def send(self, method: str, path: str) -> Answer:
        """One request; refuses any method that could change state."""
        if method not in SAFE_METHODS:
            raise ValueError(f"refusing to send {method}: only {sorted(SAFE_METHODS)} are probed")
        url = f"{self.root}{path}"
        response = self.session.request(
            method, url, headers=dict(self.headers), timeout=self.timeout, allow_redirects=False
        )
        return _answer(response, urlsplit(url).path)

    def unknown_paths(self, method: str) -> tuple[Answer, ...]:
        """The answers to two paths that cannot exist; :class:`BackendError` when the backend cannot be reached."""
        if method not in self._unknown:
            token = uuid.uuid4().hex
            paths = (f"/{_UNKNOWN_SEGMENT}-{token}", f"/{_UNKNOWN_SEGMENT}-{token}/{uuid.uuid4()}")
            try:
                self._unknown[method] = tuple(self.send(method, path) for path in paths)
            except requests.RequestException as exc:
                problem = connection_problem(exc, self.timeout)
                raise BackendError(f"cannot reach the backend at {self.root}: {problem}") from exc
        return self._unknown[method]

    def verdict(self, operation: DocumentOperation, relative_path: str, contract: Mapping[str, Any]) -> Verdict:
        """Probe one operation, with its own method when safe, else with ``OPTIONS``."""
        sent = operation.method if operation.method in SAFE_METHODS else "OPTIONS"
        unknown = self.unknown_paths(sent)
        path = _filled(relative_path, operation, contract)
        try:
            answer = self.send(sent, path)
        except requests.RequestException as exc:
            return Verdict(Implemented.UNKNOWN, f"{sent} {path}: {connection_problem(exc, self.timeout)}")
        return judge(operation.method, sent, answer, unknown)


def _answer(response: requests.Response, path: str) -> Answer:
    allow = response.headers.get("Allow")
    methods = (
        frozenset(part.strip().upper() for part in allow.split(",") if part.strip()) if allow is not None else None
    )
    excerpt = " ".join(response.text.split())[:80]
    return Answer(response.status_code, answer_signature(response.status_code, response.text, path), methods, excerpt)


def _filled(relative_path: str, operation: DocumentOperation, contract: Mapping[str, Any]) -> str:
    parameters = operation_parameters(operation, contract)
    for name in operation.names:
        schema = parameters.get(("path", name), {}).get("schema", {"type": "string"})
        relative_path = relative_path.replace(f"{{{name}}}", quote(dummy_value(schema, contract), safe=""))
    return relative_path


def probe_contract(
    contract: Mapping[str, Any],
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    session: requests.Session | None = None,
    contract_name: str = "contract",
) -> DiffReport:
    """Probe every operation of *contract* on the backend at *base_url*; results are *likely*, not certain."""
    root = api_root(base_url, contract)
    with requests.Session() as own:
        prober = Prober(root, session or own, dict(headers or {}), timeout)
        prefix = server_prefix(contract)
        results = [
            _result(operation, prober.verdict(operation, operation.path[len(prefix) :], contract))
            for operation in document_operations(contract).values()
        ]
    return DiffReport(contract_name, root, "probe", tuple(results))


def _result(operation: DocumentOperation, verdict: Verdict) -> OperationResult:
    found: tuple[Difference, ...] = ()
    if verdict.implemented is Implemented.LIKELY_NOT:
        message = f"likely not implemented: {verdict.evidence}"
        found = (_difference(operation, Kind.OPERATION_MISSING, Severity.ERROR, message),)
    elif verdict.implemented in (Implemented.UNKNOWN, Implemented.NOT_PROBED):
        severity = Severity.WARNING if verdict.implemented is Implemented.UNKNOWN else Severity.INFO
        found = (_difference(operation, Kind.OPERATION_UNVERIFIED, severity, verdict.evidence),)
    return OperationResult(operation.label, True, verdict.implemented, found, verdict.evidence)


def _difference(operation: DocumentOperation, kind: Kind, severity: Severity, message: str) -> Difference:
    return Difference(operation.label, kind, "", severity, operation.label, None, message)
