"""Auth check stated: the blueprint states the authentication and roles the reference promises.

For an operation the reference protects (bearer authentication or roles), the blueprint's ``- **Auth:**``
line must state a check (not be missing or ``none``), and its ``- **Roles:**`` line must list exactly the
reference's roles: a role the blueprint admits beyond them is a broken function-level authorization by
design, one it leaves out a contract the build will not keep. A public operation must not be stated as
protected either (the contract would not match).

Rules: ``review.auth.unstated`` (HIGH): no authentication or no roles stated for a protected operation;
``review.auth.roles_mismatch`` (HIGH): the roles differ. INCONCLUSIVE without a reference entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from probity.core.findings import Outcome, Result, Severity
from probity.review.context import ReviewContext, Subject

__all__ = ["auth"]

RULE = "review.auth"
_NONE = re.compile(r"^\s*(none|no|public|-)\b", re.IGNORECASE)
_ROLE = re.compile(r"[A-Za-z_][\w-]*")


def auth(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    """Compare the blueprint's stated authentication and roles with the reference's."""
    yield from ctx.unreviewable(subject, RULE)
    if subject.endpoint is None:
        return
    if subject.operation is None:
        message = "the reference does not document the operation, so its access rules are unknown"
        yield ctx.result(subject, f"{RULE}.no_reference", Outcome.INCONCLUSIVE, message)
        return
    failures = list(_judge(subject, ctx))
    yield from failures
    if not failures:
        yield ctx.result(subject, f"{RULE}.stated", Outcome.PASS, "authentication and roles as the reference says")


def _judge(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    assert subject.endpoint is not None and subject.operation is not None  # checked by the caller
    stated, roles = subject.endpoint.key("Auth"), subject.endpoint.key("Roles")
    where = {"location": ctx.location(subject.endpoint.line)}
    wanted = set(subject.operation.roles)
    protected = subject.operation.auth == "bearer" or bool(wanted)
    if protected and (stated is None or _NONE.match(stated)):
        message = "the reference requires authentication but the blueprint states no authentication check"
        yield ctx.result(subject, f"{RULE}.unstated", Outcome.FAIL, message, Severity.HIGH, where)
    elif not protected and stated is not None and not _NONE.match(stated):
        message = f"the reference makes the operation public but the blueprint states '{stated}'"
        yield ctx.result(subject, f"{RULE}.unstated", Outcome.FAIL, message, Severity.HIGH, where)
    if wanted and roles is None:
        message = "the reference lists roles but the blueprint states none"
        yield ctx.result(subject, f"{RULE}.unstated", Outcome.FAIL, message, Severity.HIGH, where)
    elif wanted and set(_ROLE.findall(roles or "")) != wanted:
        have = sorted(set(_ROLE.findall(roles or "")))
        message = f"the blueprint admits {', '.join(have)}; the reference {', '.join(sorted(wanted))}"
        yield ctx.result(subject, f"{RULE}.roles_mismatch", Outcome.FAIL, message, Severity.HIGH, where)
