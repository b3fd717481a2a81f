"""The two sides of ``probity contract diff``: the contract file (errors with file and line) and the backend.

A contract that cannot be read, is not YAML, or is not valid OpenAPI raises
:class:`~probity.core.errors.ConfigError` at the line at fault. A backend that does not answer, or whose
OpenAPI document is not one, raises :class:`~probity.core.errors.BackendError` in one line that says what
to try instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError, ValidatorDetectError

from probity.core.errors import BackendError, ConfigError
from probity.core.yamlfile import line_of

__all__ = [
    "DEFAULT_TIMEOUT",
    "connection_problem",
    "default_openapi_url",
    "fetch_openapi",
    "origin_of",
    "parse_headers",
    "read_contract",
]

DEFAULT_TIMEOUT = 10.0
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def read_contract(path: Path) -> dict[str, Any]:
    """The OpenAPI document in *path*, validated; :class:`ConfigError` with the file and line when it is not.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     broken = Path(folder) / "api.yaml"
    ...     _ = broken.write_text("openapi: 3.1.0\\ninfo: {title: t, version: '1'}\\npaths:\\n  /a: [\\n", "utf-8")
    ...     read_contract(broken)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    probity.core.errors.ConfigError: ...api.yaml:5: not YAML: ...
    """
    text = _read(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"not YAML: {exc.problem}", path, line) from exc
    if not isinstance(document, dict) or "openapi" not in document:
        raise ConfigError("not an OpenAPI document (no `openapi` version field)", path, 1)
    _validate(document, node, path)
    return document


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", path) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path) from exc


def _validate(document: dict[str, Any], node: yaml.Node | None, path: Path) -> None:
    try:
        validate(document)
    except ValidatorDetectError as exc:
        raise ConfigError(f"not a known OpenAPI version: {document.get('openapi')!r}", path, 1) from exc
    except OpenAPIValidationError as exc:
        parts = list(exc.absolute_path)
        where = ".".join(str(part) for part in parts) or "(document)"
        problem = exc.message.splitlines()[0] if exc.message else "invalid"
        raise ConfigError(f"not valid OpenAPI at {where}: {problem}", path, line_of(node, parts)) from exc


def origin_of(url: str) -> str:
    """``scheme://host:port`` of *url*; :class:`ConfigError` when it is not an http(s) URL.

    >>> origin_of("http://127.0.0.1:8000/api/v1/")
    'http://127.0.0.1:8000'
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"not an http(s) URL: {url!r} (expected e.g. http://localhost:8000)")
    return f"{parts.scheme}://{parts.netloc}"


def default_openapi_url(base_url: str) -> str:
    """Where a backend's OpenAPI document is looked for when no ``--openapi-url`` is given.

    >>> default_openapi_url("http://localhost:8000/api/v1")
    'http://localhost:8000/openapi.json'
    """
    return f"{origin_of(base_url)}/openapi.json"


def parse_headers(values: Sequence[str]) -> dict[str, str]:
    """``--header 'Name: value'`` options as a dict; :class:`ConfigError` for one without a colon.

    >>> parse_headers(["Authorization: Bearer abc", "X-Tenant:  t1"])
    {'Authorization': 'Bearer abc', 'X-Tenant': 't1'}
    """
    headers: dict[str, str] = {}
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip():
            raise ConfigError(f"--header must look like 'Name: value', not {value!r}")
        headers[name.strip()] = content.strip()
    return headers


def connection_problem(exc: requests.RequestException, timeout: float = DEFAULT_TIMEOUT) -> str:
    """What went wrong with a request, in a few words (no object addresses, no retry counts).

    >>> connection_problem(requests.ConnectionError("... [Errno 111] Connection refused'))"))
    'Connection refused'
    """
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    found = _ERRNO.search(str(exc))
    if found:
        return found.group(1).strip()
    if isinstance(exc, requests.ConnectionError):
        return "the connection failed"
    return type(exc).__name__


def fetch_openapi(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """The backend's live OpenAPI document at *url* (JSON, or YAML); :class:`BackendError` in one line if not."""
    origin_of(url)
    try:
        get = session.get if session is not None else requests.get
        response = get(url, headers=dict(headers or {}), timeout=timeout)
    except requests.RequestException as exc:
        problem = connection_problem(exc, timeout)
        raise BackendError(f"cannot reach the backend at {url}: {problem}") from exc
    if response.status_code != 200:
        raise BackendError(
            f"{url} answered {response.status_code}: no OpenAPI document there; "
            "give its address with --openapi-url, or use --probe for a backend that serves none"
        )
    return _document(response.text, url)


def _document(text: str, url: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            document = None
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise BackendError(
            f"{url} did not answer an OpenAPI document (no `paths`); "
            "give its address with --openapi-url, or use --probe"
        )
    return document
