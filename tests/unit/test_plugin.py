"""The pytest plugin: loaded by its entry point, options under --probity-, no heavy import at load time, and
fixtures that put a team's own requests through Probity (a tiny stdlib backend; no PostgreSQL)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "har" / "tiny"

# A conftest that swaps the session's observer for one whose only probe fails on item reads: no database,
# no statement log (every trace is empty), a probe that judges by the operation alone.
FAKE_PROBE_CONFTEST = """
import pytest
from probity.capture.collector import Collector
from probity.core.catalog import Catalog
from probity.core.findings import Category, Outcome, Severity
from probity.core.trace import Attribution
from probity.engine.observer import SqlView
from probity.engine.traffic import observer_for


class NoLog:
    def read_new(self):
        return []

    def close(self):
        pass


def fake_probe(trace, ctx):
    leaked = ctx.operation.label == "GET /items/{item_id}"
    outcome = Outcome.FAIL if leaked else Outcome.PASS
    yield ctx.result("fake_probe", "fake_probe.leak", Category.TENANCY, outcome, "another tenant's item", Severity.HIGH)


@pytest.fixture(scope="session")
def probity_observer(probity_target):
    observer = observer_for(probity_target, SqlView(Collector(NoLog(), Attribution.TRACEPARENT), Catalog()))
    observer.probes = (fake_probe,)
    return observer
"""


class TinyBackend:
    """The tiny contract's backend: items, a login, and one operation whose answer breaks the contract."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def api_root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api"

    def answer(self, method: str, target: str, body: Any) -> tuple[int, Any]:
        path = target.split("?")[0]
        if method == "POST" and path == "/api/auth/login":
            return 200, {"access_token": "tok-" + str(body["email"]).split("@")[0]}
        if method == "GET" and path.startswith("/api/items/"):
            item = path.rsplit("/", 1)[1]
            return (200, {"id": item}) if item == "broken" else (200, {"id": item, "name": "pen"})
        if method == "GET" and path == "/api/items":
            return 200, [{"id": "1", "name": "pen"}]
        return 404, {"code": "not_found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                backend.seen.append({k.lower(): v for k, v in self.headers.items()})
                status, answer = backend.answer(self.command, self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> TinyBackend:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def backend() -> Iterator[TinyBackend]:
    with TinyBackend() as server:
        yield server


@pytest.fixture
def tiny(pytester: pytest.Pytester, backend: TinyBackend) -> list[str]:
    """The tiny target in the pytester folder; the options that point a run at it and its backend."""
    shutil.copytree(TINY, pytester.path / "tiny")
    return ["--probity-target", "tiny/target.yaml", "--probity-base-url", backend.api_root, "-p", "no:randomly"]


def test_options_are_namespaced(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*Probity compliance harness*",
            "*--probity-target*",
            "*--probity-defects*",
            "*--probity-base-url*",
            "*--probity-attribution*{traceparent,fence}*",
            "*--probity-dsn*",
            "*--probity-seed*",
            "*--probity-max-examples*",
            "*--probity-report*",
        ]
    )


def test_loading_the_plugin_imports_nothing_of_probity(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_lazy():
            assert "_probity_pytestplugin" in sys.modules
            assert not [m for m in sys.modules if m.startswith("probity")]
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_stack_fixture_reports_a_bad_target_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", target="name: x\ndatabase: {}\n")
    pytester.makepyfile("def test_needs_stack(probity_stack):\n    pass\n")
    result = pytester.runpytest_subprocess("--probity-target", "target.yaml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*target.yaml:2: database.name: Field required*"])


def test_fixtures_give_the_target_the_api_root_and_no_observer_without_a_log(
    pytester: pytest.Pytester, tiny: list[str], backend: TinyBackend
) -> None:
    pytester.makepyfile(
        f"""
        def test_fixtures(probity_target, probity_api_root, probity_observer, probity_traffic):
            assert probity_target.name == "tiny"
            assert probity_api_root == "{backend.api_root}"
            assert probity_observer is None
            assert probity_traffic.api_root == probity_api_root
        """
    )
    pytester.runpytest_subprocess(*tiny).assert_outcomes(passed=1)


def test_the_session_validates_each_exchange_against_the_contract(
    pytester: pytest.Pytester, tiny: list[str], backend: TinyBackend
) -> None:
    pytester.makepyfile(
        """
        def test_reads_an_item(probity_session, probity_api_root):
            response = probity_session.get(probity_api_root + "/items/7", params={"x": "1"})
            assert response.json() == {"id": "7", "name": "pen"}
            verdicts = {(r.check, r.outcome.value, r.operation) for r in probity_session.results}
            assert ("contract_validation", "pass", "GET /items/{item_id}") in verdicts
            # Without a statement log the SQL probes cannot judge: inconclusive, never pass.
            assert {r.outcome.value for r in probity_session.results if r.check != "contract_validation"} == {
                "inconclusive"
            }
        """
    )
    pytester.runpytest_subprocess(*tiny).assert_outcomes(passed=1)
    assert len(backend.seen) == 1


def test_a_response_that_breaks_the_contract_fails_the_test(pytester: pytest.Pytester, tiny: list[str]) -> None:
    pytester.makepyfile(
        """
        def test_reads_a_broken_item(probity_session, probity_api_root):
            assert probity_session.get(probity_api_root + "/items/broken").status_code == 200

        def test_reads_a_good_item(probity_session, probity_api_root):
            assert probity_session.get(probity_api_root + "/items/7").status_code == 200
        """
    )
    result = pytester.runpytest_subprocess(*tiny)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Probity: 1 failing result",
            "*[[]high] contract_validation.response on GET /items/{item_id}: the response body does not match its*",
            "*/: required ('name' is a required property)",
            "FAILED *test_reads_a_broken_item*",
        ]
    )


def test_a_failing_probe_result_fails_the_test_that_sent_the_request(
    pytester: pytest.Pytester, tiny: list[str]
) -> None:
    pytester.makeconftest(FAKE_PROBE_CONFTEST)
    pytester.makepyfile(
        """
        def test_reads_an_item(probity_session, probity_api_root):
            assert probity_session.get(probity_api_root + "/items/7").status_code == 200

        def test_lists_items(probity_session, probity_api_root):
            assert probity_session.get(probity_api_root + "/items").status_code == 200

        def test_watch_fails_the_block(probity_session, probity_results, probity_api_root):
            try:
                with probity_results.watch():
                    probity_session.get(probity_api_root + "/items/9")
            except AssertionError as exc:
                assert "fake_probe.leak on GET /items/{item_id}" in str(exc)
            else:
                raise RuntimeError("watch() let a failing probe result pass")
        """
    )
    result = pytester.runpytest_subprocess(*tiny)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*[[]high] fake_probe.leak on GET /items/{item_id}: another tenant's item", "FAILED *test_reads_an_item*"]
    )


def test_as_principal_logs_in_and_names_the_principal(
    pytester: pytest.Pytester, tiny: list[str], backend: TinyBackend
) -> None:
    pytester.makepyfile(
        """
        def test_as_alice(probity_session, probity_api_root):
            probity_session.as_principal("alice").get(probity_api_root + "/items/7")
            probity_session.get(probity_api_root + "/items/8", headers={"X-Probity-Principal": "bob"})
            principals = [r.evidence["principal"] for r in probity_session.results if r.check == "contract_validation"]
            assert principals == ["alice", "bob"]
        """
    )
    pytester.runpytest_subprocess(*tiny).assert_outcomes(passed=1)
    login, first, second = backend.seen
    assert "authorization" not in login
    assert first["authorization"] == second["authorization"] == "Bearer tok-alice"
    assert "x-probity-principal" not in second


def test_the_report_merges_the_results_of_every_worker(pytester: pytest.Pytester, tiny: list[str]) -> None:
    pytester.makeconftest(FAKE_PROBE_CONFTEST)
    pytester.makepyfile(
        """
        def test_lists(probity_session, probity_api_root):
            probity_session.get(probity_api_root + "/items")

        def test_reads(probity_session, probity_api_root):
            probity_session.get(probity_api_root + "/items/7")
        """
    )
    pytester.path.joinpath("report", "parts").mkdir(parents=True)
    pytester.path.joinpath("report", "parts", "stale.json").write_text("{}", encoding="utf-8")
    result = pytester.runpytest_subprocess(*tiny, "-n", "2", "--dist", "each", "--probity-report", "report")
    result.assert_outcomes(passed=2, failed=2)  # every test runs on both workers
    parts = sorted(p.name for p in pytester.path.joinpath("report", "parts").iterdir())
    assert parts == ["gw0.json", "gw1.json"]
    findings = json.loads(pytester.path.joinpath("report", "findings.json").read_text(encoding="utf-8"))
    failing = [(f["rule"], f["operation"]) for f in findings["findings"] if f["status"] == "fail"]
    assert failing == [("fake_probe.leak", "GET /items/{item_id}")]  # one finding, however many workers saw it
    passed = {(f["rule"], f["operation"]) for f in findings["passed"]}
    assert {("fake_probe.leak", "GET /items"), ("contract_validation", "GET /items/{item_id}")} <= passed
    assert findings["run"]["target"] == "tiny" and findings["run"]["exit_code"] == 1
    assert sum("requests probed" in note for note in findings["run"]["notes"]) == 2
    written = {p.name for p in pytester.path.joinpath("report").iterdir()}
    assert {"allure-results", "matrix.md", "matrix.json", "junit.xml"} <= written  # every report a run writes
