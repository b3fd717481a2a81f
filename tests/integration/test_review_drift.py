"""``probity review --dsn``: the DDL against a running database's catalog; clean, then each kind of drift.

One embedded cluster for the module; each case loads schema.sql into a database of its own, changes it, and
reviews the clinic's documents against it: the only failing rules must be the drift the change made.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from probity.core.findings import Outcome
from probity.review.run import ReviewDocuments, review_documents
from probity.runtime.postgres import EmbeddedPostgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ReviewDocuments(
    reference=ROOT / "fixtures" / "clinic" / "docs" / "api-reference.md",
    blueprint=ROOT / "fixtures" / "clinic" / "docs" / "backend-details.md",
    ddl=ROOT / "fixtures" / "clinic" / "schema.sql",
    policy=ROOT / "contracts" / "clinic" / "policy.yaml",
)

CHANGES = [
    pytest.param("ALTER TABLE patients DROP COLUMN notes", "review.drift.column_missing", id="dropped column"),
    pytest.param("DROP INDEX patients_given_name_idx", "review.drift.index_missing", id="dropped index"),
    pytest.param(
        "ALTER TABLE appointments ALTER COLUMN reason TYPE varchar(200)", "review.drift.type_changed", id="changed type"
    ),  # fmt: skip
    pytest.param("ALTER TABLE patients ADD COLUMN blood_type text", "review.drift.column_extra", id="added column"),
    pytest.param("DROP TABLE telemetry_events", "review.drift.table_missing", id="dropped table"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedPostgres]:
    """One cluster for the module, in a folder of its own outside pytest's private tree (as the ``isolated_state``
    fixture does: as root, the server runs as another account that must reach it); stopped at the end."""
    monkeypatch = pytest.MonkeyPatch()
    base = Path(tempfile.mkdtemp(prefix="probity-review-drift-"))
    base.chmod(0o755)
    monkeypatch.setenv("PROBITY_STATE_DIR", str(base / "state"))
    try:
        with EmbeddedPostgres() as pg:
            yield pg
    finally:
        monkeypatch.undo()
        shutil.rmtree(base, ignore_errors=True)


def _database(pg: EmbeddedPostgres, name: str, change: str | None = None) -> str:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    url = pg.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DOCUMENTS.ddl.read_bytes())
        if change:
            conn.execute(change.encode())
    return url


def test_the_clinic_schema_has_no_drift(cluster: EmbeddedPostgres) -> None:
    report = review_documents(DOCUMENTS, _database(cluster, "clean"))
    drift = [r for r in report.results if r.check == "review.drift"]
    assert [(r.rule, r.outcome) for r in drift] == [("review.drift.same", Outcome.PASS)]
    assert report.drift_checked and report.exit_code == 0


@pytest.mark.parametrize(("change", "rule"), CHANGES)
def test_each_drift_is_reported(
    cluster: EmbeddedPostgres, change: str, rule: str, request: pytest.FixtureRequest
) -> None:
    name = "drift_" + request.node.callspec.id.replace(" ", "_")
    report = review_documents(DOCUMENTS, _database(cluster, name, change))
    failing = [r for r in report.results if r.failed]
    assert {r.rule for r in failing} == {rule}, [(r.operation, r.rule, r.message) for r in failing]
    assert report.exit_code == 1


def test_an_unreachable_database_is_a_configuration_error() -> None:
    from probity.core.errors import ConfigError

    with pytest.raises(ConfigError, match="drift check"):
        review_documents(DOCUMENTS, "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
