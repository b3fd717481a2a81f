"""No secret ever leaves the database: none of the 28 canaries (password hashes, MFA secrets, Stripe ids and
tokens) appears in any response of a broad sweep of reads, for every role in both organizations."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from clinic_harness import DOMAINS, ORGS, ROLES, SEED_USERS, Api, Client, Clinic, seed_email

pytestmark = pytest.mark.postgres

SECRET_KEYS = {"password_hash", "mfa_secret", "stripe_token", "stripe_customer_id"}


def _first_id(client: Client, path: str) -> str | None:
    response = client.get(path, params={"limit": 1})
    items = response.json().get("items") if response.status_code == 200 else None
    return items[0]["id"] if items else None


def sweep(clinic: Clinic, api: Api, email: str, strict: bool = True) -> list[requests.Response]:
    """Every read this user may make, with real ids from its own lists (*strict*: each must answer 200)."""
    client = api.user(email)
    org = client.org_id
    paths = [
        "/users/me",
        f"/organizations/{org}",
        "/patients?limit=100",
        "/appointments?limit=100",
        "/threads?limit=100",
        "/notifications?limit=100",
        "/support/tickets?limit=100",
        "/health",
    ]
    if client.role != "PATIENT":
        paths.append(f"/organizations/{org}/members?limit=100")
    if client.role == "ADMIN":
        paths += ["/billing/account", "/audit-logs?limit=100"]
    if patient := _first_id(client, "/patients"):
        paths += [f"/patients/{patient}", f"/patients/{patient}/proxies"]
    if appointment := _first_id(client, "/appointments"):
        paths.append(f"/appointments/{appointment}")
    if thread := _first_id(client, "/threads"):
        paths += [f"/threads/{thread}", f"/threads/{thread}/messages"]
    if ticket := _first_id(client, "/support/tickets"):
        paths += [f"/support/tickets/{ticket}", f"/support/tickets/{ticket}/messages"]
    responses = [client.get(path) for path in paths]
    responses.append(client.get("/events/stream"))
    responses.append(api.login(email))
    for response in responses if strict else ():
        assert response.status_code == 200, f"{response.url}: {response.status_code}"
    return responses


def json_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(json_keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(json_keys(item) for item in value))
    return set()


def leaks(responses: list[requests.Response], canaries: list[str]) -> list[str]:
    found: list[str] = []
    for response in responses:
        found += [f"{response.url}: canary {canary[:24]}" for canary in canaries if canary in response.text]
        if response.headers["content-type"].startswith("application/json"):
            found += [f"{response.url}: key {key}" for key in sorted(json_keys(response.json()) & SECRET_KEYS)]
    return found


SEED_EMAILS = [f"{name}@{domain}" for domain in DOMAINS.values() for name in SEED_USERS]


def test_the_canary_file_holds_exactly_the_secrets_the_seed_planted(clinic: Clinic) -> None:
    users = clinic.db.rows("SELECT u.password_hash, u.mfa_secret FROM users u WHERE u.email = ANY(%s)", (SEED_EMAILS,))
    billing = clinic.db.rows("SELECT b.stripe_token, b.stripe_customer_id FROM billing_accounts b")
    planted = [value for row in users + billing for value in row.values()]
    assert len(users) == 12 and len(billing) == 2
    assert sorted(planted) == sorted(clinic.canaries)


@pytest.mark.parametrize("org", ORGS, ids=["northwind", "southbay"])
@pytest.mark.parametrize("role", ROLES)
def test_no_canary_in_any_read(role: str, org: str, clinic: Clinic, api: Api) -> None:
    responses = sweep(clinic, api, seed_email(role, org))
    assert len(responses) >= 12
    assert leaks(responses, clinic.canaries) == []


def test_the_sweep_does_find_planted_leaks(clinic: Clinic, bad_api: Api) -> None:
    """With the defects on, the same sweep reports the password hash and the Stripe token: it can fail."""
    found = leaks(sweep(clinic, bad_api, seed_email("ADMIN"), strict=False), clinic.canaries)
    assert any("/users/me" in leak and "canary pbkdf2_sha256" in leak for leak in found), found
    assert any("/users/me" in leak and "key password_hash" in leak for leak in found), found
    assert any("/billing/account" in leak and "canary tok_CANARYSTRIPE" in leak for leak in found), found


def test_mfa_setup_returns_a_fresh_secret_never_a_canary(clinic: Clinic, api: Api) -> None:
    client = api.user(clinic.fresh_user("PATIENT"))
    body = client.ok("POST", "/users/me/mfa/setup")
    assert body["secret"] not in clinic.canaries and not body["secret"].startswith("CANARY")
    assert leaks([client.get("/users/me")], clinic.canaries) == []
    assert "mfa_secret" not in json.dumps(client.ok("GET", "/users/me"))
