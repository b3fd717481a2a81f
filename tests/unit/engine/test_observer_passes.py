"""The observer across passes: its schemathesis hooks come and go with each pass, and nothing waits after one."""

from __future__ import annotations

from pathlib import Path

from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

from probity.capture.collector import Collector
from probity.capture.records import LogLine
from probity.contracts.load import load_contract
from probity.core.findings import Outcome
from probity.core.policy import load_policy
from probity.core.principals import load_principals
from probity.core.redact import Redactor
from probity.core.trace import Attribution, Exchange
from probity.engine.contract_run import _observed
from probity.engine.observer import Observer, SqlView
from probity.sql import catalog_from_ddl

INCONCLUSIVE = Outcome.INCONCLUSIVE
CLINIC = Path(__file__).resolve().parents[3] / "contracts" / "clinic"


class SilentLog:
    """A statement log nothing is written to."""

    def read_new(self) -> list[LogLine]:
        return []

    def close(self) -> None:
        pass


def _observer() -> Observer:
    policy = load_policy(CLINIC / "policy.yaml")
    ddl = (CLINIC / "../../fixtures/clinic/schema.sql").resolve().read_text(encoding="utf-8")
    view = SqlView(Collector(SilentLog(), Attribution.TRACEPARENT, settle=0), catalog_from_ddl(ddl))
    principals = load_principals(CLINIC / "principals.yaml")
    redactor = Redactor(policy.redact_headers, policy.phi.fields, policy.canary_values())
    return Observer(view, policy, principals, load_contract(CLINIC / "openapi.yaml"), redactor)


def _mine(observer: Observer, name: str) -> int:
    return sum(
        1 for hook in GLOBAL_HOOK_DISPATCHER.get_all_by_name(name) if getattr(hook, "__self__", None) is observer
    )


def test_every_pass_registers_its_hooks_once_and_takes_them_away() -> None:
    observer = _observer()
    for _ in range(3):
        with _observed(observer):
            assert _mine(observer, "before_call") == 1 and _mine(observer, "after_call") == 1
        assert _mine(observer, "before_call") == 0 and _mine(observer, "after_call") == 0


def test_the_end_of_a_pass_judges_every_exchange_still_waiting() -> None:
    observer = _observer()
    collector = observer.view.collector
    with _observed(observer):
        for n in range(5):  # fewer than a batch: nothing is judged on the way
            traceparent = collector.begin(f"r{n}")
            exchange = Exchange("GET", "http://api/patients", "GET /patients", 200, traceparent=traceparent)
            observer._waiting[f"r{n}"] = ("GET /patients", "northwind_admin", ())
            collector.finish(f"r{n}", exchange)
        assert observer.probed == 0 and collector.waiting == 5
    assert observer.probed == 5 and collector.waiting == 0 and observer._waiting == {}
    # No SQL was seen for them: the tenancy probe cannot pass any of them.
    tenancy = [r for r in observer.results if r.check == "tenancy_filter"]
    assert len(tenancy) == 5 and {(r.outcome, r.rule) for r in tenancy} == {(INCONCLUSIVE, "tenancy_filter.unobserved")}
