"""The contract inventory against the real clinic: from its live OpenAPI document and, without one, by probes.

The correct clinic implements all 43 documented operations and serves none the contract lacks. A contract
missing an operation the clinic serves names it undocumented; one documenting an operation the clinic lacks
names it not implemented. Probing sends only GET, HEAD and OPTIONS. A backend that is not there leaves every
"implemented" INCONCLUSIVE.
"""

from __future__ import annotations

import copy
import doctest
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from probity.contracts.load import load_contract, operations
from probity.core.findings import Outcome, Result
from probity.core.target import load_target
from probity.engine import inventory as inventory_module
from probity.engine.inventory import DOCUMENTED, IMPLEMENTED, UNDOCUMENTED, contract_inventory
from probity.runtime.backend import BackendProcess
from probity.runtime.net import free_port
from probity.runtime.stack import EmbeddedStack

ROOT = Path(__file__).resolve().parents[2]
CLINIC = ROOT / "contracts" / "clinic"
CONTRACT = load_contract(CLINIC / "openapi.yaml")
MISSING_PATH = "/patients/{patient_id}/proxies/{proxy_id}"  # DELETE only: dropped from a copy of the contract


@pytest.fixture(scope="module")
def clinic() -> Iterator[BackendProcess]:
    base = Path(tempfile.mkdtemp(prefix="probity-inventory-"))
    base.chmod(0o755)  # as root, the server's own account must reach its cluster below this folder
    stack = EmbeddedStack(load_target(CLINIC / "target.yaml"), base / "work")
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("PROBITY_STATE_DIR", str(base / "state"))
            stack.start()
        assert stack.backend is not None
        yield stack.backend
    finally:
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)


def _by_rule(results: tuple[Result, ...]) -> Counter[tuple[str, Outcome]]:
    return Counter((r.rule, r.outcome) for r in results)


@pytest.mark.postgres
def test_the_clinic_implements_every_documented_operation_and_nothing_more(clinic: BackendProcess) -> None:
    inventory = contract_inventory(CONTRACT, clinic.base_url, clinic.openapi_url)
    assert _by_rule(inventory.results) == {(DOCUMENTED, Outcome.PASS): 43, (IMPLEMENTED, Outcome.PASS): 43}
    assert {r.operation for r in inventory.results} == set(operations(CONTRACT))
    assert all(r.controls == ("HIPAA 164.308(a)(8)", "OWASP API9:2023") for r in inventory.results)
    assert "live OpenAPI document" in inventory.note


@pytest.mark.postgres
def test_an_operation_the_contract_lacks_is_undocumented(clinic: BackendProcess) -> None:
    contract = copy.deepcopy(CONTRACT)
    del contract["paths"][MISSING_PATH]
    inventory = contract_inventory(contract, clinic.base_url, clinic.openapi_url)
    failures = [(r.rule, r.operation) for r in inventory.results if r.outcome is Outcome.FAIL]
    assert failures == [(UNDOCUMENTED, f"DELETE {MISSING_PATH}")]


@pytest.mark.postgres
def test_an_operation_the_clinic_lacks_is_not_implemented(clinic: BackendProcess) -> None:
    contract = _with_unimplemented(CONTRACT)
    live = contract_inventory(contract, clinic.base_url, clinic.openapi_url)
    failures = [(r.rule, r.operation) for r in live.results if r.outcome is Outcome.FAIL]
    assert failures == [(IMPLEMENTED, "GET /formulary")]


@pytest.mark.postgres
def test_without_a_live_document_probes_find_the_same_using_safe_methods_only(
    clinic: BackendProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    original = requests.Session.request

    def recording(session: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        sent.append(method.upper())
        return original(session, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", recording)
    inventory = contract_inventory(_with_unimplemented(CONTRACT), clinic.base_url, f"{clinic.origin}/no-such-doc")
    assert "by safe probes" in inventory.note
    implemented = {r.operation: r.outcome for r in inventory.results if r.rule == IMPLEMENTED}
    assert implemented.pop("GET /formulary") is Outcome.FAIL
    # GET operations answer; for the others, OPTIONS answers 405 with an Allow header that lists the method
    assert Counter(implemented.values()) == {Outcome.PASS: 43}
    assert set(sent) <= {"GET", "HEAD", "OPTIONS"} and "GET" in sent


def test_a_backend_that_is_not_there_leaves_implemented_inconclusive() -> None:
    root = f"http://127.0.0.1:{free_port('127.0.0.1')}/api/v1"
    inventory = contract_inventory(CONTRACT, root)
    outcomes = _by_rule(inventory.results)
    assert outcomes == {(DOCUMENTED, Outcome.PASS): 43, (IMPLEMENTED, Outcome.INCONCLUSIVE): 43}
    assert "could not be taken" in inventory.note


def _with_unimplemented(contract: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(contract)
    health = changed["paths"]["/health"]["get"]
    changed["paths"]["/formulary"] = {"get": {**health, "operationId": "formulary", "security": []}}
    return changed


def test_docstring_examples_pass() -> None:
    runner = doctest.DocTestRunner()
    tests = doctest.DocTestFinder().find(inventory_module)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0
    assert sum(len(test.examples) for test in tests) > 0
