"""Every check id a run can emit, in one place: the compliance frameworks may name only these.

The SQL probes come from their registry, schemathesis's built-in checks from their table; the HTTP checks of
the engine are listed here as each module's ``CHECK``.
"""

from __future__ import annotations

from probity.engine import cross_tenant, function_level, security_headers, session_revocation, traffic
from probity.engine.builtin_checks import BUILTIN_CHECKS
from probity.probes import PROBES

__all__ = ["ENGINE_CHECKS", "INVENTORY", "RUN_CHECKS"]

INVENTORY = "contract_inventory"  # operations the contract lists against what the backend serves and was sent

ENGINE_CHECKS: tuple[str, ...] = (
    cross_tenant.CHECK,
    function_level.CHECK,
    session_revocation.CHECK,
    security_headers.CHECK,
    traffic.CHECK,
    INVENTORY,
)

RUN_CHECKS: tuple[str, ...] = (
    *(probe.__name__ for probe in PROBES),
    *ENGINE_CHECKS,
    *(check.check_id for check in BUILTIN_CHECKS.values()),
)
