"""Traffic Probity did not generate: a team's own requests and recorded HAR files, through the same pipeline.

Every exchange is matched to its operation by the contract's path templates, validated against the contract
with openapi-core (request and response), and, when it is sent live through the :class:`Observer`, tied to
its SQL and probed. A request that breaks the contract is a finding only if the backend accepted it; a
response that breaks the contract always is. Traffic recorded in the past has no statement log: its SQL probes
say INCONCLUSIVE unless it is replayed.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from probity.core.compliance import controls_for
from probity.core.errors import BackendError, ConfigError
from probity.core.findings import Category, Outcome, Result, Severity, finding
from probity.core.policy import Policy
from probity.core.principals import Principals
from probity.core.redact import Redactor
from probity.core.target import Target
from probity.core.trace import Attribution
from probity.engine.auth import Credential, TokenBroker
from probity.engine.observer import Observer, SqlView, fold, inputs_of
from probity.engine.plan import SAFE_METHODS, is_write_allowed, never_sent
from probity.engine.run import RunReport, _load_documents, _redactor
from probity.engine.sqlview import embedded_view, remote_view
from probity.probes import CATEGORIES, PROBES
from probity.runtime.stack import EmbeddedStack

__all__ = [
    "CHECK",
    "PRINCIPAL_HEADER",
    "RECORDED",
    "ContractCheck",
    "HarEntry",
    "Matched",
    "ObserveOptions",
    "OperationMatcher",
    "Traffic",
    "api_prefix",
    "blind",
    "contract_root",
    "describe_error",
    "entry_request",
    "error_details",
    "observe_har",
    "observer_for",
    "probe_names",
    "read_har",
    "recorded_exchange",
    "replay_refusal",
    "sql_view",
]

CHECK = "contract_validation"
PRINCIPAL_HEADER = "X-Probity-Principal"  # names the acting principal; never sent to the backend
RECORDED = "recorded traffic: no statement log for it"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_HOP_BY_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "traceparent"}


# -- operations -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matched:
    """The operation a request called: its label, whether the contract documents it, its path values."""

    label: str  # "METHOD /path/template", or "METHOD /path" as sent when no template matches
    documented: bool
    path_parameters: dict[str, str] = field(default_factory=dict)


class OperationMatcher:
    """Finds a request's operation by matching its path (below an API root's path) to the path templates.

    *prefixes* are the paths API roots may have: the live one, the contract's server (recorded traffic).

    >>> m = OperationMatcher({"paths": {"/users/{id}": {"get": {}}, "/users/me": {"get": {}}}}, "/api")
    >>> m.match("GET", "http://h/api/users/me").label, m.match("get", "http://h/api/users/7").path_parameters
    ('GET /users/me', {'id': '7'})
    >>> m.match("DELETE", "http://h/api/users/7")
    Matched(label='DELETE /users/7', documented=False, path_parameters={})
    """

    def __init__(self, contract: Mapping[str, Any], *prefixes: str) -> None:
        # Longest first: /api/v1 before /api.
        self.prefixes = sorted({p.rstrip("/") for p in prefixes if p.rstrip("/")}, key=len, reverse=True)
        templates = [(path, item) for path, item in contract.get("paths", {}).items()]
        # Literal segments win over parameters: /users/me before /users/{id}.
        templates.sort(key=lambda entry: (entry[0].count("{"), -len(entry[0])))
        self._templates = [(path, *_pattern(path), {m for m in item if m in _METHODS}) for path, item in templates]

    def relative(self, path: str) -> str:
        """*path* below an API root's path (unchanged when it lies elsewhere)."""
        for prefix in self.prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return path[len(prefix) :] or "/"
        return path or "/"

    def match(self, method: str, url: str) -> Matched:
        path = self.relative(urlsplit(url).path)
        for template, pattern, names, methods in self._templates:
            found = pattern.fullmatch(path)
            if found and method.lower() in methods:
                values = {name: unquote(value) for name, value in zip(names, found.groups(), strict=True)}
                return Matched(f"{method.upper()} {template}", True, values)
        return Matched(f"{method.upper()} {path}", False)


def _pattern(template: str) -> tuple[re.Pattern[str], list[str]]:
    names = re.findall(r"\{([^{}/]+)\}", template)
    parts = re.split(r"\{[^{}/]+\}", template)
    return re.compile("([^/]+)".join(re.escape(part) for part in parts)), names


def api_prefix(api_root: str) -> str:
    """The path part of an API root: ``/api/v1`` of ``http://h:1/api/v1`` (and of a relative ``/api/v1``)."""
    return urlsplit(api_root).path.rstrip("/")


def contract_root(contract: Mapping[str, Any]) -> str:
    """The API root the contract declares (its first server), or "" when it names none."""
    servers = contract.get("servers") or [{}]
    return str(servers[0].get("url", "")).rstrip("/")


# -- contract validation ----------------------------------------------------------------------------------


class ContractCheck:
    """Validates exchanges against the contract with openapi-core, request and response.

    Messages name what broke, never a value (values may be PHI); details give the schema locations.
    """

    def __init__(
        self, contract: Mapping[str, Any], prefixes: Sequence[str], policy: Policy, redactor: Redactor
    ) -> None:
        from openapi_core import OpenAPI

        # Relative servers match any host: the same validator serves live and recorded traffic.
        servers = [{"url": prefix} for prefix in prefixes] or [{"url": "/"}]
        self._api = OpenAPI.from_dict({**contract, "servers": servers})
        self.policy = policy
        self.redactor = redactor

    def judge(
        self, request: requests.PreparedRequest, response: requests.Response, matched: Matched, principal: str | None
    ) -> list[Result]:
        """The contract's verdict on one exchange: failures, or one PASS or N/A."""
        status = response.status_code
        if not matched.documented:
            return [self._undocumented(matched, status, principal)]
        request_errors, response_errors = self._errors(request, response)
        results = [self._failure("response", matched, error, status, principal) for error in response_errors]
        if status < 400:  # the backend accepted what the contract rejects
            results += [self._failure("request_accepted", matched, e, status, principal) for e in request_errors]
        if results:
            return results
        note = "; the request broke the contract and the backend rejected it" if request_errors else ""
        return [self._result(CHECK, matched, Outcome.PASS, f"request and response conform{note}", status, principal)]

    def _errors(
        self, request: requests.PreparedRequest, response: requests.Response
    ) -> tuple[list[Exception], list[Exception]]:
        from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

        adapted = RequestsOpenAPIRequest(request)
        request_errors: list[Exception] = list(self._api.unmarshal_request(adapted).errors)
        response_errors: list[Exception] = list(
            self._api.unmarshal_response(adapted, RequestsOpenAPIResponse(response)).errors
        )
        return request_errors, response_errors

    def _undocumented(self, matched: Matched, status: int, principal: str | None) -> Result:
        if status >= 400:
            message = f"not an operation of the contract (the backend answered {status})"
            return self._result(CHECK, matched, Outcome.NOT_APPLICABLE, message, status, principal)
        message = "an operation the contract does not document answered with success"
        return self._result(f"{CHECK}.undocumented", matched, Outcome.FAIL, message, status, principal, Severity.MEDIUM)

    def _failure(self, part: str, matched: Matched, error: Exception, status: int, principal: str | None) -> Result:
        default = Severity.HIGH if part == "response" else Severity.MEDIUM
        message = self.redactor.text(describe_error(error))
        if part == "request_accepted":
            message = f"the backend answered {status} to a request the contract rejects: {message}"
        details = [self.redactor.text(detail) for detail in error_details(error)]
        return self._result(f"{CHECK}.{part}", matched, Outcome.FAIL, message, status, principal, default, details)

    def _result(
        self,
        rule: str,
        matched: Matched,
        outcome: Outcome,
        message: str,
        status: int,
        principal: str | None,
        severity: Severity = Severity.INFO,
        details: Sequence[str] = (),
    ) -> Result:
        evidence: dict[str, Any] = {"principal": principal, "status": status}
        if details:
            evidence["details"] = list(details)
        severity = self.policy.severity(rule, severity)
        return finding(CHECK, rule, Category.CONTRACT, outcome, matched.label, message, severity, evidence)


def describe_error(error: Exception) -> str:
    """What an openapi-core error says, without the values it may quote.

    >>> from openapi_core.validation.response.exceptions import InvalidData, MissingRequiredHeader
    >>> describe_error(InvalidData()), describe_error(MissingRequiredHeader("X-Id"))
    ('the response body does not match its schema', 'Missing required header: X-Id')
    """
    from openapi_core.validation.request.exceptions import MissingRequestBodyError, RequestBodyValidationError
    from openapi_core.validation.response.exceptions import InvalidData, InvalidHeader

    if isinstance(error, InvalidData):
        return "the response body does not match its schema"
    if isinstance(error, InvalidHeader):
        return f"the response header {error.name} does not match its schema"
    if isinstance(error, RequestBodyValidationError) and not isinstance(error, MissingRequestBodyError):
        return "the request body does not match its schema"
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


def error_details(error: Exception) -> list[str]:
    """Where a value broke its schema (``/field: rule``), without the value itself."""
    schema_errors = getattr(error, "schema_errors", None) or getattr(error.__cause__, "schema_errors", None)
    if schema_errors:
        return [_schema_detail(item) for item in list(schema_errors)[:10]]
    cause = error.__cause__
    if cause is not None and hasattr(cause, "type"):
        return [f"not a valid {cause.type}"]
    return []


def _schema_detail(error: Any) -> str:
    pointer = "/" + "/".join(str(part) for part in getattr(error, "absolute_path", ())) or "/"
    validator = str(getattr(error, "validator", "schema"))
    # These messages name properties, never values.
    said = f" ({error.message})" if validator in {"required", "additionalProperties"} else ""
    return f"{pointer}: {validator}{said}"


# -- what SQL probes say when nothing was observed --------------------------------------------------------


def probe_names(probes: Iterable[Any] = PROBES) -> tuple[str, ...]:
    """The SQL probes that would judge an exchange: those registered, then every one the engine knows."""
    return tuple(dict.fromkeys([*(probe.__name__ for probe in probes), *CATEGORIES]))


def blind(label: str, reason: str, principal: str | None = None, probes: Iterable[Any] = PROBES) -> list[Result]:
    """INCONCLUSIVE for every SQL probe on one exchange: nothing tied its SQL to it."""
    return [
        Result(
            check=name,
            rule=f"{name}.unobserved",
            category=CATEGORIES.get(name, Category.CONTRACT),
            outcome=Outcome.INCONCLUSIVE,
            operation=label,
            message=reason,
            controls=controls_for(name),
            evidence={"principal": principal},
        )
        for name in probe_names(probes)
    ]


# -- the pipeline -----------------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Validates, ties and probes exchanges of one target's API, and keeps everything they concluded.

    ``results`` holds the pipeline's own conclusions (contract validation, unobserved SQL); the observer keeps
    the probes'. Exchanges are handled one at a time.
    """

    contract: dict[str, Any]
    policy: Policy
    principals: Principals
    api_root: str  # live traffic goes here; its path is where the contract's paths start
    redactor: Redactor
    observer: Observer | None = None
    allow_writes_to: tuple[str, ...] = ()  # hosts that may receive state-changing requests
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _credentials: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.matcher = OperationMatcher(
            self.contract, api_prefix(self.api_root), api_prefix(contract_root(self.contract))
        )
        self.check = ContractCheck(self.contract, self.matcher.prefixes, self.policy, self.redactor)
        self.broker = TokenBroker(self.api_root, self.principals) if "://" in self.api_root else None

    @classmethod
    def for_target(cls, target: Target, api_root: str, observer: Observer | None = None) -> Traffic:
        """The pipeline of *target*'s documents for traffic to *api_root*, probed by *observer* when given."""
        documents = _load_documents(target)
        redactor = observer.redactor if observer is not None else _redactor(documents.policy)
        return cls(
            documents.contract,
            documents.policy,
            documents.principals,
            api_root,
            redactor,
            observer,
            allow_writes_to=target.allow_writes_to,
        )

    def login(self, name: str) -> Credential:
        """A fresh credential for principal *name*; requests that carry it are known to be that principal's."""
        if self.broker is None:
            raise ConfigError(f"cannot log in {name!r}: no API root to log in at")
        credential = self.broker.fresh(name)
        self.redactor.add_secret(credential.value.split(" ")[-1])
        self._credentials[(credential.header.lower(), credential.value)] = name
        return credential

    def principal_of(self, headers: Mapping[str, str]) -> str | None:
        """The principal whose credential *headers* carry, if this pipeline issued it."""
        lowered = {key.lower(): value for key, value in headers.items()}
        return next((name for (header, value), name in self._credentials.items() if lowered.get(header) == value), None)

    def mark(self) -> tuple[int, int]:
        """Where the results stand now; :meth:`since` gives what came after."""
        self._settle()
        return len(self.results), len(self.observer.results) if self.observer else 0

    def since(self, mark: tuple[int, int]) -> list[Result]:
        """Every result concluded after *mark*: the pipeline's and the probes'."""
        self._settle()
        own = self.results[mark[0] :]
        return own + (self.observer.results[mark[1] :] if self.observer else [])

    def _settle(self) -> None:
        # The observer judges traceparent-attributed exchanges in batches: judge what is waiting first, so a
        # request's results count before a mark taken after it, never in a later test's window.
        if self.observer is not None:
            self.observer.flush()

    def all_results(self) -> list[Result]:
        """Everything concluded so far, folded per operation and check."""
        self._settle()
        return fold([*self.results, *(self.observer.results if self.observer else [])])

    def send(
        self, session: requests.Session, request: requests.Request, principal: str | None = None
    ) -> tuple[requests.Response, list[Result]]:
        """Send *request* live through the pipeline; the response and everything concluded about it."""
        mark = self.mark()
        matched = self.matcher.match(request.method or "GET", request.url or "")
        if self.observer is not None:
            inputs = _inputs(session.prepare_request(request), matched)
            response = self.observer.send(session, request, matched.label, principal, inputs)
        else:
            response = session.send(session.prepare_request(request), timeout=30)
            self.results += blind(matched.label, "no statement log: no database access for this target", principal)
        self.results += self.check.judge(response.request, response, matched, principal)
        return response, self.since(mark)

    def recorded(self, entry: HarEntry, principal: str | None = None, replayed: bool = False) -> list[Result]:
        """Judge an exchange recorded in the past: its contract conformance. Its SQL probes say INCONCLUSIVE,
        unless it is *replayed* (then the replay, or the reason it was not sent, speaks for its SQL)."""
        request, response = recorded_exchange(entry)
        matched = self.matcher.match(entry.method, entry.url)
        found = self.check.judge(request, response, matched, principal)
        found += [] if replayed else blind(matched.label, RECORDED, principal)
        self.results += found
        return found


def _inputs(request: requests.PreparedRequest, matched: Matched) -> tuple[str, ...]:
    query = dict(parse_qsl(urlsplit(request.url or "").query, keep_blank_values=True))
    return inputs_of(_Inputs(matched.path_parameters, query, _json_body(request.body)))


@dataclass(frozen=True)
class _Inputs:
    """The values a request carries, shaped as :func:`inputs_of` reads a generated case."""

    path_parameters: dict[str, str]
    query: dict[str, str]
    body: Any


def _json_body(body: bytes | str | None) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None


def observer_for(target: Target, view: SqlView) -> Observer:
    """An observer of *target*'s exchanges through *view*, with its documents and the policy's redaction."""
    documents = _load_documents(target)
    policy = documents.policy
    return Observer(view, policy, documents.principals, documents.contract, _redactor(policy))


def sql_view(stack: EmbeddedStack | None, dsn: str | None, mode: Attribution, scope: ExitStack) -> SqlView | None:
    """The SQL view of an embedded stack, else of a running target through *dsn*, else none."""
    if stack is not None:
        return embedded_view(stack, mode, scope)
    if dsn is not None:
        return remote_view(dsn, mode, scope)
    return None


# -- HAR --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HarEntry:
    """One recorded exchange of a HAR 1.2 file."""

    index: int  # 0-based position in ``log.entries``
    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes

    def header(self, name: str) -> str | None:
        """A request header's value (the first one), matched case-insensitively."""
        return next((value for key, value in self.request_headers if key.lower() == name.lower()), None)


def read_har(path: Path) -> list[HarEntry]:
    """The entries of a HAR 1.2 file; a malformed file raises :class:`ConfigError` naming the entry."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the HAR file: {exc}", path) from exc
    entries = document.get("log", {}).get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ConfigError("not a HAR file: no log.entries list", path)
    return [_entry(raw, index, path) for index, raw in enumerate(entries)]


def _entry(raw: Any, index: int, path: Path) -> HarEntry:
    try:
        request, response = raw["request"], raw["response"]
        return HarEntry(
            index=index,
            method=str(request["method"]).upper(),
            url=str(request["url"]),
            request_headers=_pairs(request.get("headers", [])),
            request_body=_post_data(request.get("postData")),
            status=int(response["status"]),
            response_headers=_pairs(response.get("headers", [])),
            response_body=_content(response.get("content", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"HAR entry {index}: malformed ({type(exc).__name__}: {exc})", path) from exc


def _pairs(headers: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(h["name"]), str(h["value"])) for h in headers)


def _post_data(post: Mapping[str, Any] | None) -> bytes:
    if not post:
        return b""
    if post.get("text") is not None:
        return str(post["text"]).encode("utf-8")
    return urlencode([(str(p["name"]), str(p.get("value", ""))) for p in post.get("params", [])]).encode()


def _content(content: Mapping[str, Any]) -> bytes:
    text = content.get("text")
    if text is None:
        return b""
    if content.get("encoding") == "base64":
        return base64.b64decode(str(text), validate=False)
    return str(text).encode("utf-8")


def recorded_exchange(entry: HarEntry) -> tuple[requests.PreparedRequest, requests.Response]:
    """A recorded exchange as the requests objects openapi-core's adapters read."""
    request = requests.Request(entry.method, entry.url, headers=_sendable(entry.request_headers))
    prepared = request.prepare()
    prepared.body = entry.request_body or None
    response = requests.Response()
    response.status_code = entry.status
    response.headers = CaseInsensitiveDict(_joined(entry.response_headers))
    response._content = entry.response_body  # a recorded body: there is no stream to read it from
    response.request, response.url = prepared, entry.url
    return prepared, response


def _sendable(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers to send again: no HTTP/2 pseudo-headers, hop-by-hop headers or Probity's own."""
    skipped = {*_HOP_BY_HOP, PRINCIPAL_HEADER.lower()}
    return _joined((k, v) for k, v in headers if not k.startswith(":") and k.lower() not in skipped)


def _joined(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for key, value in headers:
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined


def entry_request(entry: HarEntry, traffic: Traffic, credential: Credential | None = None) -> requests.Request:
    """A recorded request aimed at *traffic*'s API root, with *credential* in place of the recorded one."""
    parts = urlsplit(entry.url)
    url = traffic.api_root + traffic.matcher.relative(parts.path) + (f"?{parts.query}" if parts.query else "")
    headers = _sendable(entry.request_headers)
    if credential is not None:
        headers = {k: v for k, v in headers.items() if k.lower() != credential.header.lower()}
        headers.update(credential.as_headers())
    return requests.Request(entry.method, url, headers=headers, data=entry.request_body or None)


# -- probity observe --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObserveOptions:
    """What ``probity observe`` was asked to do."""

    target: Target
    har: Path
    run_dir: Path
    base_url: str | None = None  # a running backend's API root; replays go there (default: embedded)
    dsn: str | None = None  # a running target's database, for the statement log of replays
    replay: bool = False  # send every recorded request again, so its SQL can be probed
    principal: str | None = None  # replay as this principal (a fresh login) instead of the recorded credential
    attribution: Attribution = Attribution.TRACEPARENT


def observe_har(options: ObserveOptions) -> RunReport:
    """Judge every exchange of a HAR file; replayed, also tie each to its SQL and probe it."""
    entries = read_har(options.har)
    with ExitStack() as scope:
        stack = _replay_stack(options, scope)
        api_root = _observe_root(options, stack)
        view = sql_view(stack, options.dsn, options.attribution, scope) if options.replay else None
        observer = observer_for(options.target, view) if view is not None else None
        traffic = Traffic.for_target(options.target, api_root, observer)
        report = _observe_report(options, traffic)
        for entry in entries:
            traffic.recorded(entry, entry.header(PRINCIPAL_HEADER), replayed=options.replay)
        if options.replay:
            _replay_all(traffic, entries, options, report)
        report.results = traffic.all_results()
        report.notes.insert(0, f"{len(entries)} recorded exchanges from {options.har.name}")
        report.finished = _now()
    return report


def _replay_stack(options: ObserveOptions, scope: ExitStack) -> EmbeddedStack | None:
    if not options.replay or options.base_url is not None or options.target.base_url is not None:
        return None
    options.target.embedded_parts()  # a clear error when the target cannot be started
    traced = options.attribution is Attribution.TRACEPARENT
    stack = EmbeddedStack(options.target, options.run_dir, sqlcommenter=traced)
    return scope.enter_context(stack)


def _observe_root(options: ObserveOptions, stack: EmbeddedStack | None) -> str:
    if stack is not None and stack.backend is not None:
        return stack.backend.base_url
    if options.base_url or options.target.base_url:
        return str(options.base_url or options.target.base_url).rstrip("/")
    if options.replay:
        raise ConfigError("--replay needs a backend: --base-url URL, or a target Probity can start")
    return ""  # judged as recorded: the contract's own server says where its paths start


def _observe_report(options: ObserveOptions, traffic: Traffic) -> RunReport:
    writable = options.replay and is_write_allowed(traffic.api_root, traffic.allow_writes_to)
    root = traffic.api_root or contract_root(traffic.contract)  # unsent: where the contract says paths start
    report = RunReport(options.run_dir.name, options.target.name, root, 0, not writable, _now())
    if not options.replay:
        report.notes.append("nothing was sent: the recorded exchanges were judged as recorded (--replay probes SQL)")
    elif traffic.observer is None:
        report.notes.append("no database access (--dsn): SQL probes could not observe the replays")
    else:
        report.notes.append(f"SQL attribution by {options.attribution}")
    return report


def _replay_all(traffic: Traffic, entries: Sequence[HarEntry], options: ObserveOptions, report: RunReport) -> None:
    credential = traffic.login(options.principal) if options.principal else None
    answers: list[int] = []
    with requests.Session() as session:
        for entry in entries:
            principal = options.principal or entry.header(PRINCIPAL_HEADER)
            status = _replay(traffic, session, entry, credential, principal)
            answers += [status] if status is not None else []
    skipped = len(entries) - len(answers)
    report.notes.append(f"{len(answers)} requests replayed against {traffic.api_root}, {skipped} skipped")
    if answers:
        counted = sorted(Counter(answers).items())
        report.notes.append("replayed answers: " + ", ".join(f"{status} ×{count}" for status, count in counted))
    if traffic.observer is not None:
        report.notes.append(f"{traffic.observer.probed} requests probed against their SQL")


def _replay(
    traffic: Traffic, session: requests.Session, entry: HarEntry, credential: Credential | None, principal: str | None
) -> int | None:
    """Send *entry* again unless the allow-list or the policy forbids it; the status it got, None if unsent."""
    matched = traffic.matcher.match(entry.method, entry.url)
    reason = replay_refusal(entry.method, matched.label, traffic)
    if reason is not None:
        traffic.results += blind(matched.label, reason, principal)
        return None
    try:
        response, _ = traffic.send(session, entry_request(entry, traffic, credential), principal)
    except requests.RequestException as exc:
        raise BackendError(f"the backend at {traffic.api_root} does not answer ({type(exc).__name__})") from exc
    return response.status_code


def replay_refusal(method: str, label: str, traffic: Traffic) -> str | None:
    """Why a recorded request must not be sent again, or None when it may."""
    if label in never_sent(traffic.policy):
        return "not replayed: the policy marks it destructive or session-ending"
    if method.upper() not in SAFE_METHODS and not is_write_allowed(traffic.api_root, traffic.allow_writes_to):
        host = urlsplit(traffic.api_root).hostname
        return f"read-only: not replayed, {host} is not in the target's allow_writes_to"
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
