"""Attribution on a real server: traceparents under concurrency, fences among noise, missing fences."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest

from probity.capture.collector import Collector
from probity.capture.fence import FenceConnection
from probity.capture.follow import LogFollower, current_logfile
from probity.core.trace import Attribution, Exchange, RequestTrace, Statement
from probity.runtime.postgres import Credentials, EmbeddedPostgres

pytestmark = pytest.mark.postgres

API = Credentials("api", "api-secret")


@pytest.fixture
def app_db(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as admin:
        admin.execute("CREATE ROLE api LOGIN PASSWORD 'api-secret'")
        admin.execute("CREATE DATABASE app OWNER api")
        admin.execute("CREATE DATABASE other")
    with psycopg.connect(pg.url("app", API), autocommit=True) as owner:
        owner.execute("CREATE TABLE patients (id int PRIMARY KEY, tenant_id int NOT NULL, name text)")
        owner.execute("INSERT INTO patients SELECT g, g % 3, 'p' || g FROM generate_series(1, 50) AS g")
    return pg


@pytest.fixture
def fence(app_db: EmbeddedPostgres) -> Iterator[FenceConnection]:
    with FenceConnection(app_db.url("app")) as connection:
        yield connection


@pytest.fixture
def source(app_db: EmbeddedPostgres) -> Iterator[LogFollower]:
    with LogFollower(current_logfile(app_db.data_dir), from_end=True) as follower:
        yield follower


def _exchange(operation: str, traceparent: str | None = None) -> Exchange:
    return Exchange("GET", "http://backend/x", operation, 200, traceparent=traceparent)


def _texts(trace: RequestTrace) -> list[str]:
    return [s.text for s in trace.statements]


def _session_id(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """The log's session_id of a connection: its backend's start time and pid, in hex."""
    row = conn.execute(
        "SELECT to_hex(extract(epoch FROM date_trunc('second', backend_start))::int) || '.' "
        "|| to_hex(pid) FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    ).fetchone()
    conn.commit()
    assert row is not None
    return str(row[0])


class Noise:
    """Other sessions keep running SQL in the background: another database, another user, same database."""

    def __init__(self, pg: EmbeddedPostgres) -> None:
        self.stop = threading.Event()
        self.urls = [pg.url("other"), pg.url("app")]  # as the superuser, never as api
        self.threads = [threading.Thread(target=self._run, args=(url,)) for url in self.urls]

    def _run(self, url: str) -> None:
        with psycopg.connect(url, application_name="noise") as conn:
            while not self.stop.is_set():
                conn.execute("SELECT count(*) FROM pg_class WHERE relpages >= %s", (0,))
                conn.commit()
                self.stop.wait(0.002)

    def __enter__(self) -> Noise:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_concurrent_requests_each_get_exactly_their_own_statements_with_their_commit(
    app_db: EmbeddedPostgres, fence: FenceConnection, source: LogFollower
) -> None:
    collector = Collector(source, Attribution.TRACEPARENT, marker=fence, timeout=10)
    traces: dict[str, list[RequestTrace]] = {"ok": [], "failing": []}
    sessions: dict[str, set[str]] = {}
    step = threading.Barrier(2, timeout=10)

    def backend(name: str, fail: bool) -> None:
        # One pooled connection per "worker", serving two requests in a row.
        with psycopg.connect(app_db.url("app", API)) as conn:
            sessions[name] = {_session_id(conn)}
            for request in range(2):
                rid = f"{name}-{request}"
                tp = collector.begin(rid)
                comment = f" /*traceparent='{tp}'*/"
                for tenant in range(3):
                    step.wait()  # both requests are in flight: their statements interleave in the log
                    conn.execute("SELECT name FROM patients WHERE tenant_id = %s" + comment, (tenant,))
                if fail:
                    try:
                        conn.execute("INSERT INTO patients VALUES (%s, 1, 'dup')" + comment, (1,))
                    except psycopg.errors.UniqueViolation:
                        conn.rollback()
                else:
                    conn.execute("UPDATE patients SET name = name WHERE id = %s" + comment, (request + 1,))
                    conn.commit()
                traces[name].append(collector.end(rid, _exchange("GET /patients", tp)))

    with Noise(app_db):
        workers = [threading.Thread(target=backend, args=("ok", False)),
                   threading.Thread(target=backend, args=("failing", True))]  # fmt: skip
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    select = "SELECT name FROM patients WHERE tenant_id = $1"
    for trace in traces["ok"]:
        assert trace.observed and trace.conclusive
        update = "UPDATE patients SET name = name WHERE id = $1"
        assert _texts(trace) == ["BEGIN", select, select, select, update, "COMMIT"]
        assert [s.params for s in trace.statements[1:4]] == [("0",), ("1",), ("2",)]
    for trace in traces["failing"]:
        assert trace.observed
        insert = "INSERT INTO patients VALUES ($1, 1, 'dup')"
        assert _texts(trace) == ["BEGIN", select, select, select, insert, "ROLLBACK"]
        assert trace.statements[4].sqlstate == "23505"
    for name, own in traces.items():
        assert {s.session_id for t in own for s in t.statements} == sessions[name]
        assert {s.user for t in own for s in t.statements} == {"api"}
    assert collector.buffered == 0


def test_fences_catch_the_requests_statements_among_noise(
    app_db: EmbeddedPostgres, fence: FenceConnection, source: LogFollower
) -> None:
    collector = Collector(source, Attribution.FENCE, marker=fence, user="api", timeout=10)
    with Noise(app_db), psycopg.connect(app_db.url("app", API)) as backend:
        backend.execute("SELECT 'before the fence'")
        backend.commit()
        traces = []
        for n in range(1, 6):
            collector.begin(f"req-{n}")
            backend.execute("SELECT name FROM patients WHERE id = %s AND tenant_id = %s", (n, n % 3))
            backend.commit()
            traces.append(collector.end(f"req-{n}", _exchange("GET /patients/{id}")))
        backend.execute("SELECT 'after the fence'")
        backend.commit()
    with psycopg.connect(app_db.url("app"), autocommit=True) as conn:
        fences = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'probity-fence' AND datname = 'app'"
        ).fetchone()
    assert fences == (1,)  # the markers come from Probity's own session, which the fence leaves out
    for n, trace in enumerate(traces, 1):
        assert trace.observed and trace.attribution is Attribution.FENCE
        assert _texts(trace) == [
            "BEGIN",
            "SELECT name FROM patients WHERE id = $1 AND tenant_id = $2",
            "COMMIT",
        ]
        assert trace.statements[1].params == (str(n), str(n % 3))


def test_without_the_user_filter_same_database_noise_is_inside_the_fence(
    app_db: EmbeddedPostgres, fence: FenceConnection, source: LogFollower
) -> None:
    """The database filter alone keeps the other database out, not other sessions of the same one."""
    collector = Collector(source, Attribution.FENCE, marker=fence, timeout=10)
    with (
        psycopg.connect(app_db.url("other"), autocommit=True) as other,
        psycopg.connect(app_db.url("app"), autocommit=True, application_name="admin-tool") as admin,
    ):
        collector.begin("r1")
        other.execute("SELECT 'other database'")
        admin.execute("SELECT 'same database'")
        trace = collector.end("r1", _exchange("GET /x"))
    statements: list[Statement] = list(trace.statements)
    assert [(s.text, s.application) for s in statements] == [("SELECT 'same database'", "admin-tool")]


def test_a_fence_missing_from_the_log_makes_the_trace_inconclusive(
    app_db: EmbeddedPostgres, fence: FenceConnection
) -> None:
    wrong_log = LogFollower(app_db.log_dir / "postgresql.log")  # the stderr log: the markers never land there
    collector = Collector(wrong_log, Attribution.FENCE, marker=fence, timeout=0.5)
    collector.begin("r1")
    trace = collector.end("r1", _exchange("GET /x"))
    assert not trace.observed and not trace.conclusive and trace.statements == ()


def test_a_lost_begin_marker_makes_the_trace_inconclusive(
    app_db: EmbeddedPostgres, fence: FenceConnection, source: LogFollower
) -> None:
    def lose_begin(sql: str) -> None:
        if ":begin:" not in sql:
            fence(sql)

    marker: Callable[[str], None] = lose_begin
    collector = Collector(source, Attribution.FENCE, marker=marker, timeout=0.5)
    with psycopg.connect(app_db.url("app", API), autocommit=True) as backend:
        collector.begin("r1")
        backend.execute("SELECT 1")
        trace = collector.end("r1", _exchange("GET /x"))
    assert not trace.observed and trace.statements == ()
