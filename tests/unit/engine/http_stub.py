"""A tiny HTTP backend in a thread for the HTTP-level checks' own tests: each test gives it a handler."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (method, path, headers, json body) -> (status, json body or None)
Handler = Callable[[str, str, dict[str, str], Any], tuple[int, Any]]


def _decoded(raw: bytes) -> Any:
    """The request's JSON body; the raw text when it is none (generators send malformed bodies too)."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


class StubServer:
    def __init__(self) -> None:
        self.handler: Handler = lambda method, path, headers, body: (404, {"code": "not_found"})
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._request_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _request_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class _Request(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                stub.requests.append((self.command, self.path))
                headers = {key.lower(): value for key, value in self.headers.items()}
                status, body = stub.handler(self.command, self.path, headers, _decoded(raw))
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return _Request

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
