"""Principals (``contracts/NAME/principals.yaml``): the identities Probity acts as, and how each gets a token.

Each principal belongs to a tenant, has a role, and carries the attribute values that tenant scopes compare
against (``tenant_id``, ``user_id``, …). A token comes from a login request or from an environment
variable. Values may reference the environment as ``${NAME}`` or ``${NAME:-default}``, expanded only when a
token is fetched, so secrets stay out of the repository and a missing variable is named when it matters.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from probity.core.errors import ConfigError
from probity.core.yamlfile import load_model

__all__ = ["LoginSpec", "Principal", "Principals", "TokenSpec", "expand_env", "load_principals"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginSpec(_Strict):
    """A login request whose JSON answer holds the token."""

    operation: str = Field(pattern=r"^(POST|PUT|GET) /\S*$", description="e.g. 'POST /auth/login'")
    body: dict[str, str] = Field(default_factory=dict)
    token_field: str = Field(default="access_token", description="dotted path to the token in the answer")


class TokenSpec(_Strict):
    login: LoginSpec | None = None
    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    header: str = "Authorization"
    scheme: str = "Bearer"

    @model_validator(mode="after")
    def _exactly_one_source(self) -> TokenSpec:
        if (self.login is None) == (self.env is None):
            raise ValueError("give exactly one of 'login' or 'env'")
        return self


class Principal(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    tenant: str = Field(min_length=1)
    role: str = Field(min_length=1)
    attributes: dict[str, str] = Field(default_factory=dict)
    token: TokenSpec
    # Privileged identities are never used for fuzzing state-changing operations on shared targets.
    privileged: bool = False


class Principals(_Strict):
    principals: tuple[Principal, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Principals:
        names = [p.name for p in self.principals]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"principal names used twice: {', '.join(doubled)}")
        return self

    @property
    def tenants(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.tenant for p in self.principals))

    def of_tenant(self, tenant: str) -> tuple[Principal, ...]:
        return tuple(p for p in self.principals if p.tenant == tenant)

    def named(self, name: str) -> Principal:
        for principal in self.principals:
            if principal.name == name:
                return principal
        raise ConfigError(f"no principal named {name!r} (known: {', '.join(p.name for p in self.principals)})")


def expand_env(text: str, environ: dict[str, str] | None = None) -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in *text* from the environment.

    >>> expand_env("${NOPE:-fallback}/${HOME_}", {"HOME_": "h"})
    'fallback/h'
    """
    env = os.environ if environ is None else environ

    def _value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"environment variable {name} is not set (needed for a principal's credentials)")

    return _ENV_REF.sub(_value, text)


def load_principals(path: Path) -> Principals:
    """Load and validate a principals file; errors name the file and line."""
    return load_model(path, Principals)
