"""The design review: an API reference, its implementation blueprint and the DDL, checked before building.

Layer: imports :mod:`probity.core`, :mod:`probity.sql` and :mod:`probity.contracts`; the CLI imports it.
Each rule is one module exporting one function of the same name with the :class:`ReviewRule` signature,
listed in the ordered registry ``RULES`` (the tracking table's column order); ``REVIEW_CHECKS`` are their
check ids, as the compliance frameworks name them.

* :mod:`~probity.review.blueprint` — the blueprint into endpoints, SQL blocks and statements (with lines)
* :mod:`~probity.review.run` — every rule over every operation of the reference (and drift, given a DSN)
* :mod:`~probity.review.summary` — the tracking table, schema gaps, missing indexes, critical issues
* :mod:`~probity.review.drift` — the DDL against a live database's catalog
* :mod:`~probity.review.render` — ``review.md`` and ``review.json``
"""

from __future__ import annotations

from probity.review.audit import audit
from probity.review.auth import auth
from probity.review.context import ReviewContext, ReviewRule, Subject
from probity.review.indexes import indexes
from probity.review.loops import loops
from probity.review.pagination import pagination
from probity.review.present import present
from probity.review.schema import schema
from probity.review.secrets import secrets
from probity.review.tenancy import tenancy
from probity.review.transactions import transactions

__all__ = ["COLUMNS", "DRIFT_CHECK", "REVIEW_CHECKS", "RULES", "ReviewContext", "ReviewRule", "Subject"]

RULES: tuple[ReviewRule, ...] = (
    present,
    schema,
    tenancy,
    audit,
    secrets,
    pagination,
    indexes,
    transactions,
    loops,
    auth,
)

# The tracking table's column headings, one per rule, in RULES order.
COLUMNS: dict[str, str] = {
    "review.present": "Present",
    "review.schema": "Schema valid",
    "review.tenancy": "Tenancy",
    "review.audit": "Audit",
    "review.secrets": "Secrets",
    "review.pagination": "Pagination",
    "review.indexes": "Indexes",
    "review.transactions": "Transactions",
    "review.loops": "No loops",
    "review.auth": "Auth stated",
}

DRIFT_CHECK = "review.drift"
REVIEW_CHECKS: tuple[str, ...] = (*(f"review.{rule.__name__}" for rule in RULES), DRIFT_CHECK)
