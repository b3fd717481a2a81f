"""The contract suite: schemathesis drives every operation of the target's contract with every built-in check,
and Probity probes the SQL each generated request ran.

    pytest suites/test_contract.py --probity-target contracts/clinic/target.yaml

Without ``--probity-base-url`` the target's embedded stack is started for the session. Requests act as the
first pass's pinned principal, with one principal per tenant as peers (so ``object_level_authorization``
runs). A case fails when a built-in check fails or when a probe of its SQL returned FAIL. The budget is small
(``--probity-max-examples``, default 5): ``probity run`` is the thorough, all-phase run.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

schema = schemathesis.pytest.from_fixture("probity_schema")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_contract(case: Any, probity_results: Any) -> None:
    with probity_results.watch():
        case.call_and_validate()
