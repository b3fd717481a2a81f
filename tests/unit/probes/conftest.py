"""Shared helpers of the probe tests: a probe case (YAML) turned into a RequestTrace and a ProbeContext.

Every probe's corpus lives in ``tests/fixtures/probes/<probe>.yaml``: optional top-level ``extra_ddl`` (added to
the clinic's schema for the catalog) and ``cases``, a list of entries. An entry may give (defaults in brackets):

- ``title`` (unique), ``operation`` ("METHOD /template"), ``phi`` [false], ``paginated`` [false], ``status`` [200]
- ``path`` (path parameter values, filled into the template) and ``query`` (query parameters) for the URL,
  or ``url`` verbatim [``http://api.test/api/v1`` + the filled template + the query]
- ``principal``: a name from contracts/clinic/principals.yaml, an inline ``{name, attributes}``, or null
  [northwind_provider1]
- ``inputs`` [path values, then query values], ``response`` (JSON), ``response_text`` [the response as JSON],
  ``response_headers`` [{}]
- ``statements``: ``sql``, ``params`` [[]], ``session`` [s1], ``vxid`` [null], ``error`` [null]
- ``attribution`` [traceparent], ``observed`` [true]
- ``readback``: rows per table, e.g. ``{audit_logs: [{actor_user_id: …}]}`` [no read-back]; ``readback_error``
  makes every read-back call raise
- ``policy``: a patch deep-merged into contracts/clinic/policy.yaml; ``canaries``: the seeded secret values
  (replacing the policy's canary file)
- ``expect``: ``[rule, outcome]`` or ``[rule, outcome, severity]`` pairs, compared as a multiset with what the
  probe yields.

A test module names its corpus with ``CORPUS = "<probe>"`` and takes a ``case`` argument: it is parametrized
over the corpus's cases (ids are the titles). The ``run_case`` fixture runs a probe over one case.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import yaml

from probity.core.catalog import Catalog
from probity.core.findings import Result
from probity.core.policy import Policy
from probity.core.principals import Principal, TokenSpec, load_principals
from probity.core.trace import Attribution, Exchange, RequestTrace, Statement
from probity.probes.base import OperationFacts, ProbeContext
from probity.sql import catalog_from_ddl

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "probes"
SCHEMA = ROOT / "fixtures" / "clinic" / "schema.sql"
POLICY = ROOT / "contracts" / "clinic" / "policy.yaml"
PRINCIPALS = ROOT / "contracts" / "clinic" / "principals.yaml"
BASE_URL = "http://api.test/api/v1"
DEFAULT_PRINCIPAL = "northwind_provider1"

Case = dict[str, Any]


def load_cases(corpus: str) -> list[Case]:
    """The cases of ``tests/fixtures/probes/<corpus>.yaml``, each carrying the file's ``extra_ddl``."""
    data = yaml.safe_load((FIXTURES / f"{corpus}.yaml").read_text(encoding="utf-8"))
    return [{**case, "_extra_ddl": data.get("extra_ddl", "")} for case in data["cases"]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    corpus = getattr(metafunc.module, "CORPUS", None)
    if corpus and "case" in metafunc.fixturenames:
        cases = load_cases(corpus)
        titles = [case["title"] for case in cases]
        assert len(set(titles)) == len(titles), "case titles must be unique"
        for case in cases:
            assert set(case) <= CASE_KEYS, f"{case['title']}: unknown keys {sorted(set(case) - CASE_KEYS)}"
        metafunc.parametrize("case", cases, ids=titles)


@cache
def catalog_for(extra_ddl: str = "") -> Catalog:
    """The clinic's catalog plus *extra_ddl*, built once per distinct DDL (facts are cached per catalog)."""
    catalog = catalog_from_ddl(SCHEMA.read_text(encoding="utf-8") + "\n" + extra_ddl)
    assert catalog.skipped == (), catalog.skipped
    return catalog


@cache
def _policy_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
    return data


def _merged(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merged(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(patch)


def policy_for(case: Case, folder: Path) -> Policy:
    """The clinic's policy with the case's patch, and its canaries written to *folder* when given."""
    data = _merged(_policy_data(), case.get("policy") or {})
    if "canaries" in case and data.get("secrets"):
        path = folder / "canaries.txt"
        path.write_text("".join(f"{value}\n" for value in case["canaries"]), encoding="utf-8")
        data["secrets"] = {**data["secrets"], "canaries": str(path)}
    return Policy.model_validate({**data, "root": str(POLICY.parent)})


@cache
def _principals() -> dict[str, Principal]:
    return {principal.name: principal for principal in load_principals(PRINCIPALS).principals}


def principal_for(case: Case) -> Principal | None:
    given = case.get("principal", DEFAULT_PRINCIPAL)
    if given is None:
        return None
    if isinstance(given, str):
        return _principals()[given]
    return Principal(
        name=given.get("name", "inline"),
        tenant=given.get("tenant", "tenant"),
        role=given.get("role", "ADMIN"),
        attributes={key: str(value) for key, value in (given.get("attributes") or {}).items()},
        token=TokenSpec(env="PROBITY_TEST_TOKEN"),
    )


def _url(case: Case) -> str:
    if "url" in case:
        return str(case["url"])
    template = case["operation"].split(" ", 1)[1]
    for name, value in (case.get("path") or {}).items():
        template = template.replace("{" + name + "}", quote(str(value), safe=""))
    query = case.get("query") or {}
    return BASE_URL + template + (f"?{urlencode({k: str(v) for k, v in query.items()})}" if query else "")


STATEMENT_KEYS = {"sql", "params", "session", "vxid", "error"}
CASE_KEYS = {
    "title", "operation", "phi", "paginated", "status", "path", "query", "url", "principal", "inputs", "response",
    "response_text", "response_headers", "statements", "attribution", "observed", "readback", "readback_error",
    "policy", "canaries", "expect", "_extra_ddl",
}  # fmt: skip


def _statement(raw: Mapping[str, Any], line: int) -> Statement:
    # an unquoted flow mapping ({sql: SELECT a, b}) splits at its commas: refuse the stray keys
    assert set(raw) <= STATEMENT_KEYS, f"unknown statement keys {sorted(set(raw) - STATEMENT_KEYS)}"
    params = tuple(None if value is None else str(value) for value in raw.get("params") or ())
    return Statement(
        text=raw["sql"],
        params=params,
        session_id=str(raw.get("session", "s1")),
        vxid=raw.get("vxid"),
        error=raw.get("error"),
        protocol="extended" if params else "simple",
        log_line=line,
    )


def trace_for(case: Case) -> RequestTrace:
    response_text = _response_text(case)
    principal = principal_for(case)
    exchange = Exchange(
        method=case["operation"].split(" ", 1)[0],
        url=_url(case),
        operation=case["operation"],
        status=int(case.get("status", 200)),
        response_headers={k: str(v) for k, v in (case.get("response_headers") or {}).items()},
        response_body=response_text.encode("utf-8"),
        principal=principal.name if principal else None,
    )
    statements = tuple(_statement(raw, line) for line, raw in enumerate(case.get("statements") or (), 1))
    return RequestTrace(
        exchange,
        statements,
        Attribution(case.get("attribution", "traceparent")),
        observed=bool(case.get("observed", True)),
    )


def _response_text(case: Case) -> str:
    if "response_text" in case:
        return str(case["response_text"])
    return "" if case.get("response") is None else json.dumps(case["response"])


class TableReadBack:
    """A ReadBack over rows given in the case: values compared as text, None meaning IS NULL."""

    def __init__(self, tables: Mapping[str, Sequence[Mapping[str, Any]]], error: str | None = None) -> None:
        self.tables = {name: [dict(row) for row in rows] for name, rows in tables.items()}
        self.error = error
        self.calls: list[tuple[str, dict[str, str | None]]] = []

    def _matching(self, table: str, where: Mapping[str, str | None]) -> list[dict[str, Any]]:
        self.calls.append((table, dict(where)))
        if self.error:
            raise RuntimeError(self.error)
        return [row for row in self.tables.get(table, []) if all(_text(row.get(k)) == v for k, v in where.items())]

    def count(self, table: str, where: Mapping[str, str | None]) -> int:
        return len(self._matching(table, where))

    def rows(self, table: str, columns: Sequence[str], where: Mapping[str, str | None]) -> list[dict[str, str | None]]:
        return [{column: _text(row.get(column)) for column in columns} for row in self._matching(table, where)]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def context_for(case: Case, folder: Path) -> ProbeContext:
    catalog = catalog_for(case.get("_extra_ddl", ""))
    policy = policy_for(case, folder)
    readback = None
    if "readback" in case or "readback_error" in case:
        readback = TableReadBack(case.get("readback") or {}, case.get("readback_error"))
    path_values = [str(v) for v in (case.get("path") or {}).values()]
    query_values = [str(v) for v in (case.get("query") or {}).values()]
    return ProbeContext(
        policy=policy,
        catalog=catalog,
        tagged=catalog.tag(policy),
        operation=OperationFacts(
            case["operation"], phi=bool(case.get("phi", False)), paginated=bool(case.get("paginated", False))
        ),
        principal=principal_for(case),
        inputs=tuple(str(v) for v in case.get("inputs", path_values + query_values)),
        response=case.get("response"),
        response_text=_response_text(case),
        readback=readback,
    )


def _canaries(context: ProbeContext) -> tuple[str, ...]:
    try:
        return context.policy.canary_values()
    except OSError:
        return ()


ProbeFn = Callable[[RequestTrace, ProbeContext], Iterator[Result]]


@pytest.fixture
def run_case(tmp_path: Path) -> Callable[[ProbeFn, Case], list[Result]]:
    """Run a probe over a case and check it: the ``(rule, outcome)`` multiset equals ``expect`` (and the
    severities it names); every result names the operation and the probe, has a message, and its message and
    evidence serialise without any of the policy's canaries."""

    def run(probe: ProbeFn, case: Case) -> list[Result]:
        context = context_for(case, tmp_path)
        results = list(probe(trace_for(case), context))
        assert results, "a probe must yield at least one result"
        actual = sorted((r.rule, r.outcome.value) for r in results)
        assert actual == sorted((str(item[0]), str(item[1])) for item in case["expect"])
        severities = {r.rule: r.severity.value for r in results}
        assert {str(i[0]): severities[str(i[0])] for i in case["expect"] if len(i) > 2} == {
            str(i[0]): str(i[2]) for i in case["expect"] if len(i) > 2
        }
        dumped = json.dumps([{"message": r.message, "evidence": r.evidence} for r in results], default=str)
        for canary in _canaries(context):
            assert canary not in dumped, "evidence holds a secret"
        for result in results:
            assert result.operation == case["operation"]
            assert result.check == probe.__name__ and result.rule.startswith(probe.__name__ + ".")
            assert result.message
        return results

    return run
