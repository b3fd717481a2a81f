"""The audit trail: each audited operation writes exactly its documented row(s) — action, actor, organization,
resource — inside the operation's own transaction (same vxid, committed together); refused or failed requests
and unaudited operations write nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from clinic_harness import (
    NORTHWIND,
    SOUTHBAY,
    Api,
    Client,
    Clinic,
    Window,
    is_auth_check,
    jwt_claims,
    seed_email,
    totp,
    touching,
)

pytestmark = pytest.mark.postgres

Expected = tuple[str, str, str | None, dict[str, Any]]  # action, resource_type, resource_id, details


@dataclass
class Audited:
    """A request to send, who it acts as, and the rows it must write (computed from its response)."""

    client: Client
    method: str
    path: str
    table: str  # the resource table: its statements must run in the audit row's transaction
    rows: Callable[[requests.Response], list[Expected]]
    json: dict[str, Any] | None = None
    actor: str | None = None  # defaults to the client's user
    org: str | None = None


def _ids(response: requests.Response) -> list[str]:
    return [item["id"] for item in response.json()["items"]]


def _listed(action: str, kind: str, **context: Any) -> Callable[[requests.Response], list[Expected]]:
    return lambda r: [(action, kind, None, {"ids": _ids(r), "count": len(_ids(r)), **context})]


def _one(
    action: str, kind: str, rid: str | None = None, **details: Any
) -> Callable[[requests.Response], list[Expected]]:
    return lambda r: [(action, kind, rid or r.json()["id"], details)]


def patient_list(c: Clinic, api: Api) -> Audited:
    return Audited(
        api.role("STAFF"), "GET", "/patients?q=a&limit=5", "patients", _listed("patient.list", "patient", q="a")
    )


def patient_read(c: Clinic, api: Api) -> Audited:
    pid = c.seed_patient()
    return Audited(api.role("PROVIDER"), "GET", f"/patients/{pid}", "patients", _one("patient.read", "patient", pid))


def patient_create(c: Clinic, api: Api) -> Audited:
    body = {"given_name": "Audit", "family_name": "Trail", "date_of_birth": "1999-09-09"}
    return Audited(api.role("ADMIN"), "POST", "/patients", "patients", _one("patient.create", "patient"), body)


def patient_update(c: Clinic, api: Api) -> Audited:
    pid = c.new_patient()
    body = {"notes": "n", "city": "Springfield"}
    rows = _one("patient.update", "patient", pid, fields=["city", "notes"])
    return Audited(api.role("STAFF"), "PATCH", f"/patients/{pid}", "patients", rows, body)


def patient_delete(c: Clinic, api: Api) -> Audited:
    pid = c.new_patient()
    return Audited(api.role("ADMIN"), "DELETE", f"/patients/{pid}", "patients", _one("patient.delete", "patient", pid))


def break_glass(c: Clinic, api: Api) -> Audited:
    pid = c.new_patient(is_restricted=True)
    reason = "Unconscious patient in ER"
    rows = _one("patient.break_glass", "patient", pid, reason=reason, restricted=True)
    return Audited(api.role("PROVIDER"), "POST", f"/patients/{pid}/break-glass", "patients", rows, {"reason": reason})


def proxy_list(c: Clinic, api: Api) -> Audited:
    pid = c.own_patient(seed_email("PATIENT"))
    rows = _listed("proxy.list", "proxy", patient_id=pid)
    return Audited(api.role("PATIENT"), "GET", f"/patients/{pid}/proxies", "proxies", rows)


def proxy_create(c: Clinic, api: Api) -> Audited:
    pid = c.new_patient()
    body = {"full_name": "Audit Proxy", "relationship": "PARENT"}
    return Audited(
        api.role("STAFF"),
        "POST",
        f"/patients/{pid}/proxies",
        "proxies",
        _one("proxy.create", "proxy", patient_id=pid),
        body,
    )


def proxy_delete(c: Clinic, api: Api) -> Audited:
    pid = c.new_patient()
    xid = c.new_proxy(patient_id=pid)
    return Audited(
        api.role("ADMIN"),
        "DELETE",
        f"/patients/{pid}/proxies/{xid}",
        "proxies",
        _one("proxy.delete", "proxy", xid, patient_id=pid),
    )


def appointment_list(c: Clinic, api: Api) -> Audited:
    pid = c.own_patient(seed_email("PATIENT"))
    rows = _listed("appointment.list", "appointment", patient_id=pid, status="SCHEDULED")
    path = f"/appointments?patient_id={pid}&status=SCHEDULED"
    return Audited(api.role("PROVIDER"), "GET", path, "appointments", rows)


def appointment_read(c: Clinic, api: Api) -> Audited:
    aid = c.new_appointment()
    return Audited(
        api.role("STAFF"), "GET", f"/appointments/{aid}", "appointments", _one("appointment.read", "appointment", aid)
    )


def appointment_create(c: Clinic, api: Api) -> Audited:
    pid = c.new_patient()
    body = {
        "patient_id": pid,
        "provider_user_id": c.user_id(seed_email("PROVIDER")),
        "starts_at": "2027-05-05T08:00:00Z",
    }
    return Audited(
        api.role("STAFF"),
        "POST",
        "/appointments",
        "appointments",
        _one("appointment.create", "appointment", patient_id=pid),
        body,
    )


def appointment_update(c: Clinic, api: Api) -> Audited:
    aid = c.new_appointment()
    rows = _one("appointment.update", "appointment", aid, fields=["duration_minutes", "reason"])
    body = {"reason": "Follow-up", "duration_minutes": 20}
    return Audited(api.role("PROVIDER"), "PATCH", f"/appointments/{aid}", "appointments", rows, body)


def appointment_cancel(c: Clinic, api: Api) -> Audited:
    aid = c.new_appointment(patient_id=c.own_patient(seed_email("PATIENT")))
    return Audited(
        api.role("PATIENT"),
        "POST",
        f"/appointments/{aid}/cancel",
        "appointments",
        _one("appointment.cancel", "appointment", aid),
        {"reason": "Sick"},
    )


def thread_list(c: Clinic, api: Api) -> Audited:
    return Audited(api.role("ADMIN"), "GET", "/threads?limit=4", "message_threads", _listed("thread.list", "thread"))


def thread_read(c: Clinic, api: Api) -> Audited:
    tid = c.new_thread()
    return Audited(
        api.role("PROVIDER"), "GET", f"/threads/{tid}", "message_threads", _one("thread.read", "thread", tid)
    )


def thread_create(c: Clinic, api: Api) -> Audited:
    pid = c.new_patient()
    body = {"patient_id": pid, "subject": "Labs", "body": "Results are in"}
    return Audited(
        api.role("PROVIDER"),
        "POST",
        "/threads",
        "message_threads",
        _one("thread.create", "thread", patient_id=pid),
        body,
    )


def message_list(c: Clinic, api: Api) -> Audited:
    tid = c.new_thread(messages=3)
    rows = _listed("message.list", "message", thread_id=tid)
    return Audited(api.role("STAFF"), "GET", f"/threads/{tid}/messages", "messages", rows)


def message_create(c: Clinic, api: Api) -> Audited:
    tid = c.new_thread()
    return Audited(
        api.role("ADMIN"),
        "POST",
        f"/threads/{tid}/messages",
        "messages",
        _one("message.create", "message", thread_id=tid),
        {"body": "Noted"},
    )


def _session(action: str) -> Callable[[requests.Response], list[Expected]]:
    return lambda r: [(action, "session", jwt_claims(r.json()["access_token"])["sid"], {})]


def session_create(c: Clinic, api: Api) -> Audited:
    email = c.fresh_user("STAFF", SOUTHBAY)
    body = {"email": email, "password": "Clinic-Demo-2026!"}
    return Audited(
        api.anon, "POST", "/auth/login", "sessions", _session("session.create"), body, c.user_id(email), SOUTHBAY
    )


def session_refresh(c: Clinic, api: Api) -> Audited:
    email = c.fresh_user("PROVIDER")
    body = {"refresh_token": api.login(email).json()["refresh_token"]}
    return Audited(
        api.anon, "POST", "/auth/refresh", "sessions", _session("session.refresh"), body, c.user_id(email), NORTHWIND
    )


def session_revoke(c: Clinic, api: Api) -> Audited:
    client = api.user(c.fresh_user("PATIENT"))
    sid = jwt_claims(client.token or "")["sid"]
    return Audited(client, "POST", "/auth/logout", "sessions", _one("session.revoke", "session", sid))


def user_update(c: Clinic, api: Api) -> Audited:
    client = api.user(c.fresh_user("ADMIN"))
    rows = _one("user.update", "user", client.user_id, fields=["display_name"])
    return Audited(client, "PATCH", "/users/me", "users", rows, {"display_name": "Audited Name"})


def mfa_setup(c: Clinic, api: Api) -> Audited:
    client = api.user(c.fresh_user("STAFF"))
    return Audited(client, "POST", "/users/me/mfa/setup", "users", _one("user.mfa_setup", "user", client.user_id))


def mfa_enable(c: Clinic, api: Api) -> Audited:
    client = api.user(c.fresh_user("PROVIDER"))
    code = totp(client.ok("POST", "/users/me/mfa/setup")["secret"])
    return Audited(
        client, "POST", "/users/me/mfa/verify", "users", _one("user.mfa_enable", "user", client.user_id), {"code": code}
    )


def membership_create(c: Clinic, api: Api) -> Audited:
    body = {"email": c.fresh_user("STAFF", SOUTHBAY), "role": "PROVIDER"}
    rows = _one("membership.create", "membership", role="PROVIDER")
    return Audited(api.role("ADMIN"), "POST", f"/organizations/{NORTHWIND}/members", "memberships", rows, body)


def membership_update(c: Clinic, api: Api) -> Audited:
    mid = c.membership_id(c.fresh_user("STAFF"))
    rows = _one("membership.update", "membership", mid, role="PATIENT")
    path = f"/organizations/{NORTHWIND}/members/{mid}"
    return Audited(api.role("ADMIN"), "PATCH", path, "memberships", rows, {"role": "PATIENT"})


def membership_delete(c: Clinic, api: Api) -> Audited:
    mid = c.membership_id(c.fresh_user("STAFF"))
    path = f"/organizations/{NORTHWIND}/members/{mid}"
    return Audited(api.role("ADMIN"), "DELETE", path, "memberships", _one("membership.delete", "membership", mid))


AUDITED: dict[str, Callable[[Clinic, Api], Audited]] = {
    fn.__name__: fn
    for fn in (
        patient_list,
        patient_read,
        patient_create,
        patient_update,
        patient_delete,
        break_glass,
        proxy_list,
        proxy_create,
        proxy_delete,
        appointment_list,
        appointment_read,
        appointment_create,
        appointment_update,
        appointment_cancel,
        thread_list,
        thread_read,
        thread_create,
        message_list,
        message_create,
        session_create,
        session_refresh,
        session_revoke,
        user_update,
        mfa_setup,
        mfa_enable,
        membership_create,
        membership_update,
        membership_delete,
    )
}


def _send(case: Audited) -> requests.Response:
    response = case.client.request(case.method, case.path, json=case.json)
    assert response.status_code < 300, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    return response


@pytest.mark.parametrize("name", AUDITED)
def test_the_operation_writes_exactly_its_audit_rows(name: str, clinic: Clinic, api: Api) -> None:
    case = AUDITED[name](clinic, api)
    mark = clinic.mark()
    response = _send(case)
    actor, org = case.actor or case.client.user_id, case.org or case.client.org_id
    expected = [
        {
            "organization_id": org,
            "actor_user_id": actor,
            "action": action,
            "resource_type": kind,
            "resource_id": rid,
            "details": details,
        }
        for action, kind, rid, details in case.rows(response)
    ]
    written = [{key: value for key, value in row.items() if key != "id"} for row in mark.audit_rows()]
    assert written == expected


@pytest.mark.parametrize("name", AUDITED)
def test_the_audit_insert_commits_in_the_operations_own_transaction(name: str, clinic: Clinic, api: Api) -> None:
    case = AUDITED[name](clinic, api)
    window = clinic.mark()
    _send(case)
    _assert_one_transaction(window, case.table)


def _assert_one_transaction(window: Window, table: str) -> None:
    statements = [s for s in window.statements()]
    inserts = [s for s in statements if s.text.startswith("INSERT INTO audit_logs")]
    assert len(inserts) == 1, [s.text for s in statements]
    vxid, session = inserts[0].vxid, inserts[0].session_id
    assert vxid and not vxid.endswith("/0")
    work = [
        s for s in touching(statements, table) if not is_auth_check(s) and not s.text.startswith("INSERT INTO audit")
    ]
    assert work, f"no statement on {table}"
    assert {(s.vxid, s.session_id) for s in work} == {(vxid, session)}
    same = [s.text for s in statements if s.vxid == vxid and s.session_id == session]
    assert same[0] == "BEGIN" and same[-1] == "COMMIT", same
    assert not any(s.text == "ROLLBACK" for s in statements)


# -- what must leave no trace ------------------------------------------------------------------------------------


Denial = tuple[Client, str, str, dict[str, Any] | None, int]  # caller, method, path, body, expected status


def _wrong_mfa_code(c: Clinic, api: Api) -> Denial:
    client = api.user(c.fresh_user("STAFF"))
    secret = client.ok("POST", "/users/me/mfa/setup")["secret"]
    return client, "POST", "/users/me/mfa/verify", {"code": "000000" if totp(secret) != "000000" else "111111"}, 403


DENIED: dict[str, Callable[[Clinic, Api], Denial]] = {
    "role-refused": lambda c, api: (api.role("STAFF"), "DELETE", f"/patients/{c.new_patient()}", None, 403),
    "restricted-record": lambda c, api: (
        api.role("PROVIDER"),
        "GET",
        f"/patients/{c.new_patient(is_restricted=True)}",
        None,
        403,
    ),
    "restricted-update": lambda c, api: (
        api.role("STAFF"),
        "PATCH",
        f"/patients/{c.new_patient(is_restricted=True)}",
        {"notes": "x"},
        403,
    ),
    "other-tenants-patient": lambda c, api: (
        api.role("ADMIN"),
        "GET",
        f"/patients/{c.new_patient(SOUTHBAY)}",
        None,
        404,
    ),
    "not-own-appointment": lambda c, api: (
        api.role("PATIENT"),
        "GET",
        f"/appointments/{c.new_appointment()}",
        None,
        404,
    ),
    "invalid-body": lambda c, api: (
        api.role("STAFF"),
        "PATCH",
        f"/patients/{c.new_patient()}",
        {"date_of_birth": "1990-02-30"},
        422,
    ),
    "short-break-glass-reason": lambda c, api: (
        api.role("PROVIDER"),
        "POST",
        f"/patients/{c.new_patient(is_restricted=True)}/break-glass",
        {"reason": "short"},
        422,
    ),
    "cancel-cancelled": lambda c, api: (
        api.role("STAFF"),
        "POST",
        f"/appointments/{c.new_appointment(status='CANCELLED')}/cancel",
        {"reason": "x"},
        409,
    ),
    "patch-cancelled": lambda c, api: (
        api.role("STAFF"),
        "PATCH",
        f"/appointments/{c.new_appointment(status='CANCELLED')}",
        {"notes": "x"},
        409,
    ),
    "wrong-mfa-code": _wrong_mfa_code,
    "wrong-password": lambda c, api: (
        api.anon,
        "POST",
        "/auth/login",
        {"email": seed_email("STAFF"), "password": "nope"},
        401,
    ),
    "own-membership": lambda c, api: (
        api.role("ADMIN"),
        "DELETE",
        f"/organizations/{NORTHWIND}/members/{c.membership_id(seed_email('ADMIN'))}",
        None,
        409,
    ),
}


@pytest.mark.parametrize("name", DENIED)
def test_a_refused_or_failed_request_leaves_no_audit_row(name: str, clinic: Clinic, api: Api) -> None:
    client, method, path, body, status = DENIED[name](clinic, api)
    mark = clinic.mark()
    response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert mark.audit_rows() == []
    assert not [s.text for s in mark.statements() if s.text.startswith("INSERT INTO audit_logs")]


def test_a_request_that_fails_after_writing_rolls_its_work_back(clinic: Clinic, api: Api) -> None:
    """Cancelling a cancelled appointment runs the UPDATE, finds nothing, and ends in ROLLBACK."""
    cancelled = clinic.new_appointment(status="CANCELLED")
    staff = api.role("STAFF")
    mark = clinic.mark()
    assert staff.post(f"/appointments/{cancelled}/cancel", json={"reason": "x"}).status_code == 409
    statements = [s for s in mark.statements() if not is_auth_check(s)]
    update = [s for s in statements if s.text.startswith("UPDATE appointments")]
    assert len(update) == 1
    ends = [s.text for s in statements if s.vxid == update[0].vxid and s.text in ("COMMIT", "ROLLBACK")]
    assert ends == ["ROLLBACK"]


UNAUDITED: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("ADMIN", "GET", "/users/me", None),
    ("STAFF", "GET", f"/organizations/{NORTHWIND}", None),
    ("STAFF", "GET", f"/organizations/{NORTHWIND}/members", None),
    ("PROVIDER", "GET", "/notifications", None),
    ("PROVIDER", "GET", "/events/stream", None),
    ("ADMIN", "GET", "/support/tickets", None),
    ("PATIENT", "POST", "/support/tickets", {"subject": "s", "body": "b"}),
    ("ADMIN", "GET", "/billing/account", None),
    ("ADMIN", "GET", "/audit-logs", None),
    ("STAFF", "POST", "/telemetry", {"events": [{"name": "a.b", "occurred_at": "2026-01-01T00:00:00Z"}]}),
]


@pytest.mark.parametrize(("role", "method", "path", "body"), UNAUDITED)
def test_operations_outside_the_audit_table_write_no_row(
    role: str, method: str, path: str, body: dict[str, Any] | None, clinic: Clinic, api: Api
) -> None:
    client = api.role(role)
    mark = clinic.mark()
    assert client.request(method, path, json=body).status_code < 300
    assert mark.audit_rows() == []
