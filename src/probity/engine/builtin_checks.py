"""Schemathesis's built-in checks as Probity sees them: a check id, a category and a default severity."""

from __future__ import annotations

from dataclasses import dataclass

from probity.core.findings import Category, Severity

__all__ = ["BUILTIN_CHECKS", "BuiltinCheck", "describe"]


@dataclass(frozen=True)
class BuiltinCheck:
    name: str
    category: Category
    severity: Severity

    @property
    def check_id(self) -> str:
        return f"schemathesis.{self.name}"


_C, _S = Category, Severity

BUILTIN_CHECKS: dict[str, BuiltinCheck] = {
    check.name: check
    for check in (
        BuiltinCheck("not_a_server_error", _C.ROBUSTNESS, _S.HIGH),
        BuiltinCheck("status_code_conformance", _C.CONTRACT, _S.MEDIUM),
        BuiltinCheck("content_type_conformance", _C.CONTRACT, _S.MEDIUM),
        BuiltinCheck("response_headers_conformance", _C.CONTRACT, _S.LOW),
        BuiltinCheck("response_schema_conformance", _C.CONTRACT, _S.HIGH),
        BuiltinCheck("negative_data_rejection", _C.CONTRACT, _S.MEDIUM),
        BuiltinCheck("positive_data_acceptance", _C.CONTRACT, _S.MEDIUM),
        BuiltinCheck("missing_required_header", _C.CONTRACT, _S.LOW),
        BuiltinCheck("unsupported_method", _C.CONTRACT, _S.LOW),
        BuiltinCheck("allow_header_conformance", _C.CONTRACT, _S.LOW),
        BuiltinCheck("use_after_free", _C.CONTRACT, _S.HIGH),
        BuiltinCheck("ensure_resource_availability", _C.CONTRACT, _S.MEDIUM),
        BuiltinCheck("ignored_auth", _C.AUTHN, _S.CRITICAL),
        BuiltinCheck("object_level_authorization", _C.TENANCY, _S.CRITICAL),
    )
}


def describe(name: str) -> BuiltinCheck:
    """The built-in check *name*, or a contract check of medium severity for one this table does not know."""
    return BUILTIN_CHECKS.get(name, BuiltinCheck(name, Category.CONTRACT, Severity.MEDIUM))
