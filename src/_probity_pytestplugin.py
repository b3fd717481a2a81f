"""Probity's pytest plugin, loaded through the ``pytest11`` entry point.

This module is deliberately thin and imports nothing of Probity at load time, so that every pytest run in
an environment where Probity is installed pays nothing for it. The work happens in fixtures, which import
what they need when a test asks for them (see :mod:`probity.engine.session`).

A test that used ``probity_session`` (or ``probity_results``) fails after its body when anything it sent
produced a FAIL result. With ``--probity-report DIR`` every process writes its results to
``DIR/parts/<worker>.json`` when its session ends, and the controller merges them into ``DIR/findings.json``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from probity.core.target import Target
    from probity.engine.observer import Observer
    from probity.engine.session import ProbityResults, ProbitySession
    from probity.engine.traffic import Traffic
    from probity.runtime.stack import EmbeddedStack

__all__ = [
    "probity_api_root",
    "probity_observer",
    "probity_results",
    "probity_schema",
    "probity_session",
    "probity_stack",
    "probity_target",
    "probity_traffic",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_call",
    "pytest_sessionfinish",
]

_SEED = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("probity", "Probity compliance harness")
    group.addoption(
        "--probity-target",
        type=Path,
        default=None,
        help="target file to test (default: [tool.probity] target)",
    )
    group.addoption(
        "--probity-defects",
        default="",
        help="planted defects the target backend switches on: id,id… or 'all'",
    )
    group.addoption(
        "--probity-base-url",
        default=None,
        metavar="URL",
        help="API root of a running backend (default: the target's, else start the embedded target)",
    )
    group.addoption(
        "--probity-attribution",
        choices=("traceparent", "fence"),
        default="traceparent",
        help="tie SQL to requests by the backend's SQL comments (exact) or by fences (one at a time)",
    )
    group.addoption(
        "--probity-dsn",
        default=os.environ.get("PROBITY_DSN"),
        metavar="DSN",
        help="running backend: a database role that may read the server's log (env: PROBITY_DSN)",
    )
    group.addoption("--probity-seed", type=int, default=None, help="seed of the contract suite (default: random)")
    group.addoption("--probity-max-examples", type=int, default=5, help="contract suite: generated cases per operation")
    group.addoption(
        "--probity-report", type=Path, default=None, metavar="DIR", help="write the session's findings.json here"
    )


def pytest_configure(config: pytest.Config) -> None:
    folder = config.getoption("--probity-report", None)
    if folder is not None and not hasattr(config, "workerinput"):  # the controller starts afresh
        from probity.engine.session import clear_parts

        clear_parts(folder)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After a test's body: fail it if what it sent through Probity produced FAIL results."""
    outcome = yield
    results = getattr(item, "funcargs", {}).get("probity_results")
    failures = results.unreported() if results is not None else []
    if failures:
        from probity.engine.session import failure_report

        pytest.fail(failure_report(failures), pytrace=False)
    return outcome


@pytest.hookimpl(trylast=True)  # after session fixtures were torn down and wrote their parts
def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = session.config.getoption("--probity-report", None)
    if folder is None or hasattr(session.config, "workerinput"):
        return
    from probity.engine.session import merge_parts
    from probity.reporting.outputs import write_outputs

    report = merge_parts(folder)
    if report is not None:
        write_outputs(report, folder)  # findings.json, Allure results, the matrix and JUnit, as a run writes


@pytest.fixture(scope="session")
def probity_target(request: pytest.FixtureRequest) -> Target:
    """The target under test: ``--probity-target``, else the project's ``[tool.probity] target``."""
    from probity.cli.project import find_project
    from probity.core.target import load_target

    path = request.config.getoption("--probity-target") or find_project(request.config.rootpath).default_target
    if path is None:
        pytest.fail("Probity needs a target: --probity-target FILE or [tool.probity] target")
    return load_target(path)


@pytest.fixture(scope="session")
def probity_stack(
    probity_target: Target, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedStack]:
    """The embedded stack (PostgreSQL, seeded database, backend) of the configured target, for a session."""
    from probity.runtime.stack import EmbeddedStack

    defects = request.config.getoption("--probity-defects")
    traced = request.config.getoption("--probity-attribution") == "traceparent"
    work = tmp_path_factory.mktemp("probity")
    with EmbeddedStack(probity_target, work, defects=defects, sqlcommenter=traced) as stack:
        yield stack


def _running_root(config: pytest.Config, target: Target) -> str | None:
    """The API root of a backend someone else runs, if one is configured."""
    base_url = config.getoption("--probity-base-url") or target.base_url
    return str(base_url).rstrip("/") if base_url else None


@pytest.fixture(scope="session")
def probity_api_root(probity_target: Target, request: pytest.FixtureRequest) -> str:
    """Where the API's paths start: the running backend's, else the embedded stack's (started on demand)."""
    running = _running_root(request.config, probity_target)
    if running is not None:
        return running
    stack: EmbeddedStack = request.getfixturevalue("probity_stack")
    assert stack.backend is not None
    return stack.backend.base_url


@pytest.fixture(scope="session")
def probity_observer(probity_target: Target, request: pytest.FixtureRequest) -> Iterator[Observer | None]:
    """Probes every exchange against its SQL: over the embedded stack, or a running target's ``--probity-dsn``;
    None when there is no statement log to read."""
    from probity.core.trace import Attribution
    from probity.engine.traffic import observer_for, sql_view

    running = _running_root(request.config, probity_target) is not None
    stack = None if running else request.getfixturevalue("probity_stack")
    mode = Attribution(request.config.getoption("--probity-attribution"))
    with ExitStack() as scope:
        view = sql_view(stack, request.config.getoption("--probity-dsn"), mode, scope)
        yield observer_for(probity_target, view) if view is not None else None


@pytest.fixture(scope="session")
def probity_traffic(
    probity_target: Target, probity_api_root: str, probity_observer: Observer | None, request: pytest.FixtureRequest
) -> Iterator[Traffic]:
    """The pipeline every exchange of the session goes through, and everything it concluded."""
    from probity.engine.session import session_info, write_part
    from probity.engine.traffic import Traffic

    traffic = Traffic.for_target(probity_target, probity_api_root, probity_observer)
    info = session_info(probity_target, _seed(request.config))
    yield traffic
    folder = request.config.getoption("--probity-report")
    if folder is not None:
        write_part(folder, _worker_id(request.config), traffic, info)


def _worker_id(config: pytest.Config) -> str:
    """This process's xdist worker id, from its own config (an inherited environment may name a parent's)."""
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


@pytest.fixture
def probity_results(probity_traffic: Traffic) -> ProbityResults:
    """The results of this test; its FAIL results fail it after its body (``watch()`` fails a block sooner)."""
    from probity.engine.session import ProbityResults

    return ProbityResults(probity_traffic)


@pytest.fixture
def probity_session(probity_traffic: Traffic, probity_results: ProbityResults) -> Iterator[ProbitySession]:
    """A requests.Session whose exchanges are validated against the contract, tied to their SQL and probed."""
    from probity.engine.session import ProbitySession

    with ProbitySession(probity_traffic) as session:
        yield session


@pytest.fixture(scope="session")
def probity_schema(probity_traffic: Traffic, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The target's contract for ``schemathesis.pytest.from_fixture``: the first pass's principal and peers,
    ``--probity-seed``, ``--probity-max-examples``; the observer probes every call of the session."""
    from probity.engine.session import contract_schema

    _nodeid_compat()
    max_examples = request.config.getoption("--probity-max-examples")
    with contract_schema(probity_traffic, _seed(request.config), max_examples) as schema:
        yield schema


def _nodeid_compat() -> None:
    """schemathesis 4.32's ``from_fixture`` renames the running item through ``Item._nodeid``, which pytest 9.2
    replaced by ``Item._id``: map the old name onto the new one while schemathesis still uses it."""
    if hasattr(pytest.Item, "_nodeid"):
        return

    def _get(item: pytest.Item) -> Any:
        return item._id

    def _set(item: pytest.Item, value: Any) -> None:
        current = item._id
        parse = getattr(type(current), "parse", None)
        item._id = parse(value) if isinstance(value, str) and parse is not None else value

    pytest.Item._nodeid = property(_get, _set)  # type: ignore[attr-defined]


def _seed(config: pytest.Config) -> int:
    """``--probity-seed``, else hypothesis's ``--hypothesis-seed`` when it is a number, else one random seed."""
    if _SEED not in config.stash:
        chosen = config.getoption("--probity-seed")
        if chosen is None:
            hypothesis_seed = str(config.getoption("hypothesis_seed", None) or "")
            chosen = int(hypothesis_seed) if hypothesis_seed.isdigit() else random.SystemRandom().randrange(2**31)
        config.stash[_SEED] = chosen
    return config.stash[_SEED]
