"""Each of the 16 planted defects (defects.yaml) happens on the clinic with the defects on, and not on the correct
clinic — shown with plain HTTP, SQL read-backs and the statement log (plain text inspection: these tests prove the
defects exist; Probity's own analysis of them is tested elsewhere)."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from clinic_harness import (
    CLINIC_DIR,
    NORTHWIND,
    SOUTHBAY,
    TX_CONTROL,
    Api,
    Clinic,
    assert_envelope,
    operations,
    seed_email,
    touching,
    transaction_of,
    without_auth,
)

from probity.core.errors import BackendError
from probity.core.trace import Statement
from probity.runtime.backend import BackendProcess

pytestmark = pytest.mark.postgres

DEFECTS: list[dict[str, Any]] = yaml.safe_load((CLINIC_DIR / "defects.yaml").read_text(encoding="utf-8"))["defects"]
IDS = [defect["id"] for defect in DEFECTS]

Check = Callable[[Clinic, Api, bool], None]
CHECKS: dict[str, Check] = {}


def check(defect_id: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[defect_id] = fn
        return fn

    return register


def known_to_the_clinic() -> set[str]:
    """``clinic.defects.KNOWN``, read from the source (the clinic is not importable from the test environment)."""
    tree = ast.parse((CLINIC_DIR / "defects.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "KNOWN":
            assert isinstance(node.value, ast.Call)
            known: set[str] = ast.literal_eval(node.value.args[0])
            return known
    raise AssertionError("KNOWN not found in clinic/defects.py")


def test_the_yaml_lists_exactly_the_defects_the_code_knows(openapi: dict[str, Any]) -> None:
    assert len(IDS) == len(set(IDS)) == 16
    assert set(IDS) == known_to_the_clinic()
    assert set(IDS) == set(CHECKS)
    documented = {f"{op.split(' ', 1)[0]} /api/v1{op.split(' ', 1)[1]}" for op in operations(openapi)}
    for defect in DEFECTS:
        assert defect["operation"] in documented, defect["id"]
        assert {"class", "description", "reproduce", "expect", "evidence"} <= set(defect), defect["id"]


@pytest.mark.parametrize("defects_on", [True, False], ids=["defects-on", "defects-off"])
@pytest.mark.parametrize("defect", IDS)
def test_the_defect_shows_only_when_switched_on(
    defect: str, defects_on: bool, clinic: Clinic, api: Api, bad_api: Api
) -> None:
    CHECKS[defect](clinic, bad_api if defects_on else api, defects_on)


def test_an_unknown_defect_id_makes_the_clinic_refuse_to_start(clinic: Clinic, tmp_path: Path) -> None:
    backend = BackendProcess(clinic.target, clinic.app_url, tmp_path / "bad.log", "no-such-defect")
    with pytest.raises(BackendError, match="no-such-defect"):
        backend.start()
    assert not backend.running()


# -- helpers -----------------------------------------------------------------------------------------------------


def _on(statements: list[Statement], table: str) -> list[Statement]:
    """The request's own statements on *table* (session check left out)."""
    return touching(without_auth(statements), table)


def _one_on(statements: list[Statement], table: str, starts: str = "SELECT") -> Statement:
    found = [s for s in _on(statements, table) if s.text.startswith(starts)]
    assert len(found) == 1, [s.text for s in statements]
    return found[0]


# -- tenancy -----------------------------------------------------------------------------------------------------


@check("tenancy-read-unscoped")
def _(c: Clinic, api: Api, on: bool) -> None:
    target = c.seed_patient(SOUTHBAY)
    provider = api.role("PROVIDER", NORTHWIND)
    mark = c.mark()
    response = provider.get(f"/patients/{target}")
    select = _one_on(mark.statements(), "patients")
    if on:
        assert response.status_code == 200 and response.json()["id"] == target
        assert response.json()["mrn"].startswith("SB-")
        assert "organization_id" not in select.text and NORTHWIND not in select.params
    else:
        assert_envelope(response, 404, "patient_not_found")
        assert "p.organization_id = $" in select.text and NORTHWIND in select.params


@check("tenancy-update-by-id")
def _(c: Clinic, api: Api, on: bool) -> None:
    target = c.new_appointment(SOUTHBAY)
    marker = f"cross-tenant-{uuid.uuid4().hex[:8]}"
    staff = api.role("STAFF", NORTHWIND)
    mark = c.mark()
    response = staff.patch(f"/appointments/{target}", json={"notes": marker})
    notes = c.db.value("SELECT a.notes FROM appointments a WHERE a.id = %s", (target,))
    update = _one_on(mark.statements(), "appointments", "UPDATE")
    if on:
        assert response.status_code == 200 and response.json()["notes"] == marker
        assert notes == marker
        assert "organization_id" not in update.text.split("WHERE", 1)[1]
    else:
        assert_envelope(response, 404, "appointment_not_found")
        assert notes == "fixture"
        assert "a.organization_id = $" in update.text.split("WHERE", 1)[1]


@check("tenancy-or-filter")
def _(c: Clinic, api: Api, on: bool) -> None:
    southbay_open = c.new_ticket(SOUTHBAY, status="OPEN")
    southbay_closed = c.new_ticket(SOUTHBAY, status="CLOSED")
    admin = api.role("ADMIN", NORTHWIND)
    mark = c.mark()
    listed = {t["id"] for t in admin.ok("GET", "/support/tickets", params={"limit": 100})["items"]}
    select = _one_on(mark.statements(), "support_tickets")
    foreign = listed - set(c.db.ids("SELECT t.id FROM support_tickets t WHERE t.organization_id = %s", (NORTHWIND,)))
    assert southbay_closed not in listed
    if on:
        assert southbay_open in foreign
        open_elsewhere = c.db.ids(
            "SELECT t.id FROM support_tickets t WHERE t.status = 'OPEN' AND t.organization_id <> %s", (NORTHWIND,)
        )
        assert foreign <= set(open_elsewhere)
        assert "(t.organization_id = $1 OR t.status = 'OPEN')" in select.text
    else:
        assert foreign == set()
        assert " OR " not in select.text and "t.organization_id = $1" in select.text


# -- audit -------------------------------------------------------------------------------------------------------


@check("audit-missing")
def _(c: Clinic, api: Api, on: bool) -> None:
    target = c.new_appointment()
    provider = api.role("PROVIDER")
    mark = c.mark()
    assert provider.ok("GET", f"/appointments/{target}")["id"] == target
    rows = mark.audit_rows()
    inserts = [s for s in mark.statements() if s.text.startswith("INSERT INTO audit_logs")]
    if on:
        assert rows == [] and inserts == []
    else:
        assert [(r["action"], r["resource_id"], r["actor_user_id"]) for r in rows] == [
            ("appointment.read", target, provider.user_id)
        ]
        assert len(inserts) == 1


@check("audit-wrong-actor")
def _(c: Clinic, api: Api, on: bool) -> None:
    target = c.new_patient()
    staff = api.role("STAFF")
    mark = c.mark()
    assert staff.ok("PATCH", f"/patients/{target}", json={"notes": "x"})["notes"] == "x"
    [row] = mark.audit_rows()
    assert (row["action"], row["resource_id"], row["organization_id"]) == ("patient.update", target, NORTHWIND)
    assert row["details"] == {"fields": ["notes"]}
    assert row["actor_user_id"] == (None if on else staff.user_id)


@check("audit-rolled-back")
def _(c: Clinic, api: Api, on: bool) -> None:
    target = c.new_patient(is_restricted=True)
    provider = api.role("PROVIDER")
    mark = c.mark()
    body = provider.ok("POST", f"/patients/{target}/break-glass", json={"reason": "Unconscious patient in ER"})
    assert body["id"] == target
    rows = mark.audit_rows()
    statements = without_auth(mark.statements())
    [insert] = [s for s in statements if s.text.startswith("INSERT INTO audit_logs")]  # present in both modes
    read = _one_on(statements, "patients")
    if on:
        assert rows == []
        assert transaction_of(statements, insert)[-1] == "ROLLBACK"
        assert insert.session_id != read.session_id  # a second pooled connection, not the request's transaction
        assert transaction_of(statements, read)[-1] == "COMMIT"
    else:
        assert [(r["action"], r["resource_id"], r["actor_user_id"]) for r in rows] == [
            ("patient.break_glass", target, provider.user_id)
        ]
        assert (insert.session_id, insert.vxid) == (read.session_id, read.vxid)
        assert transaction_of(statements, insert)[-1] == "COMMIT"
        assert not [s for s in statements if s.text == "ROLLBACK"]


# -- secrets -----------------------------------------------------------------------------------------------------


@check("secrets-password-hash")
def _(c: Clinic, api: Api, on: bool) -> None:
    email = seed_email("STAFF")
    hash_ = c.db.value("SELECT u.password_hash FROM users u WHERE u.email = %s", (email,))
    assert hash_ in c.canaries
    response = api.user(email).get("/users/me")
    assert response.status_code == 200 and response.json()["email"] == email
    if on:
        assert response.json()["password_hash"] == hash_
    else:
        assert "password_hash" not in response.json() and hash_ not in response.text


@check("secrets-select-star")
def _(c: Clinic, api: Api, on: bool) -> None:
    admin = api.role("ADMIN")
    mark = c.mark()
    response = admin.get(f"/organizations/{NORTHWIND}/members", params={"limit": 100})
    assert response.status_code == 200
    assert all(
        set(m) == {"id", "user_id", "email", "display_name", "role", "joined_at"} for m in response.json()["items"]
    )
    assert not [canary for canary in c.canaries if canary in response.text]  # nothing leaks over HTTP either way
    select = _one_on(mark.statements(), "users")
    if on:
        assert ", u.* FROM memberships m JOIN users u" in select.text
    else:
        assert "u.*" not in select.text and "u.email, u.display_name FROM memberships m" in select.text


@check("secrets-stripe-renamed")
def _(c: Clinic, api: Api, on: bool) -> None:
    stored = c.db.row(
        "SELECT b.stripe_token, b.invoice_reference FROM billing_accounts b WHERE b.organization_id = %s", (NORTHWIND,)
    )
    assert stored is not None and stored["stripe_token"] in c.canaries
    reference = api.role("ADMIN").ok("GET", "/billing/account")["payment_reference"]
    if on:
        assert reference == stored["stripe_token"] and reference.startswith("tok_CANARYSTRIPE_")
    else:
        assert reference == stored["invoice_reference"] and reference not in c.canaries


# -- pagination --------------------------------------------------------------------------------------------------


@check("pagination-no-cap")
def _(c: Clinic, api: Api, on: bool) -> None:
    live = c.db.value(
        "SELECT count(*) FROM patients p WHERE p.organization_id = %s AND p.deleted_at IS NULL", (NORTHWIND,)
    )
    admin = api.role("ADMIN")
    mark = c.mark()
    response = admin.get("/patients", params={"limit": 100000})
    selects = _on(mark.statements(), "patients")
    if on:
        assert response.status_code == 200
        assert response.json()["limit"] == 100000 and len(response.json()["items"]) == min(live, 100000)
        assert [s.params[-2:] for s in selects if s.text.startswith("SELECT")] == [("100000", "0")]
    else:
        assert_envelope(response, 422, "validation_error")
        assert selects == []  # refused before any SQL
    # the int32 sanity bound holds in both modes: never a 500
    assert_envelope(api.role("ADMIN").get("/patients", params={"limit": 2**31}), 422, "validation_error")


@check("pagination-no-limit")
def _(c: Clinic, api: Api, on: bool) -> None:
    email = c.fresh_user("STAFF")
    for _ in range(12):
        c.new_notification(email)
    client = api.user(email)
    mark = c.mark()
    body = client.ok("GET", "/notifications", params={"limit": 5})
    select = _one_on(mark.statements(), "notifications")
    assert body["limit"] == 5
    if on:
        assert len(body["items"]) == 12
        assert "LIMIT" not in select.text
    else:
        assert len(body["items"]) == 5
        assert select.text.endswith("LIMIT $3 OFFSET $4") and select.params[2:] == ("5", "0")


@check("pagination-no-order")
def _(c: Clinic, api: Api, on: bool) -> None:
    thread = c.new_thread(messages=4)
    admin = api.role("ADMIN")
    mark = c.mark()
    assert len(admin.ok("GET", f"/threads/{thread}/messages")["items"]) == 4
    select = _one_on([s for s in mark.statements() if "FROM messages m" in s.text], "messages")
    assert "LIMIT $3 OFFSET $4" in select.text
    if on:
        assert "ORDER BY" not in select.text
    else:
        assert "ORDER BY m.created_at, m.id LIMIT" in select.text


# -- injection, N+1, contract, robustness ------------------------------------------------------------------------


@check("injection-interpolated")
def _(c: Clinic, api: Api, on: bool) -> None:
    staff = api.role("STAFF")
    selects: dict[str, Statement] = {}
    for status in ("NO_SHOW", "COMPLETED"):
        mark = c.mark()
        items = staff.ok("GET", "/appointments", params={"status": status, "limit": 100})["items"]
        assert items and {a["status"] for a in items} == {status}
        selects[status] = _one_on(mark.statements(), "appointments")
    no_show = selects["NO_SHOW"]
    if on:
        assert "a.status = 'NO_SHOW'" in no_show.text and "NO_SHOW" not in no_show.params
        assert selects["NO_SHOW"].text != selects["COMPLETED"].text  # the SQL text varies with the request value
    else:
        assert "'NO_SHOW'" not in no_show.text and "a.status = $2" in no_show.text and no_show.params[1] == "NO_SHOW"
        assert selects["NO_SHOW"].text == selects["COMPLETED"].text


@check("n-plus-one")
def _(c: Clinic, api: Api, on: bool) -> None:
    admin = api.role("ADMIN")
    per_page: dict[int, int] = {}
    for size in (3, 9):
        mark = c.mark()
        threads = admin.ok("GET", "/threads", params={"limit": size})["items"]
        assert len(threads) == size
        work = [s for s in without_auth(mark.statements()) if s.text not in TX_CONTROL]
        per_page[size] = len([s for s in work if not s.text.startswith("INSERT INTO audit_logs")])
        if on:
            repeated = [s for s in work if s.text.startswith("SELECT m.id") and "FROM messages m" in s.text]
            assert {s.params[1] for s in repeated} == {t["id"] for t in threads}  # one SELECT per thread
    if on:
        assert per_page == {3: 1 + 3, 9: 1 + 9}
    else:
        assert per_page == {3: 1, 9: 1}  # one statement (LEFT JOIN LATERAL) whatever the page size


@check("contract-schema-break")
def _(c: Clinic, api: Api, on: bool) -> None:
    ticket = c.new_ticket()  # priority NORMAL
    priority = api.role("ADMIN").ok("GET", f"/support/tickets/{ticket}")["priority"]
    listed = {t["id"]: t["priority"] for t in api.role("ADMIN").ok("GET", "/support/tickets")["items"]}
    assert listed[ticket] == "NORMAL"  # only the single-ticket read is affected
    if on:
        assert priority == 2 and isinstance(priority, int)
    else:
        assert priority == "NORMAL"


@check("server-error-500")
def _(c: Clinic, api: Api, on: bool) -> None:
    unknown = str(uuid.uuid4())
    body = {
        "patient_id": unknown,
        "provider_user_id": c.user_id(seed_email("PROVIDER")),
        "starts_at": "2026-12-01T10:00:00Z",
    }
    staff = api.role("STAFF")
    mark = c.mark()
    response = staff.post("/appointments", json=body)
    statements = without_auth(mark.statements())
    inserts = [s for s in statements if s.text.startswith("INSERT INTO appointments")]
    assert c.db.count("appointments", patient_id=unknown) == 0 and mark.audit_rows() == []
    if on:
        assert_envelope(response, 500, "internal_error")
        [insert] = inserts
        assert insert.sqlstate == "23503"  # foreign_key_violation
        assert transaction_of(statements, insert)[-1] == "ROLLBACK"
    else:
        assert_envelope(response, 404, "patient_not_found")
        assert inserts == []
