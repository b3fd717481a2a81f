"""Present: every operation of the API reference has a blueprint section with SQL, and no section is extra.

Rules: ``review.present.missing`` (HIGH): the reference documents an operation the blueprint does not
implement; ``review.present.undocumented`` (MEDIUM): the blueprint implements an operation the reference
does not document (improper inventory); ``review.present.no_sql`` (MEDIUM): the section states no SQL block,
so nothing of it can be reviewed. PASS otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

from probity.core.findings import Outcome, Result, Severity
from probity.review.context import ReviewContext, Subject

__all__ = ["present"]

RULE = "review.present"


def present(subject: Subject, ctx: ReviewContext) -> Iterator[Result]:
    """Whether the operation is in both documents, with SQL in the blueprint."""
    if subject.endpoint is None:
        where = {"reference": f"{ctx.reference_path}:{subject.operation.line}" if subject.operation else None}
        message = "the API reference documents this operation but the blueprint has no section for it"
        yield ctx.result(subject, f"{RULE}.missing", Outcome.FAIL, message, Severity.HIGH, where)
        return
    where = {"location": ctx.location(subject.endpoint.line)}
    if subject.operation is None:
        message = "the blueprint implements an operation the API reference does not document"
        yield ctx.result(subject, f"{RULE}.undocumented", Outcome.FAIL, message, Severity.MEDIUM, where)
    elif not subject.endpoint.blocks:
        message = "the blueprint section states no SQL block, so its queries cannot be reviewed"
        yield ctx.result(subject, f"{RULE}.no_sql", Outcome.FAIL, message, Severity.MEDIUM, where)
    else:
        yield ctx.result(
            subject, f"{RULE}.documented", Outcome.PASS, "in the reference and the blueprint", evidence=where
        )
