"""The reference clinic, started once per test session (per xdist worker) on a real PostgreSQL.

``clinic`` is the whole thing (see :mod:`clinic_harness`); ``api`` is the correct clinic and ``bad_api`` a second
clinic process on the same database with every planted defect on (``defects="all"``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from clinic_harness import DOMAINS, ORGS, SEED_USERS, TARGET_FILE, Api, Clinic, Db, StatementLog

from probity.core.target import load_target
from probity.runtime.backend import BackendProcess
from probity.runtime.stack import EmbeddedStack


@pytest.fixture(scope="session")
def clinic() -> Iterator[Clinic]:
    base = Path(tempfile.mkdtemp(prefix="probity-clinic-tests-"))  # the two clinics' logs
    stack = EmbeddedStack(load_target(TARGET_FILE), base / "work")
    defective: BackendProcess | None = None
    http = requests.Session()
    db: Db | None = None
    try:
        # The cluster lives under Probity's usual state folder, so a killed run's orphan is swept by the next start.
        stack.start()
        assert stack.pg is not None and stack.database is not None and stack.backend is not None
        defective = BackendProcess(stack.target, stack.database.app_url, base / "work" / "defects.log", "all").start()
        db = Db(stack.database.admin_url)
        log = StatementLog(stack.pg.log_dir / "postgresql.json", stack.database.app.user, db)
        tokens: dict[str, str] = {}
        good = Api(stack.backend.base_url, stack.backend.origin, http, tokens, db)
        bad = Api(defective.base_url, defective.origin, http, tokens, db)
        for org in ORGS:  # log every seed user in now, so no test's window catches a first login by surprise
            for name in SEED_USERS:
                good.user(f"{name}@{DOMAINS[org]}")
        yield Clinic(db, log, good, bad, stack.target, stack.database.app_url)
    finally:
        http.close()
        if db is not None:
            db.close()
        if defective is not None:
            defective.stop()
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def api(clinic: Clinic) -> Api:
    return clinic.good


@pytest.fixture(scope="session")
def bad_api(clinic: Clinic) -> Api:
    return clinic.bad


@pytest.fixture(scope="session")
def db(clinic: Clinic) -> Db:
    return clinic.db


@pytest.fixture(scope="session")
def openapi(api: Api) -> dict[str, Any]:
    response = api.http.get(api.origin + "/openapi.json", timeout=30)
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc
