"""Every one of the clinic's 43 operations, called by a role that may call it: status, key fields, SQL read-back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from clinic_harness import (
    NORTHWIND,
    SOUTHBAY,
    Api,
    Clinic,
    Db,
    jwt_claims,
    operations,
    seed_email,
    sha256_hex,
    sse_events,
    totp,
)

pytestmark = pytest.mark.postgres

F = TypeVar("F", bound=Callable[..., None])
COVERED: set[str] = set()


def covers(*operation: str) -> Callable[[F], F]:
    """Note which operations a test exercises; the last test checks that together they are all 43."""

    def mark(test: F) -> F:
        COVERED.update(operation)
        return test

    return mark


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- health, auth ------------------------------------------------------------------------------------------------


@covers("GET /health")
def test_health(api: Api) -> None:
    assert api.anon.ok("GET", "/health") == {"status": "ok", "database": "ok"}


@covers("POST /auth/login")
def test_login_issues_tokens_and_stores_only_the_refresh_token_hash(clinic: Clinic, api: Api, db: Db) -> None:
    email = clinic.fresh_user("STAFF")
    response = api.login(email)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    claims = jwt_claims(body["access_token"])
    assert (claims["sub"], claims["org"], claims["role"], claims["typ"]) == (
        clinic.user_id(email),
        NORTHWIND,
        "STAFF",
        "access",
    )
    session = db.row(
        "SELECT s.user_id, s.organization_id, s.refresh_token_hash, s.revoked_at FROM sessions s WHERE s.id = %s",
        (claims["sid"],),
    )
    assert session == {
        "user_id": clinic.user_id(email),
        "organization_id": NORTHWIND,
        "refresh_token_hash": sha256_hex(body["refresh_token"]),
        "revoked_at": None,
    }


def test_login_with_a_wrong_password_is_refused(api: Api) -> None:
    response = api.login(seed_email("STAFF"), "not-the-password")
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"


@covers("POST /auth/refresh")
def test_refresh_rotates_the_refresh_token(clinic: Clinic, api: Api, db: Db) -> None:
    first = api.login(clinic.fresh_user("PROVIDER")).json()
    second = api.anon.ok("POST", "/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
    sid = jwt_claims(first["access_token"])["sid"]
    assert jwt_claims(second["access_token"])["sid"] == sid
    stored = db.value("SELECT s.refresh_token_hash FROM sessions s WHERE s.id = %s", (sid,))
    assert stored == sha256_hex(second["refresh_token"])
    reused = api.anon.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["code"] == "session_invalid"
    assert api.anon.get("/users/me", headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 200


@covers("POST /auth/logout")
def test_logout_revokes_the_session(clinic: Clinic, api: Api, db: Db) -> None:
    tokens = api.login(clinic.fresh_user("PATIENT")).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert api.anon.post("/auth/logout", headers=auth).status_code == 204
    revoked = db.value(
        "SELECT s.revoked_at FROM sessions s WHERE s.id = %s", (jwt_claims(tokens["access_token"])["sid"],)
    )
    assert revoked is not None
    after = api.anon.get("/users/me", headers=auth)
    assert after.status_code == 401 and after.json()["code"] == "session_invalid"


# -- the caller's account ----------------------------------------------------------------------------------------


@covers("GET /users/me")
def test_get_me(api: Api, db: Db) -> None:
    me = api.role("PROVIDER").ok("GET", "/users/me")
    assert set(me) == {"id", "email", "display_name", "phone", "mfa_enabled", "created_at"}
    row = db.row(
        "SELECT u.id, u.email, u.display_name, u.phone, u.mfa_enabled FROM users u WHERE u.email = %s",
        (seed_email("PROVIDER"),),
    )
    assert row == {key: me[key] for key in ("id", "email", "display_name", "phone", "mfa_enabled")}


@covers("PATCH /users/me")
def test_patch_me(clinic: Clinic, api: Api, db: Db) -> None:
    email = clinic.fresh_user("STAFF")
    me = api.user(email).ok("PATCH", "/users/me", json={"display_name": "Renamed Person", "phone": "+1 555 010 2030"})
    assert (me["display_name"], me["phone"]) == ("Renamed Person", "+1 555 010 2030")
    row = db.row("SELECT u.display_name, u.phone FROM users u WHERE u.email = %s", (email,))
    assert row == {"display_name": "Renamed Person", "phone": "+1 555 010 2030"}
    api.user(email).ok("PATCH", "/users/me", json={"phone": None})
    assert db.value("SELECT u.phone FROM users u WHERE u.email = %s", (email,)) is None


@covers("POST /users/me/mfa/setup")
def test_mfa_setup_stores_a_pending_secret(clinic: Clinic, api: Api, db: Db) -> None:
    email = clinic.fresh_user("ADMIN")
    body = api.user(email).ok("POST", "/users/me/mfa/setup")
    assert set(body) == {"secret", "otpauth_uri"}
    assert len(body["secret"]) == 32 and body["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    row = db.row("SELECT u.mfa_secret, u.mfa_enabled FROM users u WHERE u.email = %s", (email,))
    assert row == {"mfa_secret": body["secret"], "mfa_enabled": False}


@covers("POST /users/me/mfa/verify")
def test_mfa_verify_enables_mfa_and_login_then_needs_the_code(clinic: Clinic, api: Api, db: Db) -> None:
    email = clinic.fresh_user("PATIENT")
    client = api.user(email)
    secret = client.ok("POST", "/users/me/mfa/setup")["secret"]
    wrong = client.post("/users/me/mfa/verify", json={"code": "000000" if totp(secret) != "000000" else "111111"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "invalid_mfa_code"
    assert client.ok("POST", "/users/me/mfa/verify", json={"code": totp(secret)}) == {"mfa_enabled": True}
    assert db.value("SELECT u.mfa_enabled FROM users u WHERE u.email = %s", (email,)) is True
    assert api.login(email).json()["code"] == "mfa_required"
    assert api.login(email, mfa_code=totp(secret)).status_code == 200
    assert client.post("/users/me/mfa/setup").json()["code"] == "mfa_already_enabled"


# -- organization and members ------------------------------------------------------------------------------------


@covers("GET /organizations/{organization_id}")
def test_get_organization(api: Api, db: Db) -> None:
    org = api.role("PATIENT").ok("GET", f"/organizations/{NORTHWIND}")
    assert set(org) == {"id", "name", "slug", "created_at"}
    row = db.row("SELECT o.id, o.name, o.slug FROM organizations o WHERE o.id = %s", (NORTHWIND,))
    assert row == {"id": org["id"], "name": org["name"], "slug": org["slug"]}


@covers("GET /organizations/{organization_id}/members")
def test_list_members(api: Api, db: Db) -> None:
    page = api.role("STAFF").ok("GET", f"/organizations/{NORTHWIND}/members", params={"limit": 100})
    assert all(set(m) == {"id", "user_id", "email", "display_name", "role", "joined_at"} for m in page["items"])
    expected = db.ids(
        "SELECT m.id FROM memberships m WHERE m.organization_id = %s ORDER BY m.created_at, m.id", (NORTHWIND,)
    )
    assert [m["id"] for m in page["items"]] == expected
    assert {m["email"]: m["role"] for m in page["items"]}[seed_email("PROVIDER")] == "PROVIDER"


@covers("POST /organizations/{organization_id}/members")
def test_add_member_creates_an_invited_user(api: Api, db: Db) -> None:
    email = f"New.Hire.{uuid.uuid4().hex[:8]}@Example.test"
    member = api.role("ADMIN").ok(
        "POST", f"/organizations/{NORTHWIND}/members", 201, json={"email": email, "role": "STAFF"}
    )
    assert member["email"] == email.lower() and member["role"] == "STAFF"
    row = db.row(
        "SELECT m.organization_id, m.role, u.email, left(u.password_hash, 1) AS mark FROM memberships m "
        "JOIN users u ON u.id = m.user_id WHERE m.id = %s",
        (member["id"],),
    )
    assert row == {"organization_id": NORTHWIND, "role": "STAFF", "email": email.lower(), "mark": "!"}
    again = api.role("ADMIN").post(f"/organizations/{NORTHWIND}/members", json={"email": email, "role": "STAFF"})
    assert again.status_code == 409 and again.json()["code"] == "already_member"


@covers("PATCH /organizations/{organization_id}/members/{membership_id}")
def test_change_member_role(clinic: Clinic, api: Api, db: Db) -> None:
    membership = clinic.membership_id(clinic.fresh_user("STAFF"))
    path = f"/organizations/{NORTHWIND}/members/{membership}"
    assert api.role("ADMIN").ok("PATCH", path, json={"role": "PROVIDER"})["role"] == "PROVIDER"
    assert db.value("SELECT m.role FROM memberships m WHERE m.id = %s", (membership,)) == "PROVIDER"
    own = clinic.membership_id(seed_email("ADMIN"))
    refused = api.role("ADMIN").patch(f"/organizations/{NORTHWIND}/members/{own}", json={"role": "STAFF"})
    assert refused.status_code == 409 and refused.json()["code"] == "cannot_modify_own_membership"


@covers("DELETE /organizations/{organization_id}/members/{membership_id}")
def test_remove_member_ends_their_sessions(clinic: Clinic, api: Api, db: Db) -> None:
    email = clinic.fresh_user("STAFF")
    victim = api.user(email)
    membership = clinic.membership_id(email)
    api.role("ADMIN").ok("DELETE", f"/organizations/{NORTHWIND}/members/{membership}", 204)
    assert db.count("memberships", id=membership) == 0
    assert victim.get("/users/me").status_code == 401


# -- patients ----------------------------------------------------------------------------------------------------

PATIENT_SUMMARY = {"id", "mrn", "given_name", "family_name", "date_of_birth", "sex", "is_restricted"}
PATIENT = PATIENT_SUMMARY | {
    "phone",
    "email",
    "address_line",
    "city",
    "postal_code",
    "notes",
    "primary_provider_user_id",
    "user_id",
    "created_at",
    "updated_at",
}


@covers("GET /patients")
def test_list_patients_hides_restricted_records_from_staff(api: Api, db: Db) -> None:
    page = api.role("STAFF").ok("GET", "/patients", params={"limit": 100})
    assert all(set(p) == PATIENT_SUMMARY for p in page["items"])
    expected = db.ids(
        "SELECT p.id FROM patients p WHERE p.organization_id = %s AND p.deleted_at IS NULL AND NOT p.is_restricted "
        "ORDER BY p.family_name, p.given_name, p.id LIMIT 100",
        (NORTHWIND,),
    )
    assert [p["id"] for p in page["items"]] == expected
    mine = api.role("PATIENT").ok("GET", "/patients")["items"]
    assert [p["mrn"] for p in mine] == ["NW-000001"]


@covers("POST /patients")
def test_create_patient(api: Api, db: Db) -> None:
    staff = api.role("STAFF")
    body = {
        "given_name": "Nora",
        "family_name": "Newcomer",
        "date_of_birth": "1991-02-03",
        "sex": "FEMALE",
        "primary_provider_user_id": api.role("PROVIDER").user_id,
        "notes": "first visit",
    }
    patient = staff.ok("POST", "/patients", 201, json=body)
    assert set(patient) == PATIENT and patient["mrn"].startswith("MRN-") and patient["is_restricted"] is False
    row = db.row(
        "SELECT p.organization_id, p.given_name, p.family_name, p.date_of_birth::text AS dob, p.sex, "
        "p.notes, p.created_by FROM patients p WHERE p.id = %s",
        (patient["id"],),
    )
    assert row == {
        "organization_id": NORTHWIND,
        "given_name": "Nora",
        "family_name": "Newcomer",
        "dob": "1991-02-03",
        "sex": "FEMALE",
        "notes": "first visit",
        "created_by": staff.user_id,
    }
    refused = staff.post("/patients", json={**body, "is_restricted": True})
    assert refused.status_code == 403 and refused.json()["code"] == "admin_only_field"


@covers("GET /patients/{patient_id}")
def test_get_patient(clinic: Clinic, api: Api, db: Db) -> None:
    patient_id = clinic.seed_patient()
    patient = api.role("PROVIDER").ok("GET", f"/patients/{patient_id}")
    assert set(patient) == PATIENT
    row = db.row("SELECT p.id, p.mrn, p.given_name, p.family_name FROM patients p WHERE p.id = %s", (patient_id,))
    assert row == {key: patient[key] for key in ("id", "mrn", "given_name", "family_name")}
    restricted = api.role("PROVIDER").get(f"/patients/{clinic.seed_patient(restricted=True)}")
    assert restricted.status_code == 403 and restricted.json()["code"] == "restricted_record"


@covers("PATCH /patients/{patient_id}")
def test_update_patient(clinic: Clinic, api: Api, db: Db) -> None:
    patient_id = clinic.new_patient(phone="+1 555 000 0000")
    changed = api.role("PROVIDER").ok(
        "PATCH", f"/patients/{patient_id}", json={"notes": "allergic to penicillin", "phone": None, "given_name": None}
    )
    assert (changed["notes"], changed["phone"], changed["given_name"]) == ("allergic to penicillin", None, "Tess")
    row = db.row("SELECT p.notes, p.phone, p.given_name FROM patients p WHERE p.id = %s", (patient_id,))
    assert row == {"notes": "allergic to penicillin", "phone": None, "given_name": "Tess"}


@covers("DELETE /patients/{patient_id}")
def test_delete_patient_is_a_soft_delete(clinic: Clinic, api: Api, db: Db) -> None:
    patient_id = clinic.new_patient()
    api.role("ADMIN").ok("DELETE", f"/patients/{patient_id}", 204)
    assert db.value("SELECT p.deleted_at FROM patients p WHERE p.id = %s", (patient_id,)) is not None
    assert api.role("ADMIN").get(f"/patients/{patient_id}").status_code == 404
    assert api.role("ADMIN").delete(f"/patients/{patient_id}").status_code == 404


@covers("POST /patients/{patient_id}/break-glass")
def test_break_glass_opens_a_restricted_record_and_audits_the_reason(clinic: Clinic, api: Api) -> None:
    patient_id = clinic.new_patient(is_restricted=True)
    provider = api.role("PROVIDER")
    mark = clinic.mark()
    patient = provider.ok("POST", f"/patients/{patient_id}/break-glass", json={"reason": "Unconscious patient in ER"})
    assert patient["id"] == patient_id and patient["is_restricted"] is True and set(patient) == PATIENT
    [row] = mark.audit_rows()
    assert (row["action"], row["resource_id"], row["actor_user_id"]) == (
        "patient.break_glass",
        patient_id,
        provider.user_id,
    )
    assert row["details"] == {"reason": "Unconscious patient in ER", "restricted": True}


# -- proxies -----------------------------------------------------------------------------------------------------

PROXY = {"id", "patient_id", "full_name", "relationship", "phone", "email", "can_view_records", "created_at"}


@covers("GET /patients/{patient_id}/proxies")
def test_list_proxies_of_the_patients_own_record(clinic: Clinic, api: Api, db: Db) -> None:
    own = clinic.own_patient(seed_email("PATIENT"))
    page = api.role("PATIENT").ok("GET", f"/patients/{own}/proxies")
    assert page["items"] and all(set(p) == PROXY and p["patient_id"] == own for p in page["items"])
    expected = db.ids("SELECT x.id FROM proxies x WHERE x.patient_id = %s ORDER BY x.created_at, x.id LIMIT 20", (own,))
    assert [p["id"] for p in page["items"]] == expected


@covers("POST /patients/{patient_id}/proxies")
def test_add_proxy(clinic: Clinic, api: Api, db: Db) -> None:
    own = clinic.own_patient(seed_email("PATIENT"))
    proxy = api.role("PATIENT").ok(
        "POST", f"/patients/{own}/proxies", 201, json={"full_name": "Pat Proxy", "relationship": "SPOUSE"}
    )
    assert set(proxy) == PROXY and proxy["can_view_records"] is False
    row = db.row(
        "SELECT x.organization_id, x.patient_id, x.full_name, x.relationship, x.created_by FROM proxies x "
        "WHERE x.id = %s",
        (proxy["id"],),
    )
    assert row == {
        "organization_id": NORTHWIND,
        "patient_id": own,
        "full_name": "Pat Proxy",
        "relationship": "SPOUSE",
        "created_by": api.role("PATIENT").user_id,
    }


@covers("DELETE /patients/{patient_id}/proxies/{proxy_id}")
def test_remove_proxy(clinic: Clinic, api: Api, db: Db) -> None:
    patient_id = clinic.new_patient()
    proxy_id = clinic.new_proxy(patient_id=patient_id)
    api.role("STAFF").ok("DELETE", f"/patients/{patient_id}/proxies/{proxy_id}", 204)
    assert db.count("proxies", id=proxy_id) == 0
    assert api.role("STAFF").delete(f"/patients/{patient_id}/proxies/{proxy_id}").status_code == 404


# -- appointments ------------------------------------------------------------------------------------------------

APPOINTMENT = {
    "id",
    "patient_id",
    "provider_user_id",
    "starts_at",
    "ends_at",
    "status",
    "reason",
    "notes",
    "cancelled_at",
    "cancel_reason",
    "created_at",
    "updated_at",
}


@covers("GET /appointments")
def test_list_appointments_with_filters(clinic: Clinic, api: Api, db: Db) -> None:
    staff = api.role("STAFF")
    page = staff.ok("GET", "/appointments", params={"limit": 100, "status": "NO_SHOW"})
    assert page["items"] and all(set(a) == APPOINTMENT and a["status"] == "NO_SHOW" for a in page["items"])
    expected = db.ids(
        "SELECT a.id FROM appointments a WHERE a.organization_id = %s AND a.status = 'NO_SHOW' "
        "ORDER BY a.starts_at, a.id",
        (NORTHWIND,),
    )
    assert [a["id"] for a in page["items"]] == expected
    own = clinic.own_patient(seed_email("PATIENT"))
    mine = api.role("PATIENT").ok("GET", "/appointments", params={"limit": 100})["items"]
    assert mine and {a["patient_id"] for a in mine} == {own}


@covers("POST /appointments")
def test_create_appointment_derives_the_end(clinic: Clinic, api: Api, db: Db) -> None:
    staff = api.role("STAFF")
    patient_id = clinic.new_patient()
    body = {
        "patient_id": patient_id,
        "provider_user_id": api.role("PROVIDER").user_id,
        "starts_at": "2027-01-05T10:00:00+01:00",
        "duration_minutes": 45,
        "reason": "Checkup",
    }
    appointment = staff.ok("POST", "/appointments", 201, json=body)
    assert set(appointment) == APPOINTMENT and appointment["status"] == "SCHEDULED"
    assert when(appointment["ends_at"]) - when(appointment["starts_at"]) == timedelta(minutes=45)
    row = db.row(
        "SELECT a.organization_id, a.patient_id, a.starts_at, a.ends_at, a.reason, a.created_by "
        "FROM appointments a WHERE a.id = %s",
        (appointment["id"],),
    )
    assert row is not None and row["starts_at"] == when("2027-01-05T09:00:00+00:00")
    assert row["ends_at"] - row["starts_at"] == timedelta(minutes=45)
    assert (row["organization_id"], row["patient_id"], row["reason"], row["created_by"]) == (
        NORTHWIND,
        patient_id,
        "Checkup",
        staff.user_id,
    )
    unknown = staff.post("/appointments", json={**body, "patient_id": clinic.new_patient(SOUTHBAY)})
    assert unknown.status_code == 404 and unknown.json()["code"] == "patient_not_found"


@covers("GET /appointments/{appointment_id}")
def test_get_own_appointment_as_patient(clinic: Clinic, api: Api) -> None:
    own = clinic.own_patient(seed_email("PATIENT"))
    appointment_id = clinic.new_appointment(patient_id=own)
    appointment = api.role("PATIENT").ok("GET", f"/appointments/{appointment_id}")
    assert set(appointment) == APPOINTMENT and appointment["patient_id"] == own
    others = api.role("PATIENT").get(f"/appointments/{clinic.new_appointment()}")
    assert others.status_code == 404 and others.json()["code"] == "appointment_not_found"


@covers("PATCH /appointments/{appointment_id}")
def test_update_appointment(clinic: Clinic, api: Api, db: Db) -> None:
    appointment_id = clinic.new_appointment()
    changed = api.role("PROVIDER").ok(
        "PATCH", f"/appointments/{appointment_id}", json={"duration_minutes": 60, "status": "CHECKED_IN", "notes": None}
    )
    assert (changed["status"], changed["notes"]) == ("CHECKED_IN", None)
    row = db.row(
        "SELECT a.status, a.notes, a.ends_at - a.starts_at AS length FROM appointments a WHERE a.id = %s",
        (appointment_id,),
    )
    assert row == {"status": "CHECKED_IN", "notes": None, "length": timedelta(minutes=60)}


@covers("POST /appointments/{appointment_id}/cancel")
def test_cancel_own_appointment_as_patient(clinic: Clinic, api: Api, db: Db) -> None:
    appointment_id = clinic.new_appointment(patient_id=clinic.own_patient(seed_email("PATIENT")))
    path = f"/appointments/{appointment_id}/cancel"
    cancelled = api.role("PATIENT").ok("POST", path, json={"reason": "Cannot make it"})
    assert cancelled["status"] == "CANCELLED" and cancelled["cancel_reason"] == "Cannot make it"
    row = db.row(
        "SELECT a.status, a.cancel_reason, a.cancelled_at IS NOT NULL AS stamped FROM appointments a WHERE a.id = %s",
        (appointment_id,),
    )
    assert row == {"status": "CANCELLED", "cancel_reason": "Cannot make it", "stamped": True}
    again = api.role("PATIENT").post(path, json={"reason": "Cannot make it"})
    assert again.status_code == 409 and again.json()["code"] == "appointment_not_cancellable"


# -- threads and messages ----------------------------------------------------------------------------------------

THREAD = {"id", "patient_id", "subject", "created_by", "created_at", "last_message_at", "last_message"}
MESSAGE = {"id", "thread_id", "sender_user_id", "body", "created_at"}


@covers("GET /threads")
def test_list_threads_with_their_last_message(api: Api, db: Db) -> None:
    page = api.role("PROVIDER").ok("GET", "/threads", params={"limit": 100})
    assert page["items"] and all(set(t) == THREAD for t in page["items"])
    expected = db.ids(
        "SELECT t.id FROM message_threads t WHERE t.organization_id = %s ORDER BY t.last_message_at DESC, t.id DESC "
        "LIMIT 100",
        (NORTHWIND,),
    )
    assert [t["id"] for t in page["items"]] == expected
    for thread in page["items"]:
        last = db.value(
            "SELECT m.id FROM messages m WHERE m.thread_id = %s ORDER BY m.created_at DESC, m.id DESC LIMIT 1",
            (thread["id"],),
        )
        assert (thread["last_message"] or {}).get("id") == last
        assert thread["last_message"] is None or set(thread["last_message"]) == MESSAGE


@covers("POST /threads")
def test_create_thread_with_its_first_message(clinic: Clinic, api: Api, db: Db) -> None:
    own = clinic.own_patient(seed_email("PATIENT"))
    thread = api.role("PATIENT").ok(
        "POST", "/threads", 201, json={"patient_id": own, "subject": "Refill", "body": "Hi"}
    )
    assert set(thread) == THREAD and thread["last_message"]["body"] == "Hi"
    row = db.row(
        "SELECT t.organization_id, t.patient_id, t.subject, (SELECT count(*) FROM messages m "
        "WHERE m.thread_id = t.id) AS messages FROM message_threads t WHERE t.id = %s",
        (thread["id"],),
    )
    assert row == {"organization_id": NORTHWIND, "patient_id": own, "subject": "Refill", "messages": 1}


@covers("GET /threads/{thread_id}")
def test_get_thread(clinic: Clinic, api: Api) -> None:
    thread_id = clinic.new_thread(messages=2)
    thread = api.role("STAFF").ok("GET", f"/threads/{thread_id}")
    assert set(thread) == THREAD and thread["id"] == thread_id and thread["last_message"]["body"] == "m1"


@covers("GET /threads/{thread_id}/messages")
def test_list_messages_oldest_first(clinic: Clinic, api: Api, db: Db) -> None:
    thread_id = clinic.new_thread(messages=3)
    page = api.role("ADMIN").ok("GET", f"/threads/{thread_id}/messages")
    assert all(set(m) == MESSAGE for m in page["items"])
    assert [m["id"] for m in page["items"]] == db.ids(
        "SELECT m.id FROM messages m WHERE m.thread_id = %s ORDER BY m.created_at, m.id", (thread_id,)
    )


@covers("POST /threads/{thread_id}/messages")
def test_post_message_moves_the_thread_forward(clinic: Clinic, api: Api, db: Db) -> None:
    thread_id = clinic.new_thread()
    staff = api.role("STAFF")
    message = staff.ok("POST", f"/threads/{thread_id}/messages", 201, json={"body": "See you Monday"})
    assert set(message) == MESSAGE and message["sender_user_id"] == staff.user_id
    row = db.row(
        "SELECT m.body, m.organization_id, t.last_message_at = m.created_at AS latest FROM messages m "
        "JOIN message_threads t ON t.id = m.thread_id WHERE m.id = %s",
        (message["id"],),
    )
    assert row == {"body": "See you Monday", "organization_id": NORTHWIND, "latest": True}
    assert staff.ok("GET", f"/threads/{thread_id}")["last_message"]["id"] == message["id"]


# -- notifications and events ------------------------------------------------------------------------------------


@covers("GET /notifications")
def test_list_notifications_newest_first(clinic: Clinic, api: Api, db: Db) -> None:
    provider = api.role("PROVIDER")
    page = provider.ok("GET", "/notifications")
    assert len(page["items"]) == 20 and (page["limit"], page["offset"]) == (20, 0)
    assert all(set(n) == {"id", "kind", "title", "body", "read_at", "created_at"} for n in page["items"])
    expected = db.ids(
        "SELECT n.id FROM notifications n WHERE n.user_id = %s AND n.organization_id = %s "
        "ORDER BY n.created_at DESC, n.id DESC LIMIT 20",
        (provider.user_id, NORTHWIND),
    )
    assert [n["id"] for n in page["items"]] == expected
    unread = provider.ok("GET", "/notifications", params={"unread_only": "true", "limit": 100})["items"]
    assert unread and all(n["read_at"] is None for n in unread)


@covers("POST /notifications/{notification_id}/read")
def test_mark_notification_read_is_idempotent(clinic: Clinic, api: Api, db: Db) -> None:
    email = clinic.fresh_user("STAFF")
    notification_id = clinic.new_notification(email)
    first = api.user(email).ok("POST", f"/notifications/{notification_id}/read")
    assert first["id"] == notification_id and first["read_at"] is not None
    stamped = db.value("SELECT n.read_at FROM notifications n WHERE n.id = %s", (notification_id,))
    assert stamped == when(first["read_at"])
    assert api.user(email).ok("POST", f"/notifications/{notification_id}/read")["read_at"] == first["read_at"]
    assert api.role("STAFF").post(f"/notifications/{notification_id}/read").status_code == 404


@covers("GET /events/stream")
def test_event_stream_sends_unread_notifications_then_end(clinic: Clinic, api: Api) -> None:
    email = clinic.fresh_user("PATIENT")
    older = clinic.new_notification(email, created_at="2026-01-01T08:00:00Z")
    newer = clinic.new_notification(email, created_at="2026-01-01T09:00:00Z")
    clinic.new_notification(email, read=True)
    response = api.user(email).get("/events/stream")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [(e["event"], e.get("id")) for e in events] == [
        ("notification", older),
        ("notification", newer),
        ("end", None),
    ]
    assert events[-1]["data"] == '{"count":2}'


# -- support -----------------------------------------------------------------------------------------------------

TICKET = {"id", "requester_user_id", "subject", "status", "priority", "created_at", "updated_at"}


@covers("GET /support/tickets")
def test_list_tickets(api: Api, db: Db) -> None:
    page = api.role("ADMIN").ok("GET", "/support/tickets", params={"limit": 100})
    assert all(set(t) == TICKET for t in page["items"])
    expected = db.ids(
        "SELECT t.id FROM support_tickets t WHERE t.organization_id = %s ORDER BY t.created_at DESC, t.id DESC",
        (NORTHWIND,),
    )
    assert [t["id"] for t in page["items"]] == expected
    provider = api.role("PROVIDER")
    own = provider.ok("GET", "/support/tickets", params={"limit": 100})["items"]
    assert own and {t["requester_user_id"] for t in own} == {provider.user_id}


@covers("POST /support/tickets")
def test_open_ticket(api: Api, db: Db) -> None:
    patient = api.role("PATIENT")
    ticket = patient.ok("POST", "/support/tickets", 201, json={"subject": "Login", "body": "Help", "priority": "HIGH"})
    assert set(ticket) == TICKET and (ticket["status"], ticket["priority"]) == ("OPEN", "HIGH")
    row = db.row(
        "SELECT t.organization_id, t.requester_user_id, t.priority, (SELECT string_agg(sm.body, '|') "
        "FROM support_messages sm WHERE sm.ticket_id = t.id) AS bodies FROM support_tickets t "
        "WHERE t.id = %s",
        (ticket["id"],),
    )
    assert row == {
        "organization_id": NORTHWIND,
        "requester_user_id": patient.user_id,
        "priority": "HIGH",
        "bodies": "Help",
    }


@covers("GET /support/tickets/{ticket_id}")
def test_get_ticket(clinic: Clinic, api: Api) -> None:
    ticket_id = clinic.new_ticket(requester=seed_email("PATIENT"))
    ticket = api.role("PATIENT").ok("GET", f"/support/tickets/{ticket_id}")
    assert set(ticket) == TICKET and ticket["priority"] == "NORMAL"
    assert api.role("PROVIDER").get(f"/support/tickets/{ticket_id}").status_code == 404  # not the requester


@covers("GET /support/tickets/{ticket_id}/messages")
def test_list_ticket_messages(clinic: Clinic, api: Api, db: Db) -> None:
    ticket_id = clinic.new_ticket()
    page = api.role("STAFF").ok("GET", f"/support/tickets/{ticket_id}/messages")
    assert [m["body"] for m in page["items"]] == ["hi"]
    assert set(page["items"][0]) == {"id", "ticket_id", "author_user_id", "body", "created_at"}
    assert page["items"][0]["id"] == db.value(
        "SELECT sm.id FROM support_messages sm WHERE sm.ticket_id = %s", (ticket_id,)
    )


@covers("POST /support/tickets/{ticket_id}/messages")
def test_post_ticket_message(clinic: Clinic, api: Api, db: Db) -> None:
    ticket_id = clinic.new_ticket()
    message = api.role("ADMIN").ok("POST", f"/support/tickets/{ticket_id}/messages", 201, json={"body": "More info"})
    assert message["ticket_id"] == ticket_id and message["body"] == "More info"
    assert db.count("support_messages", ticket_id=ticket_id) == 2
    closed = clinic.new_ticket(status="CLOSED")
    refused = api.role("ADMIN").post(f"/support/tickets/{closed}/messages", json={"body": "x"})
    assert refused.status_code == 409 and refused.json()["code"] == "ticket_closed"


# -- billing, audit, telemetry -----------------------------------------------------------------------------------


@covers("GET /billing/account")
def test_billing_account_shows_safe_fields_only(api: Api, db: Db) -> None:
    account = api.role("ADMIN").ok("GET", "/billing/account")
    assert set(account) == {
        "plan",
        "status",
        "billing_email",
        "card_brand",
        "card_last4",
        "payment_reference",
        "current_period_end",
    }
    row = db.row(
        "SELECT b.plan, b.invoice_reference FROM billing_accounts b WHERE b.organization_id = %s", (NORTHWIND,)
    )
    assert row == {"plan": account["plan"], "invoice_reference": account["payment_reference"]}


@covers("GET /audit-logs")
def test_audit_logs_filtered_by_action(clinic: Clinic, api: Api) -> None:
    admin = api.role("ADMIN")
    patient_id = clinic.seed_patient()
    admin.ok("GET", f"/patients/{patient_id}")
    page = admin.ok("GET", "/audit-logs", params={"action": "patient.read", "actor_user_id": admin.user_id})
    assert page["items"] and all(e["action"] == "patient.read" for e in page["items"])
    newest = page["items"][0]
    assert set(newest) == {"id", "actor_user_id", "action", "resource_type", "resource_id", "occurred_at", "details"}
    assert (newest["resource_id"], newest["actor_user_id"]) == (patient_id, admin.user_id)


@covers("POST /telemetry")
def test_telemetry_is_stamped_with_the_caller(api: Api, db: Db) -> None:
    client = api.role("PATIENT")
    name = f"page.view_{uuid.uuid4().hex[:8]}"
    events = [{"name": name, "occurred_at": "2026-01-01T00:00:00Z", "properties": {"screen": "home", "ms": 12}}] * 3
    assert client.ok("POST", "/telemetry", 202, json={"events": events}) == {"accepted": 3}
    rows = db.rows(
        "SELECT e.organization_id, e.user_id, e.properties FROM telemetry_events e WHERE e.name = %s", (name,)
    )
    assert (
        rows
        == [{"organization_id": NORTHWIND, "user_id": client.user_id, "properties": {"screen": "home", "ms": 12}}] * 3
    )


def test_every_documented_operation_is_exercised_here(openapi: dict[str, Any]) -> None:
    documented = set(operations(openapi))
    assert len(documented) == 43
    assert documented - COVERED == set(), "operations without a test"
    assert COVERED - documented == set(), "tests of operations the contract does not have"
