"""A pass's credentials file (Web Fuzzing Commons auth, live tokens) exists only while schemathesis loads the
schema: no request of the pass is sent while it is on disk, and it is gone afterwards."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from http_stub import StubServer

from probity.core.principals import Principals
from probity.core.redact import Redactor
from probity.engine import contract_run
from probity.engine.auth import TokenBroker
from probity.engine.plan import Pass, RunPlan

OK = {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}
CONTRACT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "items", "version": "1"},
    "security": [{"bearer": []}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "paths": {"/items": {"get": {"responses": OK}}},
}
ADMINS = [{"name": f"{t}_admin", "tenant": t, "role": "ADMIN", "token": {"env": "ITEMS_TOKEN"}} for t in "ab"]


def test_no_request_is_sent_while_the_credentials_file_exists(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Path] = []
    mkdtemp = tempfile.mkdtemp

    def recorded(prefix: str | None = None) -> str:
        made.append(Path(mkdtemp(prefix=prefix)))
        return str(made[-1])

    seen_on_disk: list[bool] = []

    def handler(method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        seen_on_disk.append(any(folder.exists() for folder in made))
        return 200, {}

    stub.handler = handler
    monkeypatch.setattr(contract_run.tempfile, "mkdtemp", recorded)
    monkeypatch.setenv("ITEMS_TOKEN", "token-of-the-test")
    plan = RunPlan(api_root=stub.origin, passes=(), seed=1, max_examples=3, phases=("examples", "fuzzing"))
    run_pass = Pass(role="ADMIN", pinned="a_admin", peers=("a_admin", "b_admin"))
    broker = TokenBroker(stub.origin, Principals.model_validate({"principals": ADMINS}))
    contract_run.run_contract_pass(CONTRACT, plan, run_pass, broker, Redactor(), observer=None)
    assert made and seen_on_disk, "the pass made its credentials file and sent requests"
    assert not any(seen_on_disk), "a request was sent while the credentials file was on disk"
    assert not any(folder.exists() for folder in made)
