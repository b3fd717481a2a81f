"""The role matrix: every refused (operation, role) pair answers 403 insufficient_role and changes nothing;
every operation that needs a token answers 401 without one."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from clinic_harness import NORTHWIND, ROLES, Api, Clinic, Db, assert_envelope, operations, seed_email

pytestmark = pytest.mark.postgres

ALL = ROLES
CARE_TEAM = ("ADMIN", "PROVIDER", "STAFF")
MANAGE_PROXIES = ("ADMIN", "STAFF", "PATIENT")

# The README's table, operation by operation; empty = public.
ALLOWED: dict[str, tuple[str, ...]] = {
    "GET /health": (),
    "POST /auth/login": (),
    "POST /auth/refresh": (),
    "POST /auth/logout": ALL,
    "GET /users/me": ALL,
    "PATCH /users/me": ALL,
    "POST /users/me/mfa/setup": ALL,
    "POST /users/me/mfa/verify": ALL,
    "GET /organizations/{organization_id}": ALL,
    "GET /organizations/{organization_id}/members": CARE_TEAM,
    "POST /organizations/{organization_id}/members": ("ADMIN",),
    "PATCH /organizations/{organization_id}/members/{membership_id}": ("ADMIN",),
    "DELETE /organizations/{organization_id}/members/{membership_id}": ("ADMIN",),
    "GET /patients": ALL,
    "POST /patients": CARE_TEAM,
    "GET /patients/{patient_id}": ALL,
    "PATCH /patients/{patient_id}": CARE_TEAM,
    "DELETE /patients/{patient_id}": ("ADMIN",),
    "POST /patients/{patient_id}/break-glass": ("PROVIDER",),
    "GET /patients/{patient_id}/proxies": ALL,
    "POST /patients/{patient_id}/proxies": MANAGE_PROXIES,
    "DELETE /patients/{patient_id}/proxies/{proxy_id}": MANAGE_PROXIES,
    "GET /appointments": ALL,
    "POST /appointments": CARE_TEAM,
    "GET /appointments/{appointment_id}": ALL,
    "PATCH /appointments/{appointment_id}": CARE_TEAM,
    "POST /appointments/{appointment_id}/cancel": ALL,
    "GET /threads": ALL,
    "POST /threads": ALL,
    "GET /threads/{thread_id}": ALL,
    "GET /threads/{thread_id}/messages": ALL,
    "POST /threads/{thread_id}/messages": ALL,
    "GET /notifications": ALL,
    "POST /notifications/{notification_id}/read": ALL,
    "GET /support/tickets": ALL,
    "POST /support/tickets": ALL,
    "GET /support/tickets/{ticket_id}": ALL,
    "GET /support/tickets/{ticket_id}/messages": ALL,
    "POST /support/tickets/{ticket_id}/messages": ALL,
    "GET /billing/account": ("ADMIN",),
    "GET /audit-logs": ("ADMIN",),
    "POST /telemetry": ALL,
    "GET /events/stream": ALL,
}


@dataclass(frozen=True)
class Call:
    """A request that a permitted caller could make successfully; *table*/*row_id* is the row a write touches."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    table: str | None = None
    row_id: str | None = None


def _member(clinic: Clinic, method: str) -> Call:
    membership = clinic.membership_id(clinic.fresh_user("STAFF"))
    body = {"role": "PROVIDER"} if method == "PATCH" else None
    return Call(method, f"/organizations/{NORTHWIND}/members/{membership}", body, "memberships", membership)


def _patient_write(clinic: Clinic, method: str, suffix: str = "", body: dict[str, Any] | None = None) -> Call:
    patient = clinic.new_patient(is_restricted=suffix == "/break-glass")
    return Call(method, f"/patients/{patient}{suffix}", body, "patients", patient)


def _appointment_write(clinic: Clinic, method: str, suffix: str, body: dict[str, Any]) -> Call:
    appointment = clinic.new_appointment()
    return Call(method, f"/appointments/{appointment}{suffix}", body, "appointments", appointment)


def _proxy_delete(clinic: Clinic) -> Call:
    patient = clinic.new_patient()
    proxy = clinic.new_proxy(patient_id=patient)
    return Call("DELETE", f"/patients/{patient}/proxies/{proxy}", None, "proxies", proxy)


def _new_appointment_body(clinic: Clinic) -> dict[str, Any]:
    return {
        "patient_id": clinic.new_patient(),
        "provider_user_id": clinic.user_id(seed_email("PROVIDER")),
        "starts_at": "2027-02-01T10:00:00Z",
    }


PATIENT_BODY = {"given_name": "Role", "family_name": "Matrix", "date_of_birth": "1970-01-01"}
EVENT = {"name": "role.check", "occurred_at": "2026-01-01T00:00:00Z"}

CALLS: dict[str, Callable[[Clinic], Call]] = {
    "POST /auth/logout": lambda c: Call("POST", "/auth/logout"),
    "GET /users/me": lambda c: Call("GET", "/users/me"),
    "PATCH /users/me": lambda c: Call("PATCH", "/users/me", {"phone": "+1 555 123 4567"}),
    "POST /users/me/mfa/setup": lambda c: Call("POST", "/users/me/mfa/setup"),
    "POST /users/me/mfa/verify": lambda c: Call("POST", "/users/me/mfa/verify", {"code": "123456"}),
    "GET /organizations/{organization_id}": lambda c: Call("GET", f"/organizations/{NORTHWIND}"),
    "GET /organizations/{organization_id}/members": lambda c: Call("GET", f"/organizations/{NORTHWIND}/members"),
    "POST /organizations/{organization_id}/members": lambda c: Call(
        "POST", f"/organizations/{NORTHWIND}/members", {"email": f"r{uuid.uuid4().hex[:8]}@x.test", "role": "STAFF"}
    ),
    "PATCH /organizations/{organization_id}/members/{membership_id}": lambda c: _member(c, "PATCH"),
    "DELETE /organizations/{organization_id}/members/{membership_id}": lambda c: _member(c, "DELETE"),
    "GET /patients": lambda c: Call("GET", "/patients"),
    "POST /patients": lambda c: Call("POST", "/patients", PATIENT_BODY),
    "GET /patients/{patient_id}": lambda c: Call("GET", f"/patients/{c.new_patient()}"),
    "PATCH /patients/{patient_id}": lambda c: _patient_write(c, "PATCH", body={"notes": "changed"}),
    "DELETE /patients/{patient_id}": lambda c: _patient_write(c, "DELETE"),
    "POST /patients/{patient_id}/break-glass": lambda c: _patient_write(
        c, "POST", "/break-glass", {"reason": "Emergency department"}
    ),
    "GET /patients/{patient_id}/proxies": lambda c: Call("GET", f"/patients/{c.new_patient()}/proxies"),
    "POST /patients/{patient_id}/proxies": lambda c: Call(
        "POST", f"/patients/{c.new_patient()}/proxies", {"full_name": "Pat", "relationship": "OTHER"}
    ),
    "DELETE /patients/{patient_id}/proxies/{proxy_id}": _proxy_delete,
    "GET /appointments": lambda c: Call("GET", "/appointments"),
    "POST /appointments": lambda c: Call("POST", "/appointments", _new_appointment_body(c)),
    "GET /appointments/{appointment_id}": lambda c: Call("GET", f"/appointments/{c.new_appointment()}"),
    "PATCH /appointments/{appointment_id}": lambda c: _appointment_write(c, "PATCH", "", {"notes": "changed"}),
    "POST /appointments/{appointment_id}/cancel": lambda c: _appointment_write(c, "POST", "/cancel", {"reason": "x"}),
    "GET /threads": lambda c: Call("GET", "/threads"),
    "POST /threads": lambda c: Call("POST", "/threads", {"patient_id": c.new_patient(), "subject": "s", "body": "b"}),
    "GET /threads/{thread_id}": lambda c: Call("GET", f"/threads/{c.new_thread()}"),
    "GET /threads/{thread_id}/messages": lambda c: Call("GET", f"/threads/{c.new_thread()}/messages"),
    "POST /threads/{thread_id}/messages": lambda c: Call("POST", f"/threads/{c.new_thread()}/messages", {"body": "b"}),
    "GET /notifications": lambda c: Call("GET", "/notifications"),
    "POST /notifications/{notification_id}/read": lambda c: Call(
        "POST", f"/notifications/{c.new_notification(seed_email('STAFF'))}/read"
    ),
    "GET /support/tickets": lambda c: Call("GET", "/support/tickets"),
    "POST /support/tickets": lambda c: Call("POST", "/support/tickets", {"subject": "s", "body": "b"}),
    "GET /support/tickets/{ticket_id}": lambda c: Call("GET", f"/support/tickets/{c.new_ticket()}"),
    "GET /support/tickets/{ticket_id}/messages": lambda c: Call("GET", f"/support/tickets/{c.new_ticket()}/messages"),
    "POST /support/tickets/{ticket_id}/messages": lambda c: Call(
        "POST", f"/support/tickets/{c.new_ticket()}/messages", {"body": "b"}
    ),
    "GET /billing/account": lambda c: Call("GET", "/billing/account"),
    "GET /audit-logs": lambda c: Call("GET", "/audit-logs"),
    "POST /telemetry": lambda c: Call("POST", "/telemetry", {"events": [EVENT]}),
    "GET /events/stream": lambda c: Call("GET", "/events/stream"),
}

REFUSED = [(op, role) for op, allowed in ALLOWED.items() if allowed for role in ROLES if role not in allowed]
AUTHENTICATED = [op for op, allowed in ALLOWED.items() if allowed]


def test_the_contract_publishes_the_documented_roles(openapi: dict[str, Any]) -> None:
    published = {op: tuple(spec["x-roles"]) for op, spec in operations(openapi).items()}
    assert published == ALLOWED
    assert set(CALLS) == set(AUTHENTICATED)
    assert len(REFUSED) == 28


@pytest.mark.parametrize(("operation", "role"), REFUSED, ids=[f"{op}-{role}".replace(" ", "-") for op, role in REFUSED])
def test_a_refused_role_gets_403_and_changes_nothing(
    operation: str, role: str, clinic: Clinic, api: Api, db: Db
) -> None:
    call = CALLS[operation](clinic)
    before = db.snapshot(call.table, call.row_id) if call.table and call.row_id else None
    caller = api.role(role)
    mark = clinic.mark()
    response = caller.request(call.method, call.path, json=call.json)
    assert_envelope(response, 403, "insufficient_role")
    assert mark.audit_rows() == []
    if call.table and call.row_id:
        assert db.snapshot(call.table, call.row_id) == before
    # The same request from a permitted role succeeds: the refusal was the role's, not the request's.
    permitted = api.role(ALLOWED[operation][0]).request(call.method, call.path, json=call.json)
    assert permitted.status_code < 300, permitted.text


@pytest.mark.parametrize("operation", AUTHENTICATED, ids=[op.replace(" ", "-") for op in AUTHENTICATED])
def test_without_a_token_every_protected_operation_is_401(operation: str, clinic: Clinic, api: Api) -> None:
    call = CALLS[operation](clinic)
    mark = clinic.mark()
    response = api.anon.request(call.method, call.path, json=call.json)
    assert_envelope(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert mark.audit_rows() == []
