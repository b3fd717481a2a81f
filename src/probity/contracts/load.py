"""Load an OpenAPI contract file for a run: YAML or JSON, validated, errors pointing at the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from probity.core.errors import ConfigError
from probity.core.yamlfile import line_of, load_yaml

__all__ = ["load_contract", "operations"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load_contract(path: Path) -> dict[str, Any]:
    """The OpenAPI document at *path*; a malformed one raises :class:`ConfigError` naming the line."""
    data, node = load_yaml(path)
    if not isinstance(data, dict) or "openapi" not in data:
        raise ConfigError("not an OpenAPI document (no 'openapi' version field)", path, 1)
    try:
        validate(data)
    except OpenAPIValidationError as exc:
        location = [str(part) for part in exc.path]
        where = "/".join(location) or "(document)"
        raise ConfigError(f"invalid OpenAPI at {where}: {exc.message}", path, line_of(node, location)) from exc
    return data


def operations(contract: dict[str, Any]) -> list[str]:
    """Every operation of *contract* as "METHOD /path", in document order.

    >>> operations({"paths": {"/a": {"get": {}, "parameters": [], "post": {}}}})
    ['GET /a', 'POST /a']
    """
    return [
        f"{method.upper()} {path}"
        for path, item in contract.get("paths", {}).items()
        for method in item
        if method in _METHODS
    ]
