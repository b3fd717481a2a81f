"""Reading the statement log over SQL (pg_current_logfile, pg_stat_file, pg_read_binary_file)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from capture_log import LogReader

from probity.capture.collector import Collector
from probity.capture.fence import FenceConnection
from probity.capture.remote import RemoteLog
from probity.core.errors import HarnessError
from probity.core.trace import Attribution, Exchange
from probity.runtime.postgres import Credentials, EmbeddedPostgres

pytestmark = pytest.mark.postgres

VALUE = "remote välue, it's\nfine ✓"


@pytest.fixture
def remote(pg: EmbeddedPostgres) -> Iterator[RemoteLog]:
    with RemoteLog.connect(pg.url("postgres"), from_end=True) as source:
        yield source


def test_reads_statements_as_the_superuser_without_logging_itself(pg: EmbeddedPostgres, remote: RemoteLog) -> None:
    assert remote.quiet
    reader = LogReader(remote, pg.url("postgres"))
    reader.sync()
    with psycopg.connect(pg.url("postgres"), application_name="backend") as conn:
        conn.execute("SELECT %s::text AS v", (VALUE,))
        conn.commit()
    statements = reader.sync()  # its many polls would each log a few records were the reader not quiet
    assert [(s.text, s.params) for s in statements] == [
        ("BEGIN", ()), ("SELECT $1::text AS v", (VALUE,)), ("COMMIT", ()),
    ]  # fmt: skip
    assert remote.line > 0 and remote.offset > 0


def test_the_remote_reader_follows_rotation(pg: EmbeddedPostgres, remote: RemoteLog) -> None:
    reader = LogReader(remote, pg.url("postgres"))
    first = remote.path
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute("SELECT 'before rotation'")
        conn.execute("ALTER SYSTEM SET log_filename = 'remote-rotated.log'")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("SELECT pg_rotate_logfile()")
        conn.execute("SELECT 'after rotation'")
    texts = [s.text for s in reader.sync()]
    assert texts.index("SELECT 'before rotation'") < texts.index("SELECT 'after rotation'")
    assert remote.path != first and remote.path.endswith("remote-rotated.json")


def test_a_collector_over_the_remote_log(pg: EmbeddedPostgres, remote: RemoteLog) -> None:
    with FenceConnection(pg.url("postgres")) as fence, psycopg.connect(pg.url("postgres")) as backend:
        collector = Collector(remote, Attribution.FENCE, marker=fence, timeout=10)
        collector.begin("remote-1")
        backend.execute("SELECT %s::int", (7,))
        backend.commit()
        trace = collector.end("remote-1", Exchange("GET", "http://backend/x", "GET /x", 200))
    assert trace.observed and [(s.text, s.params) for s in trace.statements] == [
        ("BEGIN", ()), ("SELECT $1::int", ("7",)), ("COMMIT", ()),
    ]  # fmt: skip


def test_a_granted_role_reads_and_its_own_queries_are_marked(pg: EmbeddedPostgres) -> None:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as admin:
        admin.execute("CREATE ROLE watcher LOGIN PASSWORD 'w' IN ROLE pg_read_server_files")
        admin.execute(
            "GRANT EXECUTE ON FUNCTION pg_current_logfile(text), pg_stat_file(text, boolean),"
            " pg_read_binary_file(text, bigint, bigint, boolean) TO watcher"
        )
    with RemoteLog.connect(pg.url("postgres", Credentials("watcher", "w")), from_end=True) as source:
        assert not source.quiet  # may not turn statement logging off for itself
        records = LogReader(source, pg.url("postgres")).sync()
    own = [s for s in records if "pg_read_binary_file" in s.text]
    assert own and {s.application for s in own} == {"probity-logreader"}


def test_a_role_that_may_not_read_server_files_gets_a_clear_error(pg: EmbeddedPostgres) -> None:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as admin:
        admin.execute("CREATE ROLE nobody_special LOGIN PASSWORD 'n'")
    with pytest.raises(HarnessError, match="pg_read_server_files"):
        RemoteLog.connect(pg.url("postgres", Credentials("nobody_special", "n")))


def test_an_unreachable_server_is_a_clear_error(pg: EmbeddedPostgres) -> None:
    wrong = pg.url("postgres").replace(pg.superuser.password, "wrong")
    with pytest.raises(HarnessError, match="cannot connect to read the server log"):
        RemoteLog.connect(wrong)
