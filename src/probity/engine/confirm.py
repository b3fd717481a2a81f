"""Second opinions on generator-dependent failures, so a tool bug never becomes a finding.

Schemathesis's ``positive_data_acceptance`` says "the API rejected a schema-valid request". Its coverage
phase has repeatedly classified schema-invalid cases as positive (see its issues on ``patternProperties``,
``propertyNames``, formats and bounds), which turns a correct rejection into a false finding. Probity
confirms such a failure by validating the body it sent against the contract with an independent JSON
Schema validator, and keeps the failure only when the body really conforms. Likewise a 404 that
``ensure_resource_availability`` blames on a just-created resource is kept only when a GET of that resource,
as the same caller, does not find it either (:func:`availability_probe`).
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

__all__ = ["availability_probe", "body_conforms"]


def body_conforms(contract: dict[str, Any], operation: str, body: Any, media_type: str = "application/json") -> bool:
    """Whether *body* satisfies the request schema of *operation* ("METHOD /path") in an OpenAPI 3.1 contract.

    Undecidable cases (another OpenAPI version, no request schema) answer True: the failure stands.

    >>> contract = {"openapi": "3.1.0", "paths": {"/t": {"post": {"requestBody": {"content": {
    ...     "application/json": {"schema": {"type": "object", "additionalProperties": False,
    ...                                      "patternProperties": {"^[a-z]+$": {"type": "integer"}}}}}}}}}}
    >>> body_conforms(contract, "POST /t", {"ok": 1}), body_conforms(contract, "POST /t", {"Ünï": 1})
    (True, False)
    """
    if not str(contract.get("openapi", "")).startswith("3.1"):
        return True  # 3.0's nullable is not JSON Schema: a validator would misjudge it
    method, path = operation.split(" ", 1)
    operation_object = contract.get("paths", {}).get(path, {}).get(method.lower(), {})
    if media_type not in operation_object.get("requestBody", {}).get("content", {}):
        return True
    pointer = "/".join(("#", "paths", _escape(path), method.lower(), "requestBody", "content", _escape(media_type)))
    # The contract is the root document, so every $ref inside the schema resolves against it.
    validator = Draft202012Validator({**contract, "$ref": f"{pointer}/schema"}, format_checker=FormatChecker())
    return bool(validator.is_valid(body))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# Headers of the failed request that describe its body or its own exchange, not who sent it.
_NOT_RESENT = frozenset({"content-type", "content-length", "traceparent", "x-schemathesis-testcaseid"})


def availability_probe(
    contract: dict[str, Any], operation: str, uri: str, headers: dict[str, list[str]]
) -> tuple[str, str, dict[str, str]] | None:
    """The GET that shows whether the resource a failed *operation* was about exists: label, URI and headers.

    Schemathesis's ``ensure_resource_availability`` reads any 404 right after a POST as "the created resource
    is missing", but a PATCH can answer 404 for another resource its body names (an unknown owner, say), as a
    correct API should. A GET of the same URI, as the same caller, tells the two apart. None when there is no
    such GET (or the failed request was one): the failure stands.

    >>> contract = {"paths": {"/a/{id}": {"get": {}, "patch": {}}}}
    >>> availability_probe(contract, "PATCH /a/{id}", "http://h/a/7", {"Authorization": ["Bearer t"],
    ...                                                              "Content-Type": ["application/json"]})
    ('GET /a/{id}', 'http://h/a/7', {'Authorization': 'Bearer t'})
    >>> availability_probe(contract, "GET /a/{id}", "http://h/a/7", {}) is None
    True
    """
    method, path = operation.split(" ", 1)
    if method.upper() == "GET" or "get" not in contract.get("paths", {}).get(path, {}):
        return None
    kept = {name: values[-1] for name, values in headers.items() if values and name.lower() not in _NOT_RESENT}
    return f"GET {path}", uri, kept
