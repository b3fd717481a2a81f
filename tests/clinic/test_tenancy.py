"""Tenant isolation: another organization's ids answer 404 for reads and writes, a refused write leaves the row as
it was (read back in SQL), and no list ever carries another organization's rows. Both directions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from clinic_harness import (
    NORTHWIND,
    SOUTHBAY,
    Api,
    Clinic,
    Db,
    assert_envelope,
    other,
    seed_email,
)

pytestmark = pytest.mark.postgres

DIRECTIONS = pytest.mark.parametrize("org", [NORTHWIND, SOUTHBAY], ids=["northwind-caller", "southbay-caller"])


@dataclass
class Case:
    """One request into the other organization, and what must not change because of it."""

    role: str
    method: str
    path: str
    code: str
    json: dict[str, Any] | None = None
    rows: list[tuple[str, str]] = field(default_factory=list)  # (table, id) whose row must stay as it was
    counts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (table, where) whose count must stay


def _patient(c: Clinic, org: str) -> Case:
    return Case("ADMIN", "GET", f"/patients/{c.seed_patient(other(org))}", "patient_not_found")


def _patient_update(c: Clinic, org: str) -> Case:
    target = c.new_patient(other(org))
    return Case("STAFF", "PATCH", f"/patients/{target}", "patient_not_found", {"notes": "x"}, [("patients", target)])


def _patient_delete(c: Clinic, org: str) -> Case:
    target = c.new_patient(other(org))
    return Case("ADMIN", "DELETE", f"/patients/{target}", "patient_not_found", rows=[("patients", target)])


def _break_glass(c: Clinic, org: str) -> Case:
    target = c.new_patient(other(org), is_restricted=True)
    body = {"reason": "Emergency department"}
    return Case("PROVIDER", "POST", f"/patients/{target}/break-glass", "patient_not_found", body)


def _foreign_provider(c: Clinic, org: str) -> Case:
    target = c.new_patient(org)
    body = {"primary_provider_user_id": c.user_id(seed_email("PROVIDER", other(org)))}
    return Case("STAFF", "PATCH", f"/patients/{target}", "provider_not_found", body, [("patients", target)])


def _proxies(c: Clinic, org: str) -> Case:
    return Case("ADMIN", "GET", f"/patients/{c.seed_patient(other(org))}/proxies", "patient_not_found")


def _proxy_add(c: Clinic, org: str) -> Case:
    target = c.new_patient(other(org))
    body = {"full_name": "Cross Tenant", "relationship": "OTHER"}
    path = f"/patients/{target}/proxies"
    return Case("STAFF", "POST", path, "patient_not_found", body, counts=[("proxies", {"patient_id": target})])


def _proxy_delete_under_own_patient(c: Clinic, org: str) -> Case:
    proxy = c.new_proxy(other(org))
    path = f"/patients/{c.new_patient(org)}/proxies/{proxy}"
    return Case("ADMIN", "DELETE", path, "proxy_not_found", rows=[("proxies", proxy)])


def _proxy_delete(c: Clinic, org: str) -> Case:
    patient = c.new_patient(other(org))
    proxy = c.new_proxy(other(org), patient)
    return Case(
        "ADMIN", "DELETE", f"/patients/{patient}/proxies/{proxy}", "patient_not_found", rows=[("proxies", proxy)]
    )


def _appointment(c: Clinic, org: str) -> Case:
    return Case("PROVIDER", "GET", f"/appointments/{c.new_appointment(other(org))}", "appointment_not_found")


def _appointment_update(c: Clinic, org: str) -> Case:
    target = c.new_appointment(other(org))
    path = f"/appointments/{target}"
    return Case("STAFF", "PATCH", path, "appointment_not_found", {"notes": "x"}, [("appointments", target)])


def _appointment_cancel(c: Clinic, org: str) -> Case:
    target = c.new_appointment(other(org))
    path = f"/appointments/{target}/cancel"
    return Case("ADMIN", "POST", path, "appointment_not_found", {"reason": "x"}, [("appointments", target)])


def _appointment_for_foreign_patient(c: Clinic, org: str) -> Case:
    patient = c.new_patient(other(org))
    body = {
        "patient_id": patient,
        "provider_user_id": c.user_id(seed_email("PROVIDER", org)),
        "starts_at": "2027-04-01T09:00:00Z",
    }
    return Case(
        "STAFF", "POST", "/appointments", "patient_not_found", body, counts=[("appointments", {"patient_id": patient})]
    )


def _appointment_with_foreign_provider(c: Clinic, org: str) -> Case:
    patient = c.new_patient(org)
    body = {
        "patient_id": patient,
        "provider_user_id": c.user_id(seed_email("PROVIDER", other(org))),
        "starts_at": "2027-04-01T09:00:00Z",
    }
    return Case(
        "STAFF", "POST", "/appointments", "provider_not_found", body, counts=[("appointments", {"patient_id": patient})]
    )


def _thread(c: Clinic, org: str) -> Case:
    return Case("ADMIN", "GET", f"/threads/{c.new_thread(other(org))}", "thread_not_found")


def _thread_messages(c: Clinic, org: str) -> Case:
    return Case("ADMIN", "GET", f"/threads/{c.new_thread(other(org))}/messages", "thread_not_found")


def _thread_for_foreign_patient(c: Clinic, org: str) -> Case:
    patient = c.new_patient(other(org))
    body = {"patient_id": patient, "subject": "x", "body": "x"}
    return Case(
        "STAFF", "POST", "/threads", "patient_not_found", body, counts=[("message_threads", {"patient_id": patient})]
    )


def _message_post(c: Clinic, org: str) -> Case:
    thread = c.new_thread(other(org))
    path = f"/threads/{thread}/messages"
    return Case(
        "PROVIDER", "POST", path, "thread_not_found", {"body": "x"}, counts=[("messages", {"thread_id": thread})]
    )


def _ticket(c: Clinic, org: str) -> Case:
    return Case("ADMIN", "GET", f"/support/tickets/{c.new_ticket(other(org))}", "ticket_not_found")


def _ticket_messages(c: Clinic, org: str) -> Case:
    return Case("STAFF", "GET", f"/support/tickets/{c.new_ticket(other(org))}/messages", "ticket_not_found")


def _ticket_message_post(c: Clinic, org: str) -> Case:
    ticket = c.new_ticket(other(org))
    path = f"/support/tickets/{ticket}/messages"
    return Case(
        "ADMIN",
        "POST",
        path,
        "ticket_not_found",
        {"body": "x"},
        [("support_tickets", ticket)],
        [("support_messages", {"ticket_id": ticket})],
    )


def _organization(c: Clinic, org: str) -> Case:
    return Case("PATIENT", "GET", f"/organizations/{other(org)}", "organization_not_found")


def _members(c: Clinic, org: str) -> Case:
    return Case("ADMIN", "GET", f"/organizations/{other(org)}/members", "organization_not_found")


def _member_add(c: Clinic, org: str) -> Case:
    body = {"email": f"x{uuid.uuid4().hex[:8]}@cross.test", "role": "ADMIN"}
    counts = [("memberships", {"organization_id": other(org)})]
    return Case("ADMIN", "POST", f"/organizations/{other(org)}/members", "organization_not_found", body, counts=counts)


def _member_update(c: Clinic, org: str) -> Case:
    target = c.membership_id(c.fresh_user("STAFF", other(org)))
    path = f"/organizations/{org}/members/{target}"
    return Case("ADMIN", "PATCH", path, "membership_not_found", {"role": "ADMIN"}, [("memberships", target)])


def _member_delete(c: Clinic, org: str) -> Case:
    target = c.membership_id(c.fresh_user("STAFF", other(org)))
    path = f"/organizations/{org}/members/{target}"
    return Case("ADMIN", "DELETE", path, "membership_not_found", rows=[("memberships", target)])


def _member_update_in_foreign_org(c: Clinic, org: str) -> Case:
    target = c.membership_id(c.fresh_user("STAFF", other(org)))
    path = f"/organizations/{other(org)}/members/{target}"
    return Case("ADMIN", "PATCH", path, "organization_not_found", {"role": "ADMIN"}, [("memberships", target)])


def _notification(c: Clinic, org: str) -> Case:
    target = c.new_notification(seed_email("STAFF", other(org)))
    return Case(
        "STAFF", "POST", f"/notifications/{target}/read", "notification_not_found", rows=[("notifications", target)]
    )


CASES: dict[str, Callable[[Clinic, str], Case]] = {
    "get-patient": _patient,
    "patch-patient": _patient_update,
    "delete-patient": _patient_delete,
    "break-glass": _break_glass,
    "patch-patient-foreign-provider": _foreign_provider,
    "list-proxies": _proxies,
    "add-proxy": _proxy_add,
    "delete-foreign-proxy-under-own-patient": _proxy_delete_under_own_patient,
    "delete-proxy": _proxy_delete,
    "get-appointment": _appointment,
    "patch-appointment": _appointment_update,
    "cancel-appointment": _appointment_cancel,
    "create-appointment-foreign-patient": _appointment_for_foreign_patient,
    "create-appointment-foreign-provider": _appointment_with_foreign_provider,
    "get-thread": _thread,
    "list-messages": _thread_messages,
    "create-thread-foreign-patient": _thread_for_foreign_patient,
    "post-message": _message_post,
    "get-ticket": _ticket,
    "list-ticket-messages": _ticket_messages,
    "post-ticket-message": _ticket_message_post,
    "get-organization": _organization,
    "list-members": _members,
    "add-member": _member_add,
    "patch-member": _member_update,
    "delete-member": _member_delete,
    "patch-member-in-foreign-org": _member_update_in_foreign_org,
    "read-notification": _notification,
}


@DIRECTIONS
@pytest.mark.parametrize("case", CASES)
def test_another_organizations_id_is_404_and_changes_nothing(
    case: str, org: str, clinic: Clinic, api: Api, db: Db
) -> None:
    spec = CASES[case](clinic, org)
    rows_before = [db.snapshot(table, row_id) for table, row_id in spec.rows]
    counts_before = [db.count(table, **where) for table, where in spec.counts]
    assert all(row is not None for row in rows_before)
    caller = api.role(spec.role, org)
    mark = clinic.mark()
    response = caller.request(spec.method, spec.path, json=spec.json)
    assert_envelope(response, 404, spec.code)
    assert [db.snapshot(table, row_id) for table, row_id in spec.rows] == rows_before
    assert [db.count(table, **where) for table, where in spec.counts] == counts_before
    assert mark.audit_rows() == []


def test_a_user_in_two_organizations_reaches_only_the_one_it_logged_into(clinic: Clinic, api: Api, db: Db) -> None:
    email = clinic.fresh_user("STAFF", NORTHWIND)
    clinic.db.insert("memberships", organization_id=SOUTHBAY, user_id=clinic.user_id(email), role="STAFF")
    mine = clinic.new_notification(email)  # the fixture picks one membership; make one in each organization
    home = db.value("SELECT n.organization_id FROM notifications n WHERE n.id = %s", (mine,))
    away = db.insert(
        "notifications",
        organization_id=other(home),
        user_id=clinic.user_id(email),
        kind="SYSTEM",
        title="Away",
        body="Other tenant",
    )
    assert api.login(email).json()["code"] == "organization_required"
    token = api.login(email, organization_id=home).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    listed = api.anon.get("/notifications", headers=auth, params={"limit": 100}).json()["items"]
    assert [n["id"] for n in listed] == [mine]
    before = db.snapshot("notifications", away)
    assert_envelope(api.anon.post(f"/notifications/{away}/read", headers=auth), 404, "notification_not_found")
    assert db.snapshot("notifications", away) == before
    assert api.anon.post(f"/notifications/{mine}/read", headers=auth).status_code == 200


def _scoped_list(c: Clinic, org: str, name: str) -> tuple[str, str, str]:
    """(role, path, table) of a list whose items must all belong to *org*."""
    patient, thread, ticket = c.seed_patient(org), c.new_thread(org, messages=2), c.new_ticket(org)
    return {
        "patients": ("ADMIN", "/patients", "patients"),
        "appointments": ("STAFF", "/appointments", "appointments"),
        "threads": ("PROVIDER", "/threads", "message_threads"),
        "messages": ("ADMIN", f"/threads/{thread}/messages", "messages"),
        "proxies": ("ADMIN", f"/patients/{patient}/proxies", "proxies"),
        "tickets": ("ADMIN", "/support/tickets", "support_tickets"),
        "ticket-messages": ("STAFF", f"/support/tickets/{ticket}/messages", "support_messages"),
        "notifications": ("PROVIDER", "/notifications", "notifications"),
        "members": ("ADMIN", f"/organizations/{org}/members", "memberships"),
        "audit-logs": ("ADMIN", "/audit-logs", "audit_logs"),
    }[name]


@DIRECTIONS
@pytest.mark.parametrize(
    "name",
    [
        "patients",
        "appointments",
        "threads",
        "messages",
        "proxies",
        "tickets",
        "ticket-messages",
        "notifications",
        "members",
        "audit-logs",
    ],
)
def test_lists_carry_only_the_callers_organization(name: str, org: str, clinic: Clinic, api: Api, db: Db) -> None:
    clinic.new_ticket(other(org))  # an OPEN ticket next door, in case tickets leak by status
    role, path, table = _scoped_list(clinic, org, name)
    ids = [item["id"] for item in api.role(role, org).ok("GET", path, params={"limit": 100})["items"]]
    assert ids, f"{path} returned nothing, so it proves nothing"
    owners = db.rows(
        f"SELECT t.organization_id, count(*) AS n FROM {table} t WHERE t.id = ANY(%s::uuid[]) "
        "GROUP BY t.organization_id",
        (ids,),
    )
    assert owners == [{"organization_id": org, "n": len(ids)}]


@DIRECTIONS
def test_filtering_by_another_organizations_patient_finds_nothing(org: str, clinic: Clinic, api: Api) -> None:
    foreign = clinic.seed_patient(other(org))
    page = api.role("ADMIN", org).ok("GET", "/appointments", params={"patient_id": foreign})
    assert page["items"] == []
    assert clinic.db.count("appointments", patient_id=foreign) > 0


def test_the_seed_has_exactly_the_two_organizations_under_test(db: Db) -> None:
    assert sorted(db.ids("SELECT o.id FROM organizations o")) == sorted([NORTHWIND, SOUTHBAY])
