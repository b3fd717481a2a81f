"""The error envelope on every failure path (no stack traces), the security headers on every response, and the
OpenAPI document: 3.1, 43 operations, and byte-identical whether the defects are on or off."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from clinic_harness import (
    NORTHWIND,
    SOUTHBAY,
    Api,
    Clinic,
    assert_envelope,
    assert_security_headers,
    operations,
    seed_email,
    totp,
)

pytestmark = pytest.mark.postgres

JSON = {"Content-Type": "application/json"}

Probe = Callable[[Clinic, Api], requests.Response]

ERRORS: dict[str, tuple[Probe, int, str]] = {
    "no-token": (lambda c, a: a.anon.get("/patients"), 401, "not_authenticated"),
    "garbage-token": (
        lambda c, a: a.anon.get("/patients", headers={"Authorization": "Bearer x.y.z"}),
        401,
        "invalid_token",
    ),
    "not-bearer": (
        lambda c, a: a.anon.get("/users/me", headers={"Authorization": "Basic YTpi"}),
        401,
        "not_authenticated",
    ),
    "insufficient-role": (lambda c, a: a.role("PATIENT").get("/billing/account"), 403, "insufficient_role"),
    "restricted-record": (
        lambda c, a: a.role("STAFF").get(f"/patients/{c.seed_patient(restricted=True)}"),
        403,
        "restricted_record",
    ),
    "unknown-path": (lambda c, a: a.role("ADMIN").get("/no/such/thing"), 404, "not_found"),
    "unknown-id": (lambda c, a: a.role("ADMIN").get(f"/patients/{uuid.uuid4()}"), 404, "patient_not_found"),
    "other-tenant": (lambda c, a: a.role("ADMIN").get(f"/organizations/{SOUTHBAY}"), 404, "organization_not_found"),
    "method-not-allowed": (lambda c, a: a.role("ADMIN").request("PUT", "/patients"), 405, "method_not_allowed"),
    "conflict": (
        lambda c, a: a.role("ADMIN").post(
            f"/organizations/{NORTHWIND}/members", json={"email": seed_email("STAFF"), "role": "STAFF"}
        ),
        409,
        "already_member",
    ),
    "wrong-type": (lambda c, a: a.role("STAFF").post("/patients", json={"given_name": 5}), 422, "validation_error"),
    "unknown-property": (
        lambda c, a: a.role("STAFF").patch(f"/patients/{c.new_patient()}", json={"favourite_colour": "red"}),
        422,
        "validation_error",
    ),
    "nul-in-string": (
        lambda c, a: a.role("STAFF").patch(f"/patients/{c.new_patient()}", json={"notes": "a\u0000b"}),
        422,
        "validation_error",
    ),
    "non-canonical-uuid": (
        lambda c, a: a.role("ADMIN").get(f"/patients/{uuid.uuid4().hex}"),
        422,
        "validation_error",
    ),
    "numeric-string-integer": (
        lambda c, a: a.role("STAFF").patch(f"/appointments/{c.new_appointment()}", json={"duration_minutes": "30"}),
        422,
        "validation_error",
    ),
    "malformed-json": (
        lambda c, a: a.role("ADMIN").post("/telemetry", data=b'{"events": [', headers=JSON),
        422,
        "validation_error",
    ),
    "undecodable-body": (
        lambda c, a: a.role("ADMIN").post("/telemetry", data=b'{"events": "\xff\xfe"}', headers=JSON),
        422,
        "malformed_body",
    ),
    "lone-surrogate": (
        lambda c, a: a.role("ADMIN").post("/telemetry", data=b'{"events": [{"name": "\\ud800"}]}', headers=JSON),
        422,
        "validation_error",
    ),
    "bad-query-value": (lambda c, a: a.role("STAFF").get("/appointments?status=BOGUS"), 422, "validation_error"),
    "mfa-already-enabled": (lambda c, a: _mfa_twice(c, a), 409, "mfa_already_enabled"),
}


def _mfa_twice(c: Clinic, a: Api) -> requests.Response:
    client = a.user(c.fresh_user("STAFF"))
    secret = client.ok("POST", "/users/me/mfa/setup")["secret"]
    client.ok("POST", "/users/me/mfa/verify", json={"code": totp(secret)})
    return client.post("/users/me/mfa/setup")


@pytest.mark.parametrize("case", ERRORS)
def test_every_error_is_the_envelope_with_security_headers(case: str, clinic: Clinic, api: Api) -> None:
    probe, status, code = ERRORS[case]
    response = probe(clinic, api)
    body = assert_envelope(response, status, code)
    assert_security_headers(response)
    if status == 422 and code == "validation_error":
        assert body["details"] and all(isinstance(d["loc"], list) and d["loc"] for d in body["details"])
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_405_lists_every_documented_method_of_the_path(api: Api) -> None:
    admin = api.role("ADMIN")
    for method, path, allow in (
        ("PUT", "/patients", "GET, POST"),
        ("OPTIONS", "/patients", "GET, POST"),
        ("POST", "/users/me", "GET, PATCH"),
        ("PUT", f"/patients/{uuid.uuid4()}", "DELETE, GET, PATCH"),
        ("GET", "/auth/login", "POST"),
    ):
        response = admin.request(method, path)
        assert_envelope(response, 405, "method_not_allowed")
        assert response.headers["Allow"] == allow, (method, path)


def test_a_server_error_is_the_envelope_without_a_trace(clinic: Clinic, bad_api: Api) -> None:
    """The only way to a 500 is a planted defect (server-error-500): its body is still the envelope."""
    body = {
        "patient_id": str(uuid.uuid4()),
        "provider_user_id": clinic.user_id(seed_email("PROVIDER")),
        "starts_at": "2027-06-01T10:00:00Z",
    }
    response = bad_api.role("STAFF").post("/appointments", json=body)
    assert_envelope(response, 500, "internal_error")
    assert_security_headers(response)


SUCCESSES: dict[str, Callable[[Clinic, Api], requests.Response]] = {
    "json-200": lambda c, a: a.role("ADMIN").get("/patients"),
    "created-201": lambda c, a: a.role("PATIENT").post("/support/tickets", json={"subject": "s", "body": "b"}),
    "accepted-202": lambda c, a: a.role("PATIENT").post(
        "/telemetry", json={"events": [{"name": "x", "occurred_at": "2026-01-01T00:00:00Z"}]}
    ),
    "no-content-204": lambda c, a: a.role("ADMIN").delete(f"/patients/{c.new_patient()}"),
    "event-stream": lambda c, a: a.role("PROVIDER").get("/events/stream"),
    "public-health": lambda c, a: a.anon.get("/health"),
    "login": lambda c, a: a.login(seed_email("STAFF")),
    "openapi": lambda c, a: a.http.get(a.origin + "/openapi.json"),
}


@pytest.mark.parametrize("case", SUCCESSES)
def test_security_headers_on_successful_responses(case: str, clinic: Clinic, api: Api) -> None:
    response = SUCCESSES[case](clinic, api)
    assert response.status_code < 300, response.text
    assert_security_headers(response)


def test_openapi_is_3_1_with_the_43_operations_and_the_bearer_scheme(openapi: dict[str, Any]) -> None:
    assert openapi["openapi"] == "3.1.0"
    ops = operations(openapi)
    assert len(ops) == 43
    assert openapi["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for name, op in ops.items():
        responses = set(op["responses"])
        assert "500" in responses, name
        if op["x-roles"]:
            assert "401" in responses and op.get("security") == [{"HTTPBearer": []}], name
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def test_openapi_is_identical_with_defects_on_and_off(api: Api, bad_api: Api) -> None:
    correct = api.http.get(api.origin + "/openapi.json")
    defective = bad_api.http.get(bad_api.origin + "/openapi.json")
    assert correct.status_code == defective.status_code == 200
    assert correct.content == defective.content
