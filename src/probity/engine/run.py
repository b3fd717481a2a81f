"""A whole run: start the embedded target (or reach a running one), drive every check, gather the results.

Order matters for honesty and safety: the backend must answer before anything is judged; state-changing
requests go only to allow-listed hosts; an embedded database is reset to its seed before every pass, so one
pass's fuzzing never shapes the next; operations nobody could exercise end INCONCLUSIVE, never PASS.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import requests

from probity.contracts.load import load_contract, operations
from probity.core.errors import BackendError, ConfigError
from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.policy import Policy, load_policy
from probity.core.principals import Principals, load_principals
from probity.core.provenance import collect_provenance
from probity.core.redact import Redactor
from probity.core.shards import Shard
from probity.core.target import Target
from probity.core.trace import Attribution
from probity.engine.auth import TokenBroker
from probity.engine.contract_run import PassOutcome, run_contract_pass
from probity.engine.cross_tenant import cross_tenant_access
from probity.engine.function_level import function_level_authorization
from probity.engine.inventory import contract_inventory
from probity.engine.judge_process import CAN_FORK, judged_aside, spins
from probity.engine.observer import Observer, ObserverHooks, SqlView, fold
from probity.engine.plan import Pass, RunPlan, default_passes, is_write_allowed, never_sent
from probity.engine.security_headers import security_headers
from probity.engine.session_revocation import session_revocation
from probity.engine.sqlview import embedded_view, remote_view
from probity.probes import CATEGORIES
from probity.runtime.stack import EmbeddedStack

__all__ = ["Documents", "RunOptions", "RunReport", "execute_run", "http_checks", "oversized_pages"]


@dataclass(frozen=True)
class RunOptions:
    target: Target
    run_dir: Path
    base_url: str | None = None  # a running backend's API root; default: start the embedded target
    seed: int | None = None
    max_examples: int = 20
    phases: tuple[str, ...] = ("examples", "coverage", "fuzzing", "stateful")
    roles: tuple[str, ...] = ()  # limit passes to these roles; empty: every role all tenants share
    workers: int = 1
    defects: str = ""
    # How statements are tied to requests: the backend's SQL comments, or fences one request at a time.
    attribution: Attribution = Attribution.TRACEPARENT
    # With traceparents, whether the judging process busy-waits while requests flow ("spin"), sleeps ("sleep"),
    # or spins only when the machine has a core to spare for it ("auto"; see engine.judge_process).
    judge_wait: str = "auto"
    dsn: str | None = None  # a running target's database, for its statement log, catalog and read-back
    backend_user: str | None = None  # the role the running backend connects as (filters the log)
    shard: Shard | None = None  # run only this shard's share of the contract's operations
    # Each operation's cases from the seed alone, not from values other operations answered: results then do
    # not depend on which operations run together, so merged shards equal one run (see probity.core.shards).
    independent_operations: bool = False


@dataclass
class RunReport:
    """What a run did and concluded."""

    run_id: str
    target: str
    api_root: str
    seed: int
    read_only: bool
    started: str
    finished: str = ""
    passes: list[Pass] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What produced the run (versions, document hashes, git state, who): see probity.core.provenance.
    provenance: dict[str, Any] = field(default_factory=dict)
    # The contract's operations, "METHOD /path", in contract order: the rows every report covers.
    operations: tuple[str, ...] = ()
    shard: Shard | None = None  # when set, *operations* are this shard's share of the contract's
    independent_operations: bool = False  # each operation's cases from the seed alone (no response pool)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.outcome is Outcome.FAIL]

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


@dataclass(frozen=True)
class Documents:
    """The target's documents a run works from (also what bench/ builds to time a run's steps alone)."""

    contract: dict[str, Any]
    policy: Policy
    principals: Principals


def execute_run(options: RunOptions) -> RunReport:
    """Run every check against the target of *options*; raise ProbityError for what stops a run."""
    documents = _load_documents(options.target)
    with ExitStack() as scope:
        stack = _embedded(options, scope)
        api_root = _api_root(options, stack)
        _require_answer(api_root)
        report = _new_report(options, api_root)
        report.operations, report.shard = _share(options, documents.contract), options.shard
        report.independent_operations = options.independent_operations
        report.provenance = _provenance(options)
        observer = _observer(options, documents, stack, scope, report)
        _contract_passes(options, documents, report, stack, observer)
        http_checks(documents, report, stack, observer)
        _probe_results(options, documents, report, observer)
        report.results += _unexercised(report, never_sent(documents.policy))
        _inventory(documents, report, stack)  # after _unexercised: its results name every operation
        _keep_share(report, documents.contract)
        report.finished = _now()
    return report


def _share(options: RunOptions, contract: dict[str, Any]) -> tuple[str, ...]:
    documented = operations(contract)
    return options.shard.select(documented) if options.shard is not None else tuple(documented)


def _other_shares(contract: dict[str, Any], report: RunReport) -> tuple[str, ...]:
    return tuple(op for op in operations(contract) if op not in report.operations)


def _keep_share(report: RunReport, contract: dict[str, Any]) -> None:
    """Drop what a shard concluded about other shards' operations.

    The HTTP checks and the inventory run whole in every shard (a second or two): their requests, and the state
    the writes among them leave, then follow the same order as in an unsharded run, so each operation's results
    are the ones that run would give. Results on no documented operation (undocumented routes) are kept by every
    shard; a merge folds the copies.
    """
    if report.shard is None:
        return
    others = set(_other_shares(contract, report))
    report.results = [r for r in report.results if r.operation not in others]
    report.notes.append(f"shard {report.shard}: {len(report.operations)} of {len(operations(contract))} operations")


def _inventory(documents: Documents, report: RunReport, stack: EmbeddedStack | None) -> None:
    """Documented, implemented and undocumented operations; only GET/HEAD/OPTIONS are sent."""
    openapi_url = stack.backend.openapi_url if stack is not None and stack.backend is not None else None
    inventory = contract_inventory(documents.contract, report.api_root, openapi_url)
    report.results += [_with_policy_severity(r, documents.policy) for r in inventory.results]
    report.notes.append(inventory.note)


def _provenance(options: RunOptions) -> dict[str, Any]:
    target = options.target
    named = {"contract": target.contract, "policy": target.policy, "principals": target.principals}
    documents = {name: target.resolve(path) for name, path in named.items() if path is not None}
    return collect_provenance(documents, target.root, sys.argv)


def _load_documents(target: Target) -> Documents:
    missing = [name for name in ("contract", "policy", "principals") if getattr(target, name) is None]
    if missing:
        raise ConfigError(f"target {target.name!r} names no {', '.join(missing)} file")
    assert target.contract and target.policy and target.principals
    return Documents(
        contract=load_contract(target.resolve(target.contract)),
        policy=load_policy(target.resolve(target.policy)),
        principals=load_principals(target.resolve(target.principals)),
    )


def _embedded(options: RunOptions, scope: ExitStack) -> EmbeddedStack | None:
    if options.base_url is not None:
        return None
    options.target.embedded_parts()  # a clear error when the target cannot be started
    traced = options.attribution is Attribution.TRACEPARENT
    stack = EmbeddedStack(options.target, options.run_dir, defects=options.defects, sqlcommenter=traced)
    return scope.enter_context(stack)


def _observer(
    options: RunOptions, documents: Documents, stack: EmbeddedStack | None, scope: ExitStack, report: RunReport
) -> ObserverHooks | None:
    view_of: Callable[[ExitStack], SqlView]
    if stack is not None:
        view_of = partial(embedded_view, stack, options.attribution)
    elif options.dsn is not None:
        view_of = partial(remote_view, options.dsn, options.attribution, backend_user=options.backend_user)
    else:
        report.notes.append("no database access (--dsn): SQL probes could not observe anything")
        return None
    redactor = _redactor(documents.policy)

    def build(closing: ExitStack) -> Observer:
        return Observer(view_of(closing), documents.policy, documents.principals, documents.contract, redactor)

    if options.attribution is not Attribution.TRACEPARENT or not CAN_FORK:  # fences: one request at a time
        report.notes.append(f"SQL attribution by {options.attribution}")
        return build(scope)
    spin, watch = spins(options.judge_wait, options.workers), options.judge_wait == "auto"
    how = "busy-waiting while requests flow" if spin else "sleeping between requests"
    how += " and no other work waits for a CPU" if spin and watch else ""
    how += f" (--judge-wait {options.judge_wait})"
    report.notes.append(f"SQL attribution by {options.attribution}, judged in a process of its own, {how}")
    return judged_aside(build, redactor, scope, spin, watch)


def _api_root(options: RunOptions, stack: EmbeddedStack | None) -> str:
    if stack is not None and stack.backend is not None:
        return stack.backend.base_url
    assert options.base_url is not None
    return options.base_url.rstrip("/")


def _require_answer(api_root: str) -> None:
    try:
        requests.get(api_root, timeout=10)
    except requests.RequestException as exc:
        raise BackendError(f"the backend at {api_root} does not answer ({type(exc).__name__}); is it running?") from exc


def _new_report(options: RunOptions, api_root: str) -> RunReport:
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    read_only = not is_write_allowed(api_root, options.target.allow_writes_to)
    report = RunReport(options.run_dir.name, options.target.name, api_root, seed, read_only, _now())
    if read_only:
        report.notes.append(
            f"read-only run: {api_root} is not in allow_writes_to, so no state-changing request was sent"
        )
    return report


def _contract_passes(
    options: RunOptions,
    documents: Documents,
    report: RunReport,
    stack: EmbeddedStack | None,
    observer: ObserverHooks | None,
) -> None:
    passes = _passes(options, documents.principals)
    report.passes = list(passes)
    if not passes:
        report.notes.append("no role is shared by two tenants: tenant isolation could not be exercised")
    plan = _plan(options, documents, report, passes)
    if not plan.response_pool:
        report.notes.append("operations independent: each one's cases from the seed alone, no values of other answers")
    redactor = _redactor(documents.policy)
    for run_pass in passes:
        if stack is not None:
            stack.reset()  # every pass starts from the seed
        started = time.monotonic()
        broker = TokenBroker(_api_root(options, stack), documents.principals)
        outcome = run_contract_pass(documents.contract, plan, run_pass, broker, redactor, observer)
        report.results += _merge(report.results, outcome)
        report.notes.append(_pass_note(run_pass, outcome, time.monotonic() - started))


def _passes(options: RunOptions, principals: Principals) -> tuple[Pass, ...]:
    passes = default_passes(principals)
    return tuple(p for p in passes if p.role in options.roles) if options.roles else passes


def _plan(options: RunOptions, documents: Documents, report: RunReport, passes: tuple[Pass, ...]) -> RunPlan:
    return RunPlan(
        api_root=report.api_root,
        passes=passes,
        seed=report.seed,
        max_examples=options.max_examples,
        phases=options.phases,
        read_only=report.read_only,
        # Other shards' operations are left out like those the policy excludes.
        never_send=(*never_sent(documents.policy), *_other_shares(documents.contract, report)),
        response_pool=not options.independent_operations,
        # Fences tie statements to one request at a time.
        workers=1 if options.attribution is Attribution.FENCE else options.workers,
    )


def http_checks(
    documents: Documents, report: RunReport, stack: EmbeddedStack | None, observer: ObserverHooks | None = None
) -> None:
    """Cross-tenant access, function-level authorization and session revocation, on a fresh seed."""
    if stack is not None:
        stack.reset()
    broker = TokenBroker(report.api_root, documents.principals)
    redactor = _redactor(documents.policy)
    common = (documents.contract, report.api_root, documents.principals, broker, redactor)
    never = never_sent(documents.policy)
    limit = documents.policy.pagination.limit_param
    started = time.monotonic()
    writable = not report.read_only
    found = cross_tenant_access(*common, write_allowed=writable, never_send=never, limit_param=limit)
    found += function_level_authorization(*common, write_allowed=writable, never_send=never, limit_param=limit)
    observe = observer.send if observer is not None else None
    found += session_revocation(*common, session_ending=documents.policy.session_ending_operations, observe=observe)
    pinned = report.passes[0].pinned if report.passes else None
    found += security_headers(
        *common, policy=documents.policy.security_headers, write_allowed=writable, principal=pinned
    )
    report.results += [_with_policy_severity(r, documents.policy) for r in fold(found)]
    report.notes.append(
        f"cross-tenant, role and session checks: {len(found)} results in {time.monotonic() - started:.1f}s"
    )


def _with_policy_severity(result: Result, policy: Policy) -> Result:
    if result.outcome is not Outcome.FAIL:
        return result
    return replace(result, severity=policy.severity(result.rule, result.severity))


def _probe_results(
    options: RunOptions, documents: Documents, report: RunReport, observer: ObserverHooks | None
) -> None:
    """Fold what the probes concluded; without a SQL view, every SQL probe is INCONCLUSIVE everywhere."""
    if observer is None:
        report.results += [_blind(check, operation) for operation in report.operations for check in PROBES_BY_NAME]
        return
    if report.passes:
        oversized_pages(documents, report, observer)
    report.results += fold(observer.results)
    report.notes.append(f"{observer.probed} requests probed against their SQL")


def oversized_pages(documents: Documents, report: RunReport, observer: ObserverHooks) -> None:
    """Ask every paginated list for far more than the policy's maximum, so the cap is seen to hold."""
    pagination = documents.policy.pagination
    principal = report.passes[0].pinned
    broker = TokenBroker(report.api_root, documents.principals)
    with requests.Session() as session:
        for label in (label for label in _paginated_lists(documents.contract) if label in report.operations):
            url = report.api_root + label.split(" ", 1)[1]
            params = {pagination.limit_param: str(pagination.probe_limit)}
            request = requests.Request("GET", url, params=params, headers=broker.credential(principal).as_headers())
            observer.send(session, request, label, principal, (str(pagination.probe_limit),))


def _paginated_lists(contract: dict[str, Any]) -> list[str]:
    """Paginated GET operations that need no path parameter (others are reached by generated cases only)."""
    return [
        f"GET {path}"
        for path, item in contract.get("paths", {}).items()
        if "{" not in path and item.get("get", {}).get("x-paginated")
    ]


PROBES_BY_NAME = tuple(CATEGORIES)


def _blind(check: str, operation: str) -> Result:
    return Result(
        check=check,
        rule=f"{check}.unobserved",
        category=CATEGORIES[check],
        outcome=Outcome.INCONCLUSIVE,
        operation=operation,
        message="no statement log was available for this target",
    )


def _redactor(policy: Policy) -> Redactor:
    return Redactor(policy.redact_headers, policy.phi.fields, policy.canary_values())


def _merge(existing: list[Result], outcome: PassOutcome) -> list[Result]:
    """New results of a pass, without repeating what an earlier pass already concluded."""
    seen = {(r.key, r.outcome) for r in existing}
    return [r for r in outcome.results if (r.key, r.outcome) not in seen]


_DISMISSED_BECAUSE = {
    "positive_data_acceptance": "the sent body broke the schema",
    "ensure_resource_availability": "a GET found the resource: the 404 was about another one",
}


def _pass_note(run_pass: Pass, outcome: PassOutcome, seconds: float) -> str:
    note = f"pass {run_pass.role} as {run_pass.pinned}: {outcome.scenarios} scenarios in {seconds:.1f}s"
    for check, count in sorted(outcome.dismissed.items()):
        note += f"; {count} {check} failures dismissed ({_DISMISSED_BECAUSE.get(check, 'second opinion')})"
    if outcome.errors:
        shown = "; ".join(outcome.errors[:3])
        note += f"; {len(outcome.errors)} requests could not be tested, e.g. {shown}"
    return note


def _unexercised(report: RunReport, excluded: tuple[str, ...]) -> list[Result]:
    exercised = {r.operation for r in report.results}
    return [
        Result(
            check="contract_inventory",
            rule="contract_inventory.unexercised",
            category=Category.CONTRACT,
            outcome=Outcome.INCONCLUSIVE,
            operation=operation,
            message=_why_unexercised(operation, report, excluded),
            severity=Severity.INFO,
        )
        for operation in report.operations
        if operation not in exercised
    ]


def _why_unexercised(operation: str, report: RunReport, excluded: tuple[str, ...]) -> str:
    if operation in excluded:
        return "not fuzzed: the policy marks it destructive or session-ending"
    if report.read_only and operation.split(" ", 1)[0] not in {"GET", "HEAD", "OPTIONS"}:
        return "not sent: read-only run"
    return "no generated request reached this operation"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
