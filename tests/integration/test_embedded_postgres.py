"""The embedded PostgreSQL: real servers, started, logging JSON lines, stopped and cleaned up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from probity.core.errors import PostgresError
from probity.runtime.clusters import cleanup_stale, pid_alive, state_root
from probity.runtime.pgbin import PostgresBinaries, _pgserver_bindir, _probe, find_binaries
from probity.runtime.postgres import EmbeddedPostgres

pytestmark = pytest.mark.postgres


def _log_records(pg: EmbeddedPostgres) -> list[dict[str, object]]:
    text = (pg.log_dir / "postgresql.json").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _wait_for(predicate: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_every_statement_lands_in_the_json_log_with_parameters_and_durations(isolated_state: Path) -> None:
    with EmbeddedPostgres() as pg, psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute("SELECT %s::int + 1 AS probity_marker", (41,))
        marker = "probity_marker"
        assert _wait_for(lambda: any(marker in str(r.get("message")) for r in _log_records(pg)))
        records = [r for r in _log_records(pg) if marker in str(r.get("message"))]
        executed = [r for r in records if str(r["message"]).startswith("execute")]
        assert executed and executed[0]["detail"] == "parameters: $1 = '41'"
        assert executed[0]["user"] == "probity" and executed[0]["dbname"] == "postgres"
        assert any(str(r["message"]).startswith("duration:") for r in _log_records(pg))


def test_cluster_settings_are_those_statement_capture_needs(isolated_state: Path) -> None:
    with EmbeddedPostgres() as pg, psycopg.connect(pg.url("postgres")) as conn:
        rows = dict(conn.execute("SELECT name, setting FROM pg_settings").fetchall())
        assert rows["log_destination"] == "jsonlog"
        assert rows["logging_collector"] == "on"
        assert rows["log_statement"] == "all"
        assert rows["log_min_duration_statement"] == "0"
        assert rows["log_rotation_size"] == "0" and rows["log_rotation_age"] == "0"
        assert rows["listen_addresses"] == "127.0.0.1"


@pytest.mark.skipif(os.getuid() != 0, reason="only root must hand the server to another account")
def test_as_root_the_server_runs_unprivileged(isolated_state: Path) -> None:
    with EmbeddedPostgres() as pg:
        pid = int((pg.data_dir / "postmaster.pid").read_text().splitlines()[0])
        assert os.stat(f"/proc/{pid}").st_uid != 0


def test_stop_removes_the_cluster_and_its_server(isolated_state: Path) -> None:
    pg = EmbeddedPostgres().start()
    folder = pg.dir
    assert folder is not None
    pid = int((pg.data_dir / "postmaster.pid").read_text().splitlines()[0])
    pg.stop()
    pg.stop()  # idempotent
    assert not folder.exists()
    assert not pid_alive(pid)


def test_wrong_password_is_refused(isolated_state: Path) -> None:
    with EmbeddedPostgres() as pg:
        wrong = pg.url("postgres").replace(pg.superuser.password, "not-the-password")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong)


KILLED_OWNER = """
import sys, time
from probity.runtime.postgres import EmbeddedPostgres
pg = EmbeddedPostgres().start()
print(pg.dir, flush=True)
time.sleep(600)
"""


def test_a_killed_run_leaves_no_orphan_after_the_next_start(isolated_state: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", KILLED_OWNER], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    folder = Path(owner.stdout.readline().strip())
    owner.stdout.close()
    server_pid = int((folder / "data" / "postmaster.pid").read_text().splitlines()[0])
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert pid_alive(server_pid), "the server outlives its killed owner until the next start"
    removed = cleanup_stale(state_root())
    assert removed == [folder]
    assert not folder.exists()
    assert _wait_for(lambda: not pid_alive(server_pid))


def test_a_live_owners_cluster_is_left_alone(isolated_state: Path) -> None:
    with EmbeddedPostgres() as pg:
        assert cleanup_stale(state_root()) == []
        assert pg.dir is not None and pg.dir.exists()


def test_pgserver_wheel_binaries_work_when_the_machine_has_none(isolated_state: Path) -> None:
    bindir = _pgserver_bindir()
    assert bindir is not None, "pgserver is a dependency of Probity"
    binaries = _probe(bindir, "pgserver wheel")
    assert binaries is not None and binaries.major >= 15
    with EmbeddedPostgres(binaries) as pg, psycopg.connect(pg.url("postgres")) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(version[0]) // 10000 == binaries.major


def test_configured_bindir_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = _pgserver_bindir()
    monkeypatch.setenv("PROBITY_PG_BINDIR", str(bindir))
    assert find_binaries().origin == "PROBITY_PG_BINDIR"


def test_no_usable_binaries_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import probity.runtime.pgbin as pgbin

    monkeypatch.setattr(pgbin, "_candidates", lambda: [(tmp_path, "nowhere")])
    with pytest.raises(PostgresError, match="PROBITY_PG_BINDIR"):
        find_binaries()


def test_a_server_that_cannot_start_says_why(isolated_state: Path) -> None:
    binaries = find_binaries()
    with EmbeddedPostgres(binaries) as first:
        clash = EmbeddedPostgres(PostgresBinaries(binaries.bindir, binaries.major, "test"), port=first.port)
        with pytest.raises(PostgresError, match="pg_ctl failed"):
            clash.start()
        assert clash.dir is None
