"""What the pytest plugin hands to tests: a requests session whose exchanges go through Probity's pipeline, the
results of one test, the schemathesis schema of the contract suite, and the findings of a whole session.

Results reach a test in two ways. A team's own test uses :class:`ProbitySession`; every exchange it sends is
validated against the contract, tied to its SQL and probed, and the plugin fails the test after its body when
any result FAILED. The contract suite wraps each generated case in :meth:`ProbityResults.watch`, so the case
that produced a failing probe result fails with it. Findings of the whole session are written per process
(``parts/<worker>.json``) and merged by the controller: nothing relies on pytest-xdist aggregating them.
"""

from __future__ import annotations

import inspect
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.principals import Principals
from probity.core.target import Target
from probity.engine.auth import TokenBroker
from probity.engine.contract_run import _config, _observed, _wfc_document
from probity.engine.observer import fold
from probity.engine.plan import Pass, RunPlan, default_passes, is_write_allowed, never_sent
from probity.engine.run import RunReport
from probity.engine.traffic import PRINCIPAL_HEADER, Traffic

__all__ = [
    "SUITE_PHASES",
    "ProbityResults",
    "ProbitySession",
    "SessionInfo",
    "clear_parts",
    "contract_schema",
    "failure_report",
    "merge_parts",
    "now",
    "session_info",
    "write_part",
]

_REQUEST_FIELDS = ("params", "data", "json", "files", "auth", "cookies")  # what requests.Request takes
SUITE_PHASES = ("examples", "fuzzing")  # coverage and stateful belong to `probity run`: they take minutes


class ProbitySession(requests.Session):
    """A :class:`requests.Session` whose every request goes through Probity: validated against the contract,
    tied to its SQL, probed.

    The acting principal is the one :meth:`as_principal` logged in, or the one an ``X-Probity-Principal``
    header names (that header is never sent). Requests are sent by the observer, one at a time, with its own
    timeout; per-request send options (``timeout``, ``verify``, ``proxies``, ``stream``) are not honoured.
    """

    def __init__(self, traffic: Traffic) -> None:
        super().__init__()
        self.traffic = traffic
        self.results: list[Result] = []  # everything concluded about this session's exchanges

    def as_principal(self, name: str) -> ProbitySession:
        """Log in as principal *name* (a fresh login) and send its credential from now on."""
        self.headers.update(self.traffic.login(name).as_headers())
        return self

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        arguments = _bound(method, url, args, kwargs)
        headers = {str(k): str(v) for k, v in (arguments.get("headers") or {}).items()}
        named = _pop(headers, PRINCIPAL_HEADER)
        request = requests.Request(
            method=_text(method).upper(),
            url=_text(url),
            headers=headers,
            **{key: arguments[key] for key in _REQUEST_FIELDS if key in arguments},
        )
        principal = named or self.traffic.principal_of({**_text_headers(self.headers), **headers})
        response, found = self.traffic.send(self, request, principal)
        self.results += found
        return response


def _bound(method: str | bytes, url: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a ``Session.request`` call by name, whichever way they were passed."""
    signature = inspect.signature(requests.Session.request)
    return dict(signature.bind(None, method, url, *args, **kwargs).arguments)


def _pop(headers: dict[str, str], name: str) -> str | None:
    key = next((k for k in headers if k.lower() == name.lower()), None)
    return headers.pop(key) if key is not None else None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _text_headers(headers: Mapping[str, str | bytes]) -> dict[str, str]:
    return {key: _text(value) for key, value in headers.items()}


class ProbityResults:
    """The results of one test: everything the pipeline concluded since the test began."""

    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic
        self._mark = traffic.mark()
        self._reported: set[str] = set()

    @property
    def all(self) -> list[Result]:
        return self.traffic.since(self._mark)

    @property
    def failures(self) -> list[Result]:
        return _failures(self.all)

    def unreported(self) -> list[Result]:
        """Failures no :meth:`watch` has raised yet."""
        return [r for r in self.failures if r.key not in self._reported]

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Raise AssertionError after the block if anything sent inside it produced a FAIL result."""
        mark = self.traffic.mark()
        yield
        failures = _failures(self.traffic.since(mark))
        if failures:
            self._reported.update(r.key for r in failures)
            raise AssertionError(failure_report(failures))


def _failures(results: Sequence[Result]) -> list[Result]:
    unique = {r.key: r for r in results if r.outcome is Outcome.FAIL}
    return sorted(unique.values(), key=lambda r: (-r.severity.rank, r.operation, r.rule))


def failure_report(failures: Sequence[Result]) -> str:
    """A readable account of failing results: severity, rule, operation, message, details.

    >>> from probity.core.findings import Category
    >>> r = Result("c", "c.rule", Category.CONTRACT, Outcome.FAIL, "GET /a", "broke", Severity.HIGH,
    ...            evidence={"details": ["/x: type"]})
    >>> print(failure_report([r]))
    Probity: 1 failing result
      [high] c.rule on GET /a: broke
          /x: type
    """
    plural = "s" if len(failures) != 1 else ""
    lines = [f"Probity: {len(failures)} failing result{plural}"]
    for result in failures:
        lines.append(f"  [{result.severity}] {result.rule} on {result.operation}: {result.message}")
        lines += [f"      {detail}" for detail in result.evidence.get("details", [])]
    return "\n".join(lines)


# -- the contract suite -----------------------------------------------------------------------------------


@contextmanager
def contract_schema(
    traffic: Traffic, seed: int, max_examples: int = 5, phases: Sequence[str] = SUITE_PHASES
) -> Iterator[Any]:
    """The target's contract as a schemathesis schema configured like a run's first pass (base URL, the pass's
    pinned principal and peers, exclusions, seed); the observer probes every call while the block runs."""
    import schemathesis

    run_pass = _first_pass(traffic.principals)
    plan = RunPlan(
        api_root=traffic.api_root,
        passes=(run_pass,),
        seed=seed,
        max_examples=max_examples,
        phases=tuple(phases),
        read_only=not is_write_allowed(traffic.api_root, traffic.allow_writes_to),
        never_send=never_sent(traffic.policy),
    )
    broker = TokenBroker(traffic.api_root, traffic.principals)
    with _wfc_document(run_pass, broker, traffic.redactor) as wfc:  # read while loading, then deleted
        schema = schemathesis.openapi.from_dict(traffic.contract, config=_config(plan, run_pass, wfc, traffic.contract))
    traffic.notes.append(f"contract suite as {run_pass.pinned} (peers {', '.join(run_pass.peers)}), seed {seed}")
    with _observed(traffic.observer):
        yield schema


def _first_pass(principals: Principals) -> Pass:
    passes = default_passes(principals)
    if passes:
        return passes[0]
    first = principals.principals[0]  # no role shared by two tenants: one identity, no peers
    return Pass(first.role, first.name, (first.name,))


# -- findings of a whole session --------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """What a session's findings file says besides its results."""

    target: str
    seed: int
    started: str


def write_part(folder: Path, worker: str, traffic: Traffic, info: SessionInfo) -> Path:
    """Write this process's results to ``folder/parts/<worker>.json``, for the controller to merge."""
    read_only = not is_write_allowed(traffic.api_root, traffic.allow_writes_to)
    if traffic.observer is not None:
        traffic.notes.append(f"{worker}: {traffic.observer.probed} requests probed against their SQL")
    document = {
        **asdict(info),
        "api_root": traffic.api_root,
        "read_only": read_only,
        "notes": traffic.notes,
        "results": [_to_dict(r) for r in traffic.all_results()],
    }
    path = folder / "parts" / f"{worker}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False, default=str), encoding="utf-8")
    return path


def merge_parts(folder: Path) -> RunReport | None:
    """Every process's results as one report (None when no test used Probity)."""
    parts = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((folder / "parts").glob("*.json"))]
    if not parts:
        return None
    first = parts[0]
    report = RunReport(
        folder.name,
        first["target"],
        first["api_root"],
        first["seed"],
        all(part["read_only"] for part in parts),
        min(part["started"] for part in parts),
    )
    report.results = fold([_from_dict(item) for part in parts for item in part["results"]])
    report.notes = [note for part in parts for note in part["notes"]]
    report.finished = now()
    return report


def clear_parts(folder: Path) -> None:
    """Forget the parts of an earlier session written to *folder*."""
    shutil.rmtree(folder / "parts", ignore_errors=True)


def _to_dict(result: Result) -> dict[str, Any]:
    data = asdict(result)
    data.update(category=str(result.category), outcome=str(result.outcome), severity=str(result.severity))
    return data


def _from_dict(data: dict[str, Any]) -> Result:
    return Result(
        **{
            **data,
            "category": Category(data["category"]),
            "outcome": Outcome(data["outcome"]),
            "severity": Severity(data["severity"]),
            "controls": tuple(data["controls"]),
        }
    )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def session_info(target: Target, seed: int) -> SessionInfo:
    return SessionInfo(target.name, seed, now())
