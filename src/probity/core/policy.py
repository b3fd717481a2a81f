"""A target's compliance policy (``contracts/NAME/policy.yaml``): everything target-specific checks need.

Which tables are tenant data and by which column, which attribute of the caller that column must equal, what
is PHI, where audit rows go and what they must carry, which columns are secret and who may read them, how
lists paginate. The harness itself knows none of it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from probity.core.findings import Severity
from probity.core.yamlfile import load_model

__all__ = [
    "SecurityHeadersPolicy",
    "TenancyExemption",
    "AuditColumns",
    "AuditPolicy",
    "PaginationPolicy",
    "PhiPolicy",
    "Policy",
    "SecretAllowance",
    "SecretsPolicy",
    "TenancyPolicy",
    "TenantScope",
    "load_policy",
]

_OPERATION = r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /\S*$"
_COLUMN_REF = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantScope(_Strict):
    """Rows of ``tables`` belong to the caller whose ``attribute`` equals the row's ``column``."""

    name: str
    column: str
    attribute: str = Field(description="the principal attribute the column must equal, e.g. tenant_id")
    tables: tuple[str, ...] = Field(min_length=1)


class TenancyExemption(_Strict):
    """Statements of *operation* on *tables* that need no tenant filter, and why (a reviewer reads it)."""

    operation: str = Field(pattern=_OPERATION)
    tables: tuple[str, ...] = Field(min_length=1)
    reason: str = Field(min_length=10)


class TenancyPolicy(_Strict):
    scopes: tuple[TenantScope, ...] = Field(min_length=1)
    exempt: tuple[TenancyExemption, ...] = ()
    # A statement that reads a scoped row by id alone, where the backend checks ownership in code: not a leak
    # by itself, but a defence-in-depth gap. Raised to critical when another tenant's data is seen.
    unscoped_lookup: Severity = Severity.LOW

    @model_validator(mode="after")
    def _one_scope_per_table(self) -> TenancyPolicy:
        tables = [table for scope in self.scopes for table in scope.tables]
        doubled = sorted({table for table in tables if tables.count(table) > 1})
        if doubled:
            raise ValueError(f"tables in more than one scope: {', '.join(doubled)}")
        return self

    def scope_of(self, table: str) -> TenantScope | None:
        return next((scope for scope in self.scopes if table in scope.tables), None)

    def exempted(self, operation: str, table: str) -> TenancyExemption | None:
        return next((e for e in self.exempt if e.operation == operation and table in e.tables), None)


class PhiPolicy(_Strict):
    tables: tuple[str, ...] = ()
    operations: tuple[str, ...] = Field(default=(), description="PHI operations besides the contract's x-phi")
    fields: tuple[str, ...] = Field(default=(), description="JSON fields holding PHI (redacted)")

    @field_validator("operations")
    @classmethod
    def _operations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_operations(value)


class AuditColumns(_Strict):
    """The audit table's column for each fact an audit row must record."""

    actor: str
    tenant: str
    action: str
    resource_type: str
    resource_id: str


class AuditPolicy(_Strict):
    table: str
    columns: AuditColumns
    same_transaction: bool = True
    # The principal attributes an audit row's actor and tenant columns must equal.
    actor_attribute: str
    tenant_attribute: str


class SecretAllowance(_Strict):
    operation: str = Field(pattern=_OPERATION)
    columns: tuple[str, ...] = Field(min_length=1)
    reason: str = Field(min_length=3)


class SecretsPolicy(_Strict):
    columns: tuple[str, ...] = Field(min_length=1, description="table.column")
    allowed: tuple[SecretAllowance, ...] = ()
    canaries: Path | None = Field(default=None, description="file of seeded secret values, one per line")

    @field_validator("columns")
    @classmethod
    def _column_refs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [ref for ref in value if not re.match(_COLUMN_REF, ref)]
        if bad:
            raise ValueError(f"expected table.column, got {', '.join(bad)}")
        return value

    def allowed_for(self, operation: str) -> frozenset[str]:
        matching = (allow for allow in self.allowed if allow.operation == operation)
        return frozenset(column for allow in matching for column in allow.columns)


class PaginationPolicy(_Strict):
    limit_param: str = "limit"
    offset_param: str = "offset"
    default_limit: int = Field(default=20, ge=1)
    max_limit: int = Field(default=100, ge=1)
    # What a probe asks for to see whether the cap holds.
    probe_limit: int = Field(default=100_000, ge=2)

    @model_validator(mode="after")
    def _default_within_max(self) -> PaginationPolicy:
        if self.default_limit > self.max_limit:
            raise ValueError("default_limit is above max_limit")
        return self


class SecurityHeadersPolicy(_Strict):
    """Response headers every answer must carry: header name -> a token its value must contain.

    Strict-Transport-Security and the like go under ``https_only``: browsers ignore them over plain HTTP, and a
    TLS-terminating proxy in front of a staging backend often adds them, so they are judged on https roots only.
    """

    required: dict[str, str] = Field(
        default_factory=lambda: {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    )
    https_only: dict[str, str] = Field(default_factory=lambda: {"Strict-Transport-Security": "max-age"})


class Policy(_Strict):
    """A target's whole compliance policy."""

    version: int = Field(default=1, ge=1, le=1)
    tenancy: TenancyPolicy
    phi: PhiPolicy = PhiPolicy()
    audit: AuditPolicy | None = None
    secrets: SecretsPolicy | None = None
    pagination: PaginationPolicy = PaginationPolicy()
    n_plus_one_threshold: int = Field(default=5, ge=2)
    destructive_operations: tuple[str, ...] = ()
    # Operations that end the session whose credential they carry (logout): never fuzzed with a shared
    # credential, checked on their own with a fresh one.
    session_ending_operations: tuple[str, ...] = ()
    severities: dict[str, Severity] = Field(default_factory=dict, description="rule id -> severity override")
    redact_headers: tuple[str, ...] = ("authorization", "cookie", "set-cookie", "x-api-key")
    security_headers: SecurityHeadersPolicy = SecurityHeadersPolicy()
    root: Path = Path(".")

    @field_validator("destructive_operations", "session_ending_operations")
    @classmethod
    def _destructive(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_operations(value)

    def severity(self, rule: str, default: Severity) -> Severity:
        """The policy's severity for *rule*, or *default*."""
        return self.severities.get(rule, default)

    def canary_values(self) -> tuple[str, ...]:
        """The seeded secret values to look for in responses (none when the policy names no file)."""
        if self.secrets is None or self.secrets.canaries is None:
            return ()
        path = self.secrets.canaries
        return _read_canaries(path if path.is_absolute() else self.root / path)


@cache
def _read_canaries(path: Path) -> tuple[str, ...]:
    # Read once per run: the secrets probe asks for them on every response.
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _check_operations(value: tuple[str, ...]) -> tuple[str, ...]:
    bad = [op for op in value if not re.match(_OPERATION, op)]
    if bad:
        raise ValueError(f"expected 'METHOD /path', got {', '.join(bad)}")
    return value


def load_policy(path: Path) -> Policy:
    """Load and validate a policy file; errors name the file and line."""
    policy = load_model(path, Policy)
    return policy.model_copy(update={"root": path.resolve().parent})
