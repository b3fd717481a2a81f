"""``probity contract diff`` against a real HTTP server on a loopback port: a live OpenAPI document, probing
a backend that serves none (never with a state-changing method), and a backend that is not there."""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from probity.cli import main

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

# path pattern under /api/v1 -> the methods it serves; OPTIONS answers 405 with Allow unless listed in NO_ALLOW
ROUTES: dict[str, set[str]] = {
    "/patients": {"GET", "POST"},
    f"/patients/{UUID}": {"GET", "DELETE"},
    f"/patients/{UUID}/notes": {"PATCH"},
}
NO_ALLOW = {f"/patients/{UUID}/notes"}

Doc = dict[str, Any]


def _json(schema: Doc) -> Doc:
    return {"content": {"application/json": {"schema": schema}}}


PATIENT_REF = {"$ref": "#/components/schemas/Patient"}
PATIENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "name": {"type": "string", "maxLength": 200},
        "birth_date": {"type": ["string", "null"], "format": "date"},
    },
    "required": ["id", "name", "birth_date"],
}
NEW_PATIENT = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 200}},
    "required": ["name"],
    "additionalProperties": False,
}


def _path_param(name: str) -> list[Doc]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]


def _contract() -> Doc:
    ok = {"description": "ok"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Clinic", "version": "1.0.0"},
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/patients": {
                "get": {
                    "responses": {"200": {"description": "a list", **_json({"type": "array", "items": PATIENT_REF})}}
                },
                "post": {
                    "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/NewPatient"})},
                    "responses": {"201": {"description": "made", **_json(PATIENT_REF)}},
                },
            },
            "/patients/{patient_id}": {
                "get": {
                    "parameters": _path_param("patient_id"),
                    "responses": {"200": {"description": "one", **_json(PATIENT_REF)}},
                },
                "delete": {"parameters": _path_param("patient_id"), "responses": {"204": {"description": "gone"}}},
            },
            "/patients/{patient_id}/notes": {
                "patch": {
                    "parameters": _path_param("patient_id"),
                    "requestBody": {
                        "required": True,
                        **_json({"type": "object", "properties": {"notes": {"type": "string"}}}),
                    },
                    "responses": {"200": ok},
                }
            },
            "/reports": {"get": {"responses": {"200": ok}}},
            "/exports/{export_id}": {"put": {"parameters": _path_param("export_id"), "responses": {"200": ok}}},
        },
        "components": {"schemas": {"Patient": PATIENT, "NewPatient": NEW_PATIENT}},
    }


def _live_document(*, complete: bool) -> Doc:
    """The contract as a FastAPI backend would publish it: full paths, titles, anyOf-null, another parameter name."""
    contract = _contract()
    paths = {f"/api/v1{path.replace('{patient_id}', '{id}')}": item for path, item in contract["paths"].items()}
    for item in paths.values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                parameter["name"] = "id" if parameter["name"] == "patient_id" else parameter["name"]
    patient = copy.deepcopy(PATIENT)
    patient["title"] = "Patient"
    patient["properties"]["birth_date"] = {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "null"}],
        "title": "Birth Date",
    }
    if not complete:
        del paths["/api/v1/reports"], paths["/api/v1/exports/{export_id}"]
        paths["/api/v1/admin/stats"] = {"get": {"responses": {"200": {"description": "OK"}}}}
        patient["properties"]["ssn"] = {"type": "string", "title": "Ssn"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Clinic API", "version": "0.1.0"},
        "paths": paths,
        "components": {"schemas": {"Patient": patient, "NewPatient": {**NEW_PATIENT, "title": "NewPatient"}}},
    }


@dataclass
class Backend:
    """A tiny HTTP backend in a thread; it remembers every request it got."""

    openapi: Doc | None = None
    everyone_unauthorized: bool = False
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    base_url: str = ""

    def methods_seen(self) -> set[str]:
        return {method for method, _, _ in self.seen}


def _handler(backend: Backend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # the test output stays quiet
            pass

        def _answer(self, status: int, body: Doc | None, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _route(self) -> None:
            backend.seen.append((self.command, self.path, dict(self.headers)))
            if backend.everyone_unauthorized:
                return self._answer(401, {"code": "not_authenticated", "message": "Authentication required"})
            if self.path == "/openapi.json" and backend.openapi is not None:
                return self._answer(200, backend.openapi)
            pattern = next((p for p in ROUTES if re.fullmatch(f"/api/v1{p}", self.path)), None)
            if pattern is None:
                return self._answer(404, {"detail": "Not Found"})
            methods = ROUTES[pattern]
            if self.command not in methods:
                allow = {} if pattern in NO_ALLOW else {"Allow": ", ".join(sorted(methods))}
                return self._answer(405, {"detail": "Method Not Allowed"}, allow)
            if pattern == "/patients":
                return self._answer(401, {"code": "not_authenticated", "message": "Authentication required"})
            return self._answer(404, {"code": "not_found", "message": "No patient with this id"})

        do_GET = do_HEAD = do_OPTIONS = do_POST = do_PUT = do_PATCH = do_DELETE = _route

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[..., Backend]]:
    started: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(**options: Any) -> Backend:
        backend = Backend(**options)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(backend))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
        backend.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        return backend

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def contract_file(tmp_path: Path) -> Path:
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(_contract(), sort_keys=False), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there


def _json_report(capsys: pytest.CaptureFixture[str]) -> Doc:
    report: Doc = json.loads(capsys.readouterr().out)
    return report


def _rows(report: Doc) -> dict[str, tuple[bool, str]]:
    return {row["operation"]: (row["documented"], row["implemented"]) for row in report["operations"]}


# Live OpenAPI -------------------------------------------------------------------------------------------------


def test_live_document_differences_are_found_and_exit_1(
    serve: Callable[..., Backend], contract_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = serve(openapi=_live_document(complete=False))
    args = ["contract", "diff", str(contract_file), "--base-url", backend.base_url, "--format", "json"]
    assert main([*args, "--header", "X-Api-Key: k1"]) == 1
    report = _json_report(capsys)
    assert _rows(report) == {
        "GET /api/v1/patients": (True, "yes"),
        "POST /api/v1/patients": (True, "yes"),
        "GET /api/v1/patients/{patient_id}": (True, "yes"),
        "DELETE /api/v1/patients/{patient_id}": (True, "yes"),
        "PATCH /api/v1/patients/{patient_id}/notes": (True, "yes"),
        "GET /api/v1/reports": (True, "no"),
        "PUT /api/v1/exports/{export_id}": (True, "no"),
        "GET /api/v1/admin/stats": (False, "yes"),
    }
    found = {
        (item["operation"], item["kind"], item["severity"])
        for row in report["operations"]
        for item in row["differences"]
    }
    found |= {(item["operation"], item["kind"], item["severity"]) for item in report["shared"]}
    assert found == {
        ("GET /api/v1/patients/{patient_id}", "path-parameter-renamed", "info"),
        ("DELETE /api/v1/patients/{patient_id}", "path-parameter-renamed", "info"),
        ("PATCH /api/v1/patients/{patient_id}/notes", "path-parameter-renamed", "info"),
        ("GET /api/v1/reports", "operation-missing", "error"),
        ("PUT /api/v1/exports/{export_id}", "operation-missing", "error"),
        ("GET /api/v1/admin/stats", "operation-undocumented", "warning"),
        ("schema Patient", "property-undocumented", "warning"),
    }
    assert [(method, path) for method, path, _ in backend.seen] == [("GET", "/openapi.json")]
    assert backend.seen[0][2].get("X-Api-Key") == "k1"


def test_a_backend_that_agrees_in_everything_but_words_exits_0(
    serve: Callable[..., Backend], contract_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = serve(openapi=_live_document(complete=True))
    assert main(["contract", "diff", str(contract_file), "--base-url", backend.base_url]) == 0
    out = capsys.readouterr().out
    assert "7 documented, 7 implemented, 0 missing, 0 undocumented; 0 errors, 0 warnings, 3 notes" in out
    assert "Operation" in out and "Implemented" in out


def test_an_explicit_openapi_url_that_does_not_answer_suggests_probing(
    serve: Callable[..., Backend], contract_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = serve()
    url = f"{backend.base_url}/docs/openapi.json"
    assert main(["contract", "diff", str(contract_file), "--base-url", backend.base_url, "--openapi-url", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"probity: error: {url} answered 404") and "--probe" in err


@pytest.mark.parametrize("mode", [[], ["--probe"]], ids=["openapi", "probe"])
def test_an_unreachable_backend_is_one_clear_line_and_exit_2(
    contract_file: Path, capsys: pytest.CaptureFixture[str], mode: list[str]
) -> None:
    base_url = f"http://127.0.0.1:{_free_port()}"
    assert main(["contract", "diff", str(contract_file), "--base-url", base_url, *mode]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert re.fullmatch(
        rf"probity: error: cannot reach the backend at {base_url}\S*: Connection refused\n", captured.err
    )


# Probing ------------------------------------------------------------------------------------------------------


def test_probing_finds_routes_and_never_sends_a_state_changing_method(
    serve: Callable[..., Backend], contract_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = serve()  # serves no OpenAPI document
    args = ["contract", "diff", str(contract_file), "--base-url", backend.base_url, "--probe", "--format", "json"]
    assert main(args) == 1
    report = _json_report(capsys)
    assert _rows(report) == {
        "GET /api/v1/patients": (True, "likely"),  # 401
        "POST /api/v1/patients": (True, "likely"),  # OPTIONS: Allow lists POST
        "GET /api/v1/patients/{patient_id}": (True, "likely"),  # the API's own 404 for the dummy id
        "DELETE /api/v1/patients/{patient_id}": (True, "likely"),
        "PATCH /api/v1/patients/{patient_id}/notes": (True, "not probed"),  # 405 without Allow
        "GET /api/v1/reports": (True, "likely not"),
        "PUT /api/v1/exports/{export_id}": (True, "likely not"),
    }
    assert report["counts"] == {"error": 2, "warning": 0, "info": 1}
    assert backend.methods_seen() <= {"GET", "HEAD", "OPTIONS"}
    assert not backend.methods_seen() & STATE_CHANGING
    paths = [path for method, path, _ in backend.seen if method == "GET"]
    assert any(re.fullmatch(f"/api/v1/patients/{UUID}", path) for path in paths)
    assert "/openapi.json" not in paths


def test_probing_a_backend_that_answers_every_path_alike_is_unknown_not_missing(
    serve: Callable[..., Backend], contract_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = serve(everyone_unauthorized=True)
    args = ["contract", "diff", str(contract_file), "--base-url", backend.base_url, "--probe", "--format", "json"]
    assert main(args) == 0
    report = _json_report(capsys)
    assert {implemented for _, implemented in _rows(report).values()} == {"unknown"}
    assert not backend.methods_seen() & STATE_CHANGING


def test_a_probe_report_in_markdown_goes_to_a_file(
    serve: Callable[..., Backend], contract_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = serve()
    out = tmp_path / "reports" / "diff.md"
    args = ["contract", "diff", str(contract_file), "--base-url", f"{backend.base_url}/api/v1/", "--probe"]
    assert main([*args, "--format", "markdown", "-o", str(out)]) == 1
    stdout = capsys.readouterr().out
    assert stdout.endswith(f"; wrote {out}\n") and "unverified (probed: results are likely, not certain)" in stdout
    text = out.read_text(encoding="utf-8")
    assert text.startswith(f"# Contract diff: {contract_file}")
    assert "| `GET /api/v1/reports` | yes | likely not | 1 error |" in text
    assert not backend.methods_seen() & STATE_CHANGING
