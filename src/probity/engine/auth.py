"""Tokens for principals: fetched by their login request or read from the environment, never printed.

A wrong credential is a configuration problem of the run, reported as one clear line naming the principal
and what the backend answered — never the password or the token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import requests

from probity.core.errors import BackendError, ConfigError
from probity.core.principals import LoginSpec, Principal, Principals, expand_env

__all__ = ["Credential", "TokenBroker"]


@dataclass(frozen=True)
class Credential:
    """The header that authenticates one principal. ``repr`` hides the value: it is a secret."""

    principal: str
    header: str
    value: str

    def __repr__(self) -> str:
        return f"Credential(principal={self.principal!r}, header={self.header!r}, value='***')"

    def as_headers(self) -> dict[str, str]:
        return {self.header: self.value}


class TokenBroker:
    """Fetch and cache a credential per principal, against the API rooted at *base_url*."""

    def __init__(self, base_url: str, principals: Principals, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.principals = principals
        self.timeout = timeout
        self._cache: dict[str, Credential] = {}

    def credential(self, name: str) -> Credential:
        """The principal's credential, fetched once per broker."""
        if name not in self._cache:
            self._cache[name] = self.fresh(name)
        return self._cache[name]

    def fresh(self, name: str) -> Credential:
        """A newly fetched credential, for operations that end the session they are sent with."""
        principal = self.principals.named(name)
        token = self._token(principal)
        scheme = principal.token.scheme
        return Credential(name, principal.token.header, f"{scheme} {token}" if scheme else token)

    def _token(self, principal: Principal) -> str:
        if principal.token.env is not None:
            return _from_environment(principal, principal.token.env)
        assert principal.token.login is not None
        return self._login(principal, principal.token.login)

    def _login(self, principal: Principal, login: LoginSpec) -> str:
        method, path = login.operation.split(" ", 1)
        body = {key: expand_env(value) for key, value in login.body.items()}
        try:
            response = requests.request(method, self.base_url + path, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise BackendError(f"cannot reach {self.base_url} to log in principal {principal.name!r}: {exc}") from exc
        if not response.ok:
            raise ConfigError(
                f"principal {principal.name!r}: login {login.operation} answered {response.status_code}"
                f"{_error_code(response)}; check its credentials (principals file or environment)"
            )
        return _token_field(principal, response, login.token_field)


def _from_environment(principal: Principal, variable: str) -> str:
    token = os.environ.get(variable, "")
    if not token:
        raise ConfigError(f"principal {principal.name!r}: environment variable {variable} holds no token")
    return token


def _error_code(response: requests.Response) -> str:
    """The backend's error code, if its body has one (never the whole body: it may echo credentials)."""
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return ""
    return f" ({code})" if isinstance(code, str) and len(code) < 64 else ""


def _token_field(principal: Principal, response: requests.Response, dotted: str) -> str:
    try:
        value: Any = response.json()
    except ValueError as exc:
        raise ConfigError(f"principal {principal.name!r}: the login answer is not JSON") from exc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"principal {principal.name!r}: the login answer has no {dotted!r} field")
    return value
