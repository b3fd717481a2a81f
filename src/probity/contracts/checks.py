"""Checks across the whole reference, once every section is read: names, path parameters, statuses,
authentication and pagination must agree with each other."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from probity.contracts.diagnostics import Report
from probity.contracts.model import JSON_TYPES, SCALAR_TYPES, Field, Operation, Reference, walk_fields

__all__ = ["check_reference"]


def check_reference(reference: Reference, report: Report) -> None:
    """Report every disagreement between the parts of *reference*."""
    for check in _CHECKS:
        check(reference, report)


def _all_fields(reference: Reference) -> Iterator[Field]:
    for schema in reference.schemas.values():
        yield from walk_fields(schema.fields)
    for operation in reference.operations:
        for body in operation.bodies():
            yield from walk_fields(body.fields or ())


def _types(reference: Reference, report: Report) -> None:
    for field in _all_fields(reference):
        if field.is_named and field.type not in reference.schemas:
            known = ", ".join(JSON_TYPES)
            report.error(field.line, f"type '{field.type}' is neither a JSON type ({known}) nor a schema here")
        elif field.is_union:
            _union_members(field, reference, report)


def _union_members(field: Field, reference: Reference, report: Report) -> None:
    for name in field.schema_names:
        if name not in reference.schemas:
            known = f"a scalar type ({', '.join(SCALAR_TYPES)})"
            report.error(field.line, f"union member '{name}' of '{field.type}' is neither {known} nor a schema here")


def _schema_lines(reference: Reference, report: Report) -> None:
    for operation in reference.operations:
        for body in operation.bodies():
            ref = body.schema
            scalar_items = ref is not None and ref.kind != "named" and ref.name in SCALAR_TYPES
            if ref is not None and ref.name not in reference.schemas and not scalar_items:
                report.error(ref.line, f"`Schema:` names no schema: '{ref.name}'")


def _path_parameters(reference: Reference, report: Report) -> None:
    for operation in reference.operations:
        in_path = operation.path_parameters
        listed = {parameter.name: parameter for parameter in operation.parameters if parameter.location == "path"}
        for name in in_path:
            if name not in listed:
                report.error(operation.line, f"path parameter '{name}' is not in the Parameters table")
        for name, parameter in listed.items():
            if name not in in_path:
                report.error(parameter.line, f"path parameter '{name}' is not in the path {operation.path}")


def _operation_ids(reference: Reference, report: Report) -> None:
    first: dict[str, Operation] = {}
    for operation in reference.operations:
        if operation.operation_id is None:
            continue
        if (other := first.setdefault(operation.operation_id, operation)) is not operation:
            line = operation.keys["operation id"]
            report.error(line, f"operation ID '{operation.operation_id}' is already used by {other.label}")


def _statuses(reference: Reference, report: Report) -> None:
    for operation in reference.operations:
        if not operation.statuses:
            where = operation.statuses_line or operation.line
            report.error(where, f"{operation.label} lists no status codes in a '### Responses' table")
            continue
        listed = {status.code for status in operation.statuses}
        for code, body in operation.responses.items():
            if code not in listed:
                report.error(body.line, f"status {code} is not listed in the Responses table")


def _error_schema(reference: Reference, report: Report) -> None:
    if "Error" in reference.schemas:
        return
    for operation in reference.operations:
        for status in operation.statuses:
            if status.code >= 400 and status.code not in operation.responses:
                # Once is enough: the fix (one `## Schema: Error`) is the same for every status.
                report.error(status.line, f"status {status.code} answers with the `Error` schema, which is not defined")
                return


def _authentication(reference: Reference, report: Report) -> None:
    if reference.authentication is not None:
        return
    for operation in reference.operations:
        if operation.auth == "bearer":
            report.error(operation.keys["auth"], "Auth: bearer, but the front matter has no **Authentication:**")
            return


def _pagination(reference: Reference, report: Report) -> None:
    for operation in reference.operations:
        if operation.paginated:
            _paginated(operation, report)
        elif operation.paginated is False:
            _not_paginated(operation, report)


def _paginated(operation: Operation, report: Report) -> None:
    line = operation.keys["paginated"]
    query = {parameter.name for parameter in operation.parameters if parameter.location == "query"}
    if missing := [name for name in ("limit", "offset") if name not in query]:
        report.error(line, f"a paginated operation takes `limit` and `offset`; the query lacks {', '.join(missing)}")
    if not any(body.schema and body.schema.kind == "page" for body in operation.responses.values()):
        report.error(line, "a paginated operation answers with `Schema: Page of NAME`")


def _not_paginated(operation: Operation, report: Report) -> None:
    for body in operation.responses.values():
        if body.schema and body.schema.kind == "page":
            report.error(body.schema.line, "`Page of` in an operation that is not paginated")


_CHECKS: tuple[Callable[[Reference, Report], None], ...] = (
    _types,
    _schema_lines,
    _path_parameters,
    _operation_ids,
    _statuses,
    _error_schema,
    _authentication,
    _pagination,
)
