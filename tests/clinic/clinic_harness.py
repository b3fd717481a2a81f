"""The reference clinic under test: its stack, an HTTP client per seed user, SQL read-backs and the statement log.

One :class:`Clinic` per test session (per xdist worker): an embedded PostgreSQL provisioned from
``contracts/clinic/target.yaml``, the correct clinic on it, and a second clinic process with every planted
defect switched on, on the SAME database. Tests never rely on another test's writes: what a test mutates,
it creates first (through the API or, for plain fixtures, straight in SQL with :meth:`Db.insert`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import struct
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import requests
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from probity.capture.records import parse_lines
from probity.core.target import Target
from probity.core.trace import Statement

ROOT = Path(__file__).resolve().parents[2]
CLINIC_DIR = ROOT / "fixtures" / "clinic"
TARGET_FILE = ROOT / "contracts" / "clinic" / "target.yaml"

PASSWORD = "Clinic-Demo-2026!"
NORTHWIND = "5cadbce9-673f-5b44-8793-4fadbbcf5307"
SOUTHBAY = "977c7ddb-9e5f-592f-9539-b635c074e545"
ORGS = (NORTHWIND, SOUTHBAY)
DOMAINS = {NORTHWIND: "northwind.clinic.test", SOUTHBAY: "southbay.clinic.test"}
ROLES = ("ADMIN", "PROVIDER", "STAFF", "PATIENT")
SEED_USERS = ("admin", "provider1", "provider2", "staff", "patient1", "patient2")
SEED_LOGIN = {"ADMIN": "admin", "PROVIDER": "provider1", "STAFF": "staff", "PATIENT": "patient1"}

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
STACK_TRACE_MARKERS = ("Traceback", 'File "', '.py"', "psycopg.", "site-packages", "sqlstate")

Row = dict[str, Any]


def other(org: str) -> str:
    return SOUTHBAY if org == NORTHWIND else NORTHWIND


def seed_email(role: str, org: str = NORTHWIND) -> str:
    """The seed login of *role* (ADMIN → admin@…, PROVIDER → provider1@…) or a seed user name."""
    return f"{SEED_LOGIN.get(role, role)}@{DOMAINS[org]}"


def canaries() -> list[str]:
    return [line.strip() for line in (CLINIC_DIR / "canaries.txt").read_text(encoding="utf-8").splitlines() if line]


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s), written independently of the clinic's own implementation."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), "sha1").digest()
    offset = digest[-1] & 0x0F
    return str((struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000).zfill(6)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


# -- SQL --------------------------------------------------------------------------------------------------------


class Db:
    """An admin (superuser) connection for read-backs and fixtures; autocommit, rows as dicts, uuids as text."""

    def __init__(self, url: str) -> None:
        self.conn: psycopg.Connection[Row] = psycopg.connect(
            url, autocommit=True, row_factory=dict_row, application_name="clinic-tests"
        )

    def close(self) -> None:
        self.conn.close()

    def rows(self, query: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> list[Row]:
        rows = self.conn.execute(query.encode(), params if isinstance(params, Mapping) else tuple(params)).fetchall()
        return [{key: _plain(value) for key, value in row.items()} for row in rows]

    def row(self, query: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> Row | None:
        found = self.rows(query, params)
        return found[0] if found else None

    def value(self, query: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> Any:
        found = self.row(query, params)
        return None if found is None else next(iter(found.values()))

    def ids(self, query: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> list[str]:
        return [str(next(iter(row.values()))) for row in self.rows(query, params)]

    def now(self) -> datetime:
        moment: datetime = self.conn.execute("SELECT clock_timestamp() AS t").fetchone()["t"]  # type: ignore[index]
        return moment

    def insert(self, table: str, **values: Any) -> str:
        """Insert one row straight into *table* (a fixture, not a request); return its id."""
        columns = sql.SQL(", ").join(sql.Identifier(name) for name in values)
        marks = sql.SQL(", ").join(sql.Placeholder() for _ in values)
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
            sql.Identifier(table), columns, marks
        )
        row = self.conn.execute(statement, tuple(_db_value(v) for v in values.values())).fetchone()
        assert row is not None
        return str(row["id"])

    def snapshot(self, table: str, row_id: str) -> Row | None:
        """The whole row as JSON, to show that a refused write left it untouched."""
        query = sql.SQL("SELECT to_jsonb(t) AS row FROM {} t WHERE t.id = %s").format(sql.Identifier(table))
        found = self.conn.execute(query, (row_id,)).fetchone()
        return None if found is None else dict(found["row"])

    def count(self, table: str, **where: Any) -> int:
        conditions = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(name)) for name in where
        ) or sql.SQL("true")
        query = sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(sql.Identifier(table), conditions)
        found = self.conn.execute(query, tuple(where.values())).fetchone()
        assert found is not None
        return int(found["n"])


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def _db_value(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


# -- the statement log ------------------------------------------------------------------------------------------


class StatementLog:
    """The cluster's JSON statement log, read between two points and parsed with Probity's capture parser."""

    def __init__(self, path: Path, app_user: str, db: Db) -> None:
        self.path = path
        self.app_user = app_user
        self.db = db

    def offset(self) -> int:
        """A position in the log after everything the server has logged so far (the collector writes late)."""
        start = self.path.stat().st_size if self.path.exists() else 0
        block, _ = self._through_fence(start)
        return start + len(block)

    def since(self, offset: int) -> list[Statement]:
        """The clinic's statements logged after *offset* and before now."""
        block, _ = self._through_fence(offset)
        lines = [line for line in block.split(b"\n") if line]
        return [s for s in parse_lines(lines) if s.user == self.app_user]

    def _through_fence(self, offset: int, timeout: float = 10.0) -> tuple[bytes, int]:
        """Log a fence statement and wait for it: the log from *offset* up to and including the fence's line."""
        fence = f"clinic_tests_fence_{uuid.uuid4().hex}".encode()
        self.db.conn.execute(b"SELECT '" + fence + b"' AS fence")
        deadline = time.monotonic() + timeout
        while True:
            if self.path.exists():
                with self.path.open("rb") as log:
                    log.seek(offset)
                    block = log.read()
                at = block.find(fence)
                end = block.find(b"\n", at)
                if at >= 0 and end >= 0:
                    return block[: end + 1], offset
            if time.monotonic() > deadline:
                raise AssertionError(f"the fence statement never reached {self.path}")
            time.sleep(0.002)


@dataclass
class Window:
    """What happened in the database between :meth:`Clinic.mark` and now."""

    clinic: Clinic
    offset: int
    since: datetime

    def statements(self) -> list[Statement]:
        return self.clinic.log.since(self.offset)

    def audit_rows(self) -> list[Row]:
        return self.clinic.db.rows(
            "SELECT a.id, a.organization_id, a.actor_user_id, a.action, a.resource_type, a.resource_id, a.details "
            "FROM audit_logs a WHERE a.occurred_at >= %s ORDER BY a.occurred_at, a.id",
            (self.since,),
        )


def touching(statements: Iterable[Statement], table: str) -> list[Statement]:
    """Statements that read or write *table* (by its name as a whole word in the text)."""
    word = re.compile(rf"\b(FROM|JOIN|INTO|UPDATE)\s+{re.escape(table)}\b", re.IGNORECASE)
    return [s for s in statements if word.search(s.text)]


def is_auth_check(statement: Statement) -> bool:
    """The per-request session check every authenticated request runs in its own transaction."""
    return statement.text.startswith("SELECT m.id AS membership_id, m.role FROM sessions s")


# -- HTTP -------------------------------------------------------------------------------------------------------


@dataclass
class Client:
    """Requests as one identity (or none) against one clinic process."""

    api: Api
    email: str | None = None
    token: str | None = None
    user_id: str = ""
    org_id: str = ""
    role: str = ""

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.api.http.request(method, self.api.base_url + path, headers=headers, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """Send and insist on *status*; return the decoded body (None for 204)."""
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return None if status == 204 else response.json()


class Api:
    """One clinic process: its URL, a shared token cache (the two processes share the database and JWT key)."""

    def __init__(self, base_url: str, origin: str, http: requests.Session, tokens: dict[str, str], db: Db) -> None:
        self.base_url = base_url
        self.origin = origin
        self.http = http
        self.tokens = tokens
        self.db = db

    @property
    def anon(self) -> Client:
        return Client(self)

    def login(self, email: str, password: str = PASSWORD, **extra: Any) -> requests.Response:
        return self.anon.post("/auth/login", json={"email": email, "password": password, **extra})

    def user(self, email: str) -> Client:
        """A logged-in client for *email*; its access token is cached for the session."""
        token = self.tokens.get(email)
        if token is None:
            response = self.login(email)
            assert response.status_code == 200, f"login {email}: {response.status_code} {response.text}"
            token = self.tokens[email] = response.json()["access_token"]
        member = self.db.row(
            "SELECT u.id AS user_id, m.organization_id AS org_id, m.role FROM users u "
            "JOIN memberships m ON m.user_id = u.id WHERE u.email = %s",
            (email,),
        )
        assert member is not None, email
        return Client(self, email, token, member["user_id"], member["org_id"], member["role"])

    def role(self, role: str, org: str = NORTHWIND) -> Client:
        return self.user(seed_email(role, org))


# -- the whole thing --------------------------------------------------------------------------------------------


@dataclass
class Clinic:
    """Everything a clinic test needs; built once per session by the ``clinic`` fixture."""

    db: Db
    log: StatementLog
    good: Api
    bad: Api
    target: Target
    app_url: str  # how the clinic connects (its own unprivileged role)
    canaries: list[str] = field(default_factory=canaries)

    def mark(self) -> Window:
        """Remember "now" in the statement log and the audit table."""
        return Window(self, self.log.offset(), self.db.now())

    # -- fixtures made straight in SQL (not requests: they must not write audit rows or need a role) --------

    def fresh_user(self, role: str, org: str = NORTHWIND) -> str:
        """A new member of *org* with the demo password; returns its email. For account-level mutations."""
        email = f"t-{uuid.uuid4().hex[:12]}@{DOMAINS[org]}"
        hash_ = self.db.value("SELECT password_hash FROM users WHERE email = %s", (seed_email("ADMIN", org),))
        user_id = self.db.insert("users", email=email, password_hash=hash_, display_name="Test " + role.title())
        self.db.insert("memberships", organization_id=org, user_id=user_id, role=role)
        return email

    def user_id(self, email: str) -> str:
        return str(self.db.value("SELECT id FROM users WHERE email = %s", (email,)))

    def membership_id(self, email: str) -> str:
        return str(
            self.db.value(
                "SELECT m.id FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = %s", (email,)
            )
        )

    def new_patient(self, org: str = NORTHWIND, **values: Any) -> str:
        fields: dict[str, Any] = {
            "organization_id": org,
            "mrn": f"T-{uuid.uuid4().hex[:10]}",
            "given_name": "Tess",
            "family_name": "Fixture",
            "date_of_birth": "1980-05-06",
            **values,
        }
        return self.db.insert("patients", **fields)

    def new_appointment(self, org: str = NORTHWIND, patient_id: str | None = None, **values: Any) -> str:
        fields: dict[str, Any] = {
            "organization_id": org,
            "patient_id": patient_id or self.new_patient(org),
            "provider_user_id": self.user_id(seed_email("PROVIDER", org)),
            "starts_at": "2027-03-01T09:00:00Z",
            "ends_at": "2027-03-01T09:30:00Z",
            "notes": "fixture",
            **values,
        }
        return self.db.insert("appointments", **fields)

    def new_proxy(self, org: str = NORTHWIND, patient_id: str | None = None) -> str:
        return self.db.insert(
            "proxies",
            organization_id=org,
            patient_id=patient_id or self.new_patient(org),
            full_name="Fiona Fixture",
            relationship="SPOUSE",
        )

    def new_thread(self, org: str = NORTHWIND, patient_id: str | None = None, messages: int = 1) -> str:
        author = self.user_id(seed_email("STAFF", org))
        thread = self.db.insert(
            "message_threads",
            organization_id=org,
            patient_id=patient_id or self.new_patient(org),
            subject="Fixture thread",
            created_by=author,
        )
        for n in range(messages):
            self.db.insert("messages", organization_id=org, thread_id=thread, sender_user_id=author, body=f"m{n}")
        return thread

    def new_ticket(self, org: str = NORTHWIND, requester: str | None = None, status: str = "OPEN") -> str:
        requester_id = self.user_id(requester or seed_email("ADMIN", org))
        ticket = self.db.insert(
            "support_tickets", organization_id=org, requester_user_id=requester_id, subject="Fixture", status=status
        )
        self.db.insert(
            "support_messages", organization_id=org, ticket_id=ticket, author_user_id=requester_id, body="hi"
        )
        return ticket

    def new_notification(self, email: str, read: bool = False, created_at: str | None = None) -> str:
        member = self.db.row(
            "SELECT m.organization_id, m.user_id FROM memberships m JOIN users u ON u.id = m.user_id "
            "WHERE u.email = %s",
            (email,),
        )
        assert member is not None
        values: dict[str, Any] = {"kind": "SYSTEM", "title": "Fixture", "body": "Fixture notification"}
        if read:
            values["read_at"] = "2026-01-02T00:00:00Z"
        if created_at:
            values["created_at"] = created_at
        return self.db.insert(
            "notifications", organization_id=member["organization_id"], user_id=member["user_id"], **values
        )

    # -- seed lookups -------------------------------------------------------------------------------------------

    def seed_patient(self, org: str = NORTHWIND, restricted: bool = False) -> str:
        """A live seed patient not linked to a login (MRN order), restricted or not."""
        return self.db.ids(
            "SELECT p.id FROM patients p WHERE p.organization_id = %s AND p.deleted_at IS NULL AND p.user_id IS NULL "
            "AND p.is_restricted = %s AND p.mrn ~ '^(NW|SB)-' ORDER BY p.mrn LIMIT 1 OFFSET 2",
            (org, restricted),
        )[0]

    def own_patient(self, email: str) -> str:
        """The patient record linked to a PATIENT-role user."""
        return str(
            self.db.value("SELECT p.id FROM patients p JOIN users u ON u.id = p.user_id WHERE u.email = %s", (email,))
        )


def sse_events(text: str) -> list[dict[str, str]]:
    """Parse a text/event-stream body into its events (field name → value)."""
    events: list[dict[str, str]] = []
    for block in text.strip().split("\n\n"):
        event: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            event[name] = value
        if event:
            events.append(event)
    return events


def assert_envelope(response: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The documented error envelope: {code, message[, details]}, snake_case code, no stack trace."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) <= {"code", "message", "details"} and {"code", "message"} <= set(body), body
    assert ERROR_CODE.match(body["code"]), body
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body
    if "details" in body:
        assert status == 422 and isinstance(body["details"], list) and body["details"]
        for detail in body["details"]:
            assert set(detail) == {"loc", "message", "type"}, detail
    for marker in STACK_TRACE_MARKERS:
        assert marker not in response.text, f"{marker!r} in an error body: {response.text[:500]}"
    return body


def assert_security_headers(response: requests.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{name}: {response.headers.get(name)!r}"


API_PREFIX = "/api/v1"


def operations(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The OpenAPI document's operations keyed "METHOD /path" (paths without the /api/v1 prefix)."""
    return {
        f"{method.upper()} {path.removeprefix(API_PREFIX)}": operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


def without_auth(statements: Iterable[Statement]) -> list[Statement]:
    """The statements of a request minus its session check transaction (BEGIN, the check, COMMIT)."""
    statements = list(statements)
    checks = {(s.session_id, s.vxid) for s in statements if is_auth_check(s)}
    return [s for s in statements if (s.session_id, s.vxid) not in checks]


TX_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})


def transaction_of(statements: Iterable[Statement], member: Statement) -> list[str]:
    """The texts of *member*'s transaction, BEGIN to COMMIT/ROLLBACK, from its session's statements in log order.

    (By session order, not vxid: the server logs the ROLLBACK of an aborted transaction with vxid ``n/0``.)
    """
    same = [s for s in statements if s.session_id == member.session_id]
    at = next(k for k, s in enumerate(same) if s is member)
    start = max((k for k in range(at + 1) if same[k].text == "BEGIN"), default=0)
    end = next((k for k in range(at, len(same)) if same[k].text in ("COMMIT", "ROLLBACK")), len(same) - 1)
    return [s.text for s in same[start : end + 1]]
