"""Pagination of every list: default 20, at most 100 (above → 422 envelope), offset, and a stable order ending in
the primary key — pages never overlap and concatenate to a bigger page, even when the sort key ties."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from clinic_harness import NORTHWIND, Api, Clinic, Db, assert_envelope, seed_email

pytestmark = pytest.mark.postgres

SIZE = 25  # rows in every list under test: more than the default page
TIE = "2026-03-03T03:03:03Z"  # one timestamp for all fixture rows, so only the primary key orders them


@dataclass(frozen=True)
class Listing:
    email: str
    path: str
    params: dict[str, str]
    order: str  # SQL giving the documented order of the whole list
    order_params: tuple[Any, ...]


def _many(db: Db, count: int, table: str, **values: Any) -> None:
    for _ in range(count):
        db.insert(table, **values)


def _ensure(db: Db, table: str, at_least: int, make: Callable[[], object]) -> None:
    for _ in range(at_least - db.count(table, organization_id=NORTHWIND)):
        make()


def _build(name: str, c: Clinic) -> Listing:
    db, org = c.db, NORTHWIND
    staff = c.user_id(seed_email("STAFF"))
    if name == "patients":
        return Listing(
            seed_email("ADMIN"),
            "/patients",
            {},
            "SELECT p.id FROM patients p WHERE p.organization_id = %s "
            "AND p.deleted_at IS NULL ORDER BY p.family_name, p.given_name, p.id",
            (org,),
        )
    if name == "appointments":
        patient = c.new_patient()
        for _ in range(SIZE):
            c.new_appointment(patient_id=patient, starts_at=TIE, ends_at="2026-03-03T04:00:00Z")
        return Listing(
            seed_email("STAFF"),
            "/appointments",
            {"patient_id": patient},
            "SELECT a.id FROM appointments a WHERE a.patient_id = %s ORDER BY a.starts_at, a.id",
            (patient,),
        )
    if name == "threads":
        _ensure(db, "message_threads", SIZE, lambda: c.new_thread(messages=1))
        return Listing(
            seed_email("PROVIDER"),
            "/threads",
            {},
            "SELECT t.id FROM message_threads t "
            "WHERE t.organization_id = %s ORDER BY t.last_message_at DESC, t.id DESC",
            (org,),
        )
    if name == "messages":
        thread = c.new_thread(messages=0)
        _many(
            db, SIZE, "messages", organization_id=org, thread_id=thread, sender_user_id=staff, body="x", created_at=TIE
        )
        return Listing(
            seed_email("ADMIN"),
            f"/threads/{thread}/messages",
            {},
            "SELECT m.id FROM messages m WHERE m.thread_id = %s ORDER BY m.created_at, m.id",
            (thread,),
        )
    if name == "proxies":
        patient = c.new_patient()
        _many(
            db,
            SIZE,
            "proxies",
            organization_id=org,
            patient_id=patient,
            full_name="P",
            relationship="OTHER",
            created_at=TIE,
        )
        return Listing(
            seed_email("STAFF"),
            f"/patients/{patient}/proxies",
            {},
            "SELECT x.id FROM proxies x WHERE x.patient_id = %s ORDER BY x.created_at, x.id",
            (patient,),
        )
    if name == "tickets":
        email = c.fresh_user("PROVIDER")  # a PROVIDER lists only its own tickets: an isolated list
        user = c.user_id(email)
        _many(db, SIZE, "support_tickets", organization_id=org, requester_user_id=user, subject="s", created_at=TIE)
        return Listing(
            email,
            "/support/tickets",
            {},
            "SELECT t.id FROM support_tickets t WHERE t.requester_user_id = %s ORDER BY t.created_at DESC, t.id DESC",
            (user,),
        )
    if name == "ticket-messages":
        ticket = c.new_ticket()
        _many(
            db,
            SIZE,
            "support_messages",
            organization_id=org,
            ticket_id=ticket,
            author_user_id=staff,
            body="x",
            created_at=TIE,
        )
        return Listing(
            seed_email("STAFF"),
            f"/support/tickets/{ticket}/messages",
            {},
            "SELECT sm.id FROM support_messages sm WHERE sm.ticket_id = %s ORDER BY sm.created_at, sm.id",
            (ticket,),
        )
    if name == "notifications":
        email = c.fresh_user("PATIENT")
        for _ in range(SIZE):
            c.new_notification(email, created_at=TIE)
        user = c.user_id(email)
        return Listing(
            email,
            "/notifications",
            {},
            "SELECT n.id FROM notifications n WHERE n.user_id = %s ORDER BY n.created_at DESC, n.id DESC",
            (user,),
        )
    if name == "members":
        _ensure(db, "memberships", SIZE, lambda: c.fresh_user("PATIENT"))
        return Listing(
            seed_email("ADMIN"),
            f"/organizations/{org}/members",
            {},
            "SELECT m.id FROM memberships m WHERE m.organization_id = %s ORDER BY m.created_at, m.id",
            (org,),
        )
    assert name == "audit-logs"
    actor = c.user_id(c.fresh_user("STAFF"))
    _many(
        db,
        SIZE,
        "audit_logs",
        organization_id=org,
        actor_user_id=actor,
        action="patient.read",
        resource_type="patient",
        occurred_at=TIE,
    )
    return Listing(
        seed_email("ADMIN"),
        "/audit-logs",
        {"actor_user_id": actor},
        "SELECT a.id FROM audit_logs a WHERE a.actor_user_id = %s ORDER BY a.occurred_at DESC, a.id DESC",
        (actor,),
    )


NAMES = [
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
]
_BUILT: dict[tuple[int, str], Listing] = {}


@pytest.fixture
def listing(request: pytest.FixtureRequest, clinic: Clinic) -> Listing:
    """The list under test and the rows it shows (made once per session; these tests only read them)."""
    key = (id(clinic), request.param)
    if key not in _BUILT:
        _BUILT[key] = _build(request.param, clinic)
    return _BUILT[key]


LISTS = pytest.mark.parametrize("listing", NAMES, indirect=True)


def _page(api: Api, listing: Listing, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = api.user(listing.email).ok("GET", listing.path, params={**listing.params, **params})
    assert set(body) == {"items", "limit", "offset"}
    return body


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


@LISTS
def test_the_default_page_is_20(listing: Listing, api: Api) -> None:
    body = _page(api, listing)
    assert (body["limit"], body["offset"], len(body["items"])) == (20, 0, 20)
    assert _ids(body) == _ids(_page(api, listing, limit=100))[:20]


@LISTS
def test_100_is_the_largest_page(listing: Listing, api: Api) -> None:
    body = _page(api, listing, limit=100)
    assert body["limit"] == 100 and len(body["items"]) >= SIZE
    for too_big in (101, 100000):
        response = api.user(listing.email).get(listing.path, params={**listing.params, "limit": too_big})
        details = assert_envelope(response, 422, "validation_error")["details"]
        assert [d["loc"] for d in details] == [["query", "limit"]]


@LISTS
def test_out_of_range_or_malformed_paging_is_422(listing: Listing, api: Api) -> None:
    client = api.user(listing.email)
    for bad in ({"limit": 0}, {"limit": -1}, {"limit": "ten"}, {"limit": 2**31}, {"offset": -1}, {"offset": 100001}):
        response = client.get(listing.path, params={**listing.params, **bad})
        details = assert_envelope(response, 422, "validation_error")["details"]
        assert [d["loc"] for d in details] == [["query", next(iter(bad))]], bad


@LISTS
def test_pages_do_not_overlap_and_concatenate_to_a_bigger_page(listing: Listing, api: Api) -> None:
    pages = [_page(api, listing, limit=7, offset=offset) for offset in (0, 7, 14)]
    assert [(p["limit"], p["offset"]) for p in pages] == [(7, 0), (7, 7), (7, 14)]
    ids = [item for page in pages for item in _ids(page)]
    assert len(ids) == len(set(ids)) == 21
    assert ids == _ids(_page(api, listing, limit=21))
    beyond = _page(api, listing, offset=100000)
    assert beyond["items"] == [] and beyond["offset"] == 100000


@LISTS
def test_the_order_is_the_documented_one_ending_in_the_primary_key(listing: Listing, api: Api, db: Db) -> None:
    expected = db.ids(listing.order + " LIMIT 100", listing.order_params)
    assert len(expected) >= SIZE
    assert _ids(_page(api, listing, limit=100)) == expected
    again = _ids(_page(api, listing, limit=100))
    assert again == expected


def test_tied_sort_keys_are_ordered_by_id_not_by_insertion(clinic: Clinic, api: Api) -> None:
    thread = clinic.new_thread(messages=0)
    author = clinic.user_id(seed_email("STAFF"))
    ids = sorted((str(uuid.uuid4()) for _ in range(6)), reverse=True)  # inserted in descending id order
    for n, message_id in enumerate(ids):
        clinic.db.insert(
            "messages",
            id=message_id,
            organization_id=NORTHWIND,
            thread_id=thread,
            sender_user_id=author,
            body=str(n),
            created_at=TIE,
        )
    assert _ids(api.role("STAFF").ok("GET", f"/threads/{thread}/messages")) == sorted(ids)
