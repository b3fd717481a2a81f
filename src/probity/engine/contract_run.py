"""Drive schemathesis through every operation of a contract, pass by pass, and turn what it saw into results.

Each pass pins one principal and lists one principal per tenant as peers (see :mod:`probity.engine.plan`),
so every built-in check runs, ``object_level_authorization`` included. Credentials go to schemathesis in a
Web Fuzzing Commons document in a private temporary folder that is deleted when the pass ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from probity.core.compliance import controls_for
from probity.core.errors import BackendError, HarnessError
from probity.core.findings import Outcome, Result
from probity.core.redact import Redactor
from probity.engine.auth import TokenBroker
from probity.engine.builtin_checks import describe
from probity.engine.confirm import availability_probe, body_conforms
from probity.engine.observer import ObserverHooks
from probity.engine.plan import SAFE_METHODS, Pass, RunPlan

__all__ = ["PassOutcome", "run_contract_pass", "unexercised"]

_PHASES = ("examples", "coverage", "fuzzing", "stateful")
# Sends one request of Probity's own (request, operation label, principal); its status, None if none came.
Resend = Callable[[requests.Request, str, str | None], int | None]


@dataclass
class PassOutcome:
    """What one pass produced: results, the operations it exercised, and problems it could not test past."""

    results: list[Result] = field(default_factory=list)
    exercised: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    scenarios: int = 0
    # Failures a second opinion showed to be the generator's mistake (a schema-invalid "positive" case, a
    # 404 about another resource than the one just created), by check.
    dismissed: dict[str, int] = field(default_factory=dict)


def run_contract_pass(
    contract: dict[str, Any],
    plan: RunPlan,
    run_pass: Pass,
    broker: TokenBroker,
    redactor: Redactor,
    observer: ObserverHooks | None = None,
) -> PassOutcome:
    """Run schemathesis once, as *run_pass* says, and collect typed results; *observer* probes every call."""
    import schemathesis
    from schemathesis.engine import from_schema

    # The file of live credentials is read while the schema loads, then deleted: it must not outlive that (a run
    # killed during its pass would leave it behind).
    with _wfc_document(run_pass, broker, redactor) as wfc:
        schema = schemathesis.openapi.from_dict(contract, config=_config(plan, run_pass, wfc, contract))
    with requests.Session() as session, _observed(observer):
        collector = _Collector(run_pass, plan, redactor, contract, _resender(session, observer))
        for event in from_schema(schema).execute():
            collector.consume(event)
    return collector.outcome


def _resender(session: requests.Session, observer: ObserverHooks | None) -> Resend:
    """Send second opinions through the observer when there is one, so their SQL is judged like any other."""

    def resend(request: requests.Request, label: str, principal: str | None) -> int | None:
        try:
            if observer is not None:
                return observer.send(session, request, label, principal).status_code
            return session.send(session.prepare_request(request), timeout=30).status_code
        except requests.RequestException:
            return None  # no opinion: the failure stands

    return resend


@contextmanager
def _observed(observer: ObserverHooks | None) -> Iterator[None]:
    """Register the observer's hooks for one pass; schemathesis only takes call hooks globally."""
    if observer is None:
        yield
        return
    from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER as hooks

    # The very objects registered: hooks are unregistered by identity, and each `observer.x` is a new bound
    # method, so unregistering a fresh one would leave the hooks of every earlier pass in place.
    before, after = observer.before_call, observer.after_call
    hooks.register_hook_with_name(before, "before_call")
    hooks.register_hook_with_name(after, "after_call")
    try:
        yield
        observer.flush()  # judge what still waits before the next pass resets the database
    finally:
        hooks.unregister(before)
        hooks.unregister(after)


@contextmanager
def _wfc_document(run_pass: Pass, broker: TokenBroker, redactor: Redactor) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="probity-auth-"))  # 0700: tokens are secrets
    entries = []
    for name in dict.fromkeys((run_pass.pinned, *run_pass.peers)):
        credential = broker.credential(name)
        redactor.add_secret(credential.value.split(" ")[-1])
        entries.append({"name": name, "fixedHeaders": [{"name": credential.header, "value": credential.value}]})
    path = folder / "auth.yaml"
    path.write_text(yaml.safe_dump({"auth": entries}), encoding="utf-8")
    try:
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _config(plan: RunPlan, run_pass: Pass, wfc: Path, contract: dict[str, Any]) -> Any:
    from schemathesis.config import SchemathesisConfig

    data: dict[str, Any] = {
        "seed": plan.seed,
        "base-url": plan.api_root,
        "workers": plan.workers,
        "generation": {"max-examples": plan.max_examples},
        "phases": _phases(plan),
        "auth": {"wfc": {"path": str(wfc), "user": run_pass.pinned, "peers": list(run_pass.peers)}},
        "operations": _exclusions(plan, contract),
    }
    if len(run_pass.peers) < 2:
        data["auth"]["wfc"].pop("peers")
    return SchemathesisConfig.from_dict(data)


def _phases(plan: RunPlan) -> dict[str, Any]:
    phases: dict[str, Any] = {name: {"enabled": name in plan.phases} for name in _PHASES}
    if not plan.response_pool:  # the stateful phase has no pool: its links are what it follows
        for name in ("examples", "coverage", "fuzzing"):
            phases[name]["extra-data-sources"] = {"responses": False}
    return phases


def _exclusions(plan: RunPlan, contract: dict[str, Any]) -> list[dict[str, Any]]:
    excluded = list(plan.never_send)
    if plan.read_only:
        excluded += [f"{m.upper()} {p}" for p, item in contract.get("paths", {}).items() for m in item if _writes(m)]
    if not excluded:
        return []
    # By label ("METHOD /path"): separate method and path filters would OR. One entry with every label, not an
    # entry per label: schemathesis matches every entry against every operation, many times over.
    return [{"include-name": list(dict.fromkeys(excluded)), "enabled": False}]


def _writes(method: str) -> bool:
    return method.upper() in {"POST", "PUT", "PATCH", "DELETE"} and method.upper() not in SAFE_METHODS


class _Collector:
    """Folds schemathesis engine events into results: failures as found, one PASS per check that held."""

    def __init__(
        self, run_pass: Pass, plan: RunPlan, redactor: Redactor, contract: dict[str, Any], resend: Resend
    ) -> None:
        self.run_pass = run_pass
        self.plan = plan
        self.redactor = redactor
        self.contract = contract
        self.resend = resend
        self.outcome = PassOutcome()
        self._ran: dict[tuple[str, str], bool] = {}  # (operation, check) -> failed
        self._seen: set[str] = set()
        # Failures whose second opinion needs a request: asked once the engine is done, so nothing overlaps it.
        self._deferred: list[tuple[str, Any, requests.Request, str, str | None]] = []

    def consume(self, event: Any) -> None:
        from schemathesis.engine import events

        if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            self._scenario(event)
        elif isinstance(event, events.NonFatalError):
            self.outcome.errors.append(f"{event.label}: {self.redactor.text(str(event.value))[:300]}")
        elif isinstance(event, events.FatalError):
            raise _fatal(event.exception)
        elif isinstance(event, events.EngineFinished):
            self._second_opinions()
            self._passes()

    def _scenario(self, event: Any) -> None:
        self.outcome.scenarios += 1
        for case_id, checks in event.recorder.checks.items():
            for node in checks:
                operation = _operation_of(event, node)
                if operation is None:
                    continue
                self.outcome.exercised.add(operation)
                failed = node.failure_info is not None and self._confirmed(event, case_id, operation, node)
                self._tally(operation, node, failed)

    def _tally(self, operation: str, node: Any, failed: bool) -> None:
        self._ran[(operation, node.name)] = self._ran.get((operation, node.name), False) or failed
        if failed:
            self._failure(operation, node)

    def _confirmed(self, event: Any, case_id: str, operation: str, node: Any) -> bool:
        """Whether a failure survives its second opinion (see :mod:`probity.engine.confirm`); False for one
        left for later."""
        if node.name == "ensure_resource_availability":
            return not self._deferred_for_a_get(event, case_id, operation, node)
        if node.name != "positive_data_acceptance":
            return True
        case = event.recorder.cases.get(case_id)
        body = getattr(getattr(case, "value", None), "body", None)
        if body is None or body_conforms(self.contract, operation, body):
            return True
        self._dismiss(node.name)
        return False

    def _deferred_for_a_get(self, event: Any, case_id: str, operation: str, node: Any) -> bool:
        interaction = event.recorder.interactions.get(case_id)
        if interaction is None:
            return False
        probe = availability_probe(self.contract, operation, interaction.request.uri, interaction.request.headers)
        if probe is None:
            return False
        label, uri, headers = probe
        principal = getattr(getattr(event.recorder.cases.get(case_id), "value", None), "auth_identity", None)
        self._deferred.append((operation, node, requests.Request("GET", uri, headers=headers), label, principal))
        return True

    def _second_opinions(self) -> None:
        """A deferred failure stands unless the resource it blamed is there after all (2xx to a GET)."""
        for operation, node, request, label, principal in self._deferred:
            status = self.resend(request, label, principal or self.run_pass.pinned)
            if status is not None and 200 <= status < 300:
                self._dismiss(node.name)
                self._tally(operation, node, False)
            else:
                self._tally(operation, node, True)
        self._deferred.clear()

    def _dismiss(self, check: str) -> None:
        self.outcome.dismissed[check] = self.outcome.dismissed.get(check, 0) + 1

    def _failure(self, operation: str, node: Any) -> None:
        result = self._result(operation, node.name, Outcome.FAIL, node.failure_info)
        if result.key not in self._seen:
            self._seen.add(result.key)
            self.outcome.results.append(result)

    def _passes(self) -> None:
        for (operation, name), failed in sorted(self._ran.items()):
            if not failed:
                self.outcome.results.append(self._result(operation, name, Outcome.PASS, None))

    def _result(self, operation: str, name: str, outcome: Outcome, info: Any) -> Result:
        check = describe(name)
        message, evidence = self._evidence(info) if info is not None else ("", {})
        evidence.update({"principal": self.run_pass.pinned, "peers": list(self.run_pass.peers)})
        evidence["seed"] = self.plan.seed
        return Result(
            check=check.check_id,
            rule=check.check_id,
            category=check.category,
            outcome=outcome,
            operation=operation,
            message=message,
            severity=check.severity,
            controls=controls_for(check.check_id),
            evidence=evidence,
        )

    def _evidence(self, info: Any) -> tuple[str, dict[str, Any]]:
        failure = info.failure
        title = str(getattr(failure, "title", type(failure).__name__))
        detail = self.redactor.text(str(getattr(failure, "message", "")))
        # The title is stable across examples, so it names the finding; values and ids go to evidence.
        steps = [self.redactor.text(step.curl) for step in getattr(info, "steps", [])]
        return title, {"detail": detail, "reproduce": steps or [self.redactor.text(info.code_sample)]}


def _operation_of(event: Any, node: Any) -> str | None:
    """The operation a check ran on: the scenario's label, or, in stateful runs, the failing step's."""
    if event.label:
        return str(event.label)
    steps = getattr(node.failure_info, "steps", None) if node.failure_info else None
    return str(steps[-1].operation) if steps else None


def _fatal(exc: BaseException) -> Exception:
    text = str(exc)
    if "Connection" in type(exc).__name__ or "connect" in text.lower():
        return BackendError(f"the backend does not answer: {text.splitlines()[0] if text else exc!r}")
    return HarnessError(f"schemathesis stopped: {type(exc).__name__}: {text.splitlines()[0] if text else ''}")


def unexercised(contract: dict[str, Any], outcomes: Iterable[PassOutcome]) -> set[str]:
    """Operations of *contract* that no pass exercised."""
    exercised = set().union(*(o.exercised for o in outcomes))
    documented = {
        f"{m.upper()} {p}" for p, item in contract.get("paths", {}).items() for m in item if m != "parameters"
    }
    return documented - exercised
