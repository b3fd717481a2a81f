"""The probes layer: one rule per module, each exporting one function of the same name (see ``base.Probe``).

``PROBES`` is the ordered registry the engine runs for every request. Order is the report's order.
"""

from __future__ import annotations

from probity.core.findings import Category
from probity.probes.audit_insert import audit_insert
from probity.probes.base import OperationFacts, Probe, ProbeContext, ReadBack
from probity.probes.n_plus_one import n_plus_one
from probity.probes.pagination import pagination
from probity.probes.parameterization import parameterization
from probity.probes.secret_omission import secret_omission
from probity.probes.tenancy_filter import tenancy_filter

__all__ = ["CATEGORIES", "PROBES", "OperationFacts", "Probe", "ProbeContext", "ReadBack"]

PROBES: tuple[Probe, ...] = (
    tenancy_filter,
    audit_insert,
    secret_omission,
    pagination,
    parameterization,
    n_plus_one,
)

# Each probe's category, for results the engine states on a probe's behalf (e.g. when it crashed).
CATEGORIES: dict[str, Category] = {
    "tenancy_filter": Category.TENANCY,
    "audit_insert": Category.AUDIT,
    "secret_omission": Category.SECRETS,
    "pagination": Category.PAGINATION,
    "parameterization": Category.INJECTION,
    "n_plus_one": Category.N_PLUS_ONE,
}
