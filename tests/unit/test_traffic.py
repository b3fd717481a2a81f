"""Traffic Probity did not generate: HAR parsing, operation matching, contract validation, replay rules."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest
import requests

import probity.engine.session
import probity.engine.traffic
from probity.core.errors import ConfigError
from probity.core.findings import Outcome, Result
from probity.core.target import Target, load_target
from probity.engine.auth import Credential
from probity.engine.traffic import (
    CHECK,
    RECORDED,
    OperationMatcher,
    Traffic,
    entry_request,
    probe_names,
    read_har,
    recorded_exchange,
    replay_refusal,
)

HAR = Path(__file__).resolve().parents[1] / "fixtures" / "har"


@pytest.fixture
def target() -> Target:
    return load_target(HAR / "tiny" / "target.yaml")


@pytest.fixture
def traffic(target: Target) -> Traffic:
    return Traffic.for_target(target, "http://127.0.0.1:9/api")


def _contract_results(results: list[Result]) -> list[Result]:
    return [r for r in results if r.check == CHECK]


@pytest.mark.parametrize("module", [probity.engine.traffic, probity.engine.session])
def test_doctests(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def test_har_entries_are_read_with_bodies_and_headers() -> None:
    entries = read_har(HAR / "small.har")
    assert [(e.method, e.url.removeprefix("http://api.test/api"), e.status) for e in entries] == [
        ("GET", "/items/7", 200),
        ("GET", "/items/8", 200),
        ("POST", "/auth/login", 200),
        ("DELETE", "/items/7", 204),
        ("GET", "/nowhere", 404),
        ("GET", "/items?limit=zero", 200),
    ]
    assert json.loads(entries[1].response_body) == {"id": "8"}  # base64 in the file
    assert json.loads(entries[2].request_body) == {"email": "alice@tiny.test", "password": "pw"}
    assert entries[0].header("x-probity-principal") == "alice"
    assert entries[3].response_body == b""


def test_a_recorded_exchange_becomes_requests_objects_without_pseudo_headers() -> None:
    request, response = recorded_exchange(read_har(HAR / "small.har")[0])
    assert request.url == "http://api.test/api/items/7"
    assert ":authority" not in request.headers and "X-Probity-Principal" not in request.headers
    assert request.headers["Authorization"] == "Bearer tok-alice"
    assert response.status_code == 200 and response.json() == {"id": "7", "name": "pen"}
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "cannot read the HAR file"),
        ('{"log": {}}', "no log.entries list"),
        ('{"log": {"entries": [{"request": {"method": "GET"}, "response": {"status": 200}}]}}', "HAR entry 0"),
        ('{"log": {"entries": [{"request": {"method": "GET", "url": "u"}, "response": {"status": "x"}}]}}', "entry 0"),
    ],
)
def test_a_malformed_har_is_a_configuration_error(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.har"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem):
        read_har(path)


def test_operations_are_matched_literal_first_and_below_the_api_root() -> None:
    contract = {"paths": {"/users/{id}": {"get": {}, "delete": {}}, "/users/me": {"get": {}}, "/": {"get": {}}}}
    matcher = OperationMatcher(contract, "/api/v1/", "/api")
    assert matcher.match("GET", "http://h/api/v1/users/me?x=1").label == "GET /users/me"
    found = matcher.match("delete", "http://h/api/v1/users/a%20b")
    assert (found.label, found.documented, found.path_parameters) == ("DELETE /users/{id}", True, {"id": "a b"})
    assert matcher.match("GET", "http://h/api/v1").label == "GET /"
    assert not matcher.match("GET", "http://h/other/users/me").documented
    assert matcher.match("POST", "http://h/api/v1/users/me").label == "POST /users/me"
    assert matcher.match("GET", "http://h/api/users/7").label == "GET /users/{id}"  # the other root


def test_recorded_traffic_is_judged_against_the_contract(traffic: Traffic) -> None:
    entries = read_har(HAR / "small.har")
    verdicts = {}
    for entry in entries:
        found = _contract_results(traffic.recorded(entry, entry.header("X-Probity-Principal")))
        verdicts[entry.index] = [(r.rule, r.outcome, r.operation) for r in found]
    assert verdicts == {
        0: [(CHECK, Outcome.PASS, "GET /items/{item_id}")],
        1: [(f"{CHECK}.response", Outcome.FAIL, "GET /items/{item_id}")],
        2: [(CHECK, Outcome.PASS, "POST /auth/login")],
        3: [(f"{CHECK}.undocumented", Outcome.FAIL, "DELETE /items/7")],
        4: [(CHECK, Outcome.NOT_APPLICABLE, "GET /nowhere")],
        5: [(f"{CHECK}.request_accepted", Outcome.FAIL, "GET /items")],
    }
    first = _contract_results(traffic.results)[0]
    assert first.evidence["principal"] == "alice"


def test_recorded_traffic_leaves_every_sql_probe_inconclusive(traffic: Traffic) -> None:
    found = traffic.recorded(read_har(HAR / "small.har")[0])
    sql = [r for r in found if r.check != CHECK]
    assert {r.check for r in sql} == set(probe_names()) and sql
    assert {(r.outcome, r.message) for r in sql} == {(Outcome.INCONCLUSIVE, RECORDED)}
    replayed = traffic.recorded(read_har(HAR / "small.har")[0], replayed=True)
    assert [r.check for r in replayed] == [CHECK]  # the replay speaks for its SQL


def test_failures_name_what_broke_without_the_values(traffic: Traffic) -> None:
    entries = read_har(HAR / "small.har")
    broken = _contract_results(traffic.recorded(entries[1]))[0]
    assert broken.message == "the response body does not match its schema"
    assert broken.evidence["details"] == ["/: required ('name' is a required property)"]
    accepted = _contract_results(traffic.recorded(entries[5]))[0]
    assert (
        accepted.message == "the backend answered 200 to a request the contract rejects: Query parameter error: limit"
    )
    assert accepted.evidence["details"] == ["not a valid integer"]
    assert "zero" not in json.dumps(accepted.evidence)


def test_a_phi_value_in_a_broken_body_never_reaches_the_result(traffic: Traffic) -> None:
    entry = read_har(HAR / "small.har")[0]
    leaky = type(entry)(**{**entry.__dict__, "response_body": b'{"id": "7", "name": ["Ann Smith"]}'})
    (result,) = _contract_results(traffic.recorded(leaky))
    assert result.outcome is Outcome.FAIL
    assert result.evidence["details"] == ["/name: type"]
    assert "Ann" not in result.message + json.dumps(result.evidence)


def test_a_rejected_bad_request_passes(traffic: Traffic) -> None:
    entry = read_har(HAR / "small.har")[5]
    rejected = type(entry)(**{**entry.__dict__, "status": 422, "response_body": b'{"code": "bad_limit"}'})
    (result,) = _contract_results(traffic.recorded(rejected))
    assert (result.outcome, result.message) == (
        Outcome.PASS,
        "request and response conform; the request broke the contract and the backend rejected it",
    )


def test_replays_honour_the_allow_list_and_the_policy(target: Target) -> None:
    local = Traffic.for_target(target, "http://127.0.0.1:9/api")
    remote = Traffic.for_target(target, "https://prod.example/api")
    assert replay_refusal("GET", "GET /items", remote) is None
    assert replay_refusal("POST", "POST /auth/login", local) is None
    refusal = replay_refusal("POST", "POST /auth/login", remote)
    assert refusal is not None and refusal.startswith("read-only:") and "prod.example" in refusal
    session_ending = target.model_copy(update={"allow_writes_to": ("127.0.0.1",)})
    traffic = Traffic.for_target(session_ending, "http://127.0.0.1:9/api")
    traffic.policy = traffic.policy.model_copy(update={"session_ending_operations": ("POST /auth/login",)})
    assert replay_refusal("POST", "POST /auth/login", traffic) == (
        "not replayed: the policy marks it destructive or session-ending"
    )


def test_a_replayed_request_goes_to_the_live_root_with_a_fresh_credential(target: Target) -> None:
    traffic = Traffic.for_target(target, "http://127.0.0.1:9/base/api")
    entry = read_har(HAR / "small.har")[5]
    request = entry_request(entry, traffic, Credential("bob", "Authorization", "Bearer fresh")).prepare()
    assert request.url == "http://127.0.0.1:9/base/api/items?limit=zero"
    assert request.headers["Authorization"] == "Bearer fresh"
    assert "traceparent" not in {k.lower() for k in request.headers}


def test_live_traffic_without_a_statement_log_is_validated_and_blind(target: Target) -> None:
    traffic = Traffic.for_target(target, "http://127.0.0.1:9/api")

    class Canned(requests.Session):
        def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:  # type: ignore[override]
            response = requests.Response()
            response.status_code, response._content, response.request = 200, b'{"id": "7"}', request
            response.headers["Content-Type"] = "application/json"
            return response

    with Canned() as session:
        response, found = traffic.send(session, requests.Request("GET", "http://127.0.0.1:9/api/items/7"), "bob")
    assert response.status_code == 200
    assert [r.rule for r in _contract_results(found)] == [f"{CHECK}.response"]
    assert {r.outcome for r in found if r.check != CHECK} == {Outcome.INCONCLUSIVE}
    assert traffic.since((0, 0)) == found == traffic.results
