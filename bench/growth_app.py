"""The backend the growth benchmark generates contracts for: CRUD over N tenant-scoped tables, one app for any N.

``python growth_app.py SPEC.json`` serves every resource the spec names (``/rNNN`` list and create,
``/rNNN/{item_id}`` read, update and delete) on ``GROWTH_HOST:GROWTH_PORT`` over ``GROWTH_DATABASE_URL``. Every
statement filters by the caller's organization and, with ``GROWTH_SQLCOMMENTER=1``, carries the request's
``traceparent`` as a SQL comment, so Probity's probes see a clean multi-tenant backend. Callers are known by
static bearer tokens listed in the spec (no SQL, so every run's statements are the resources' own).
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["build_app"]

MAX_LIMIT = 100
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail


def _answer(status: int, body: Any = None) -> Response:
    if body is None:
        return Response(status_code=status, headers=_HEADERS)
    return JSONResponse(body, status_code=status, headers=_HEADERS)


class _Resources:
    def __init__(self, pool: ConnectionPool[Any], tokens: dict[str, str], traced: bool) -> None:
        self.pool, self.tokens, self.traced = pool, tokens, traced

    def run(self, request: Request, text: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        header = request.headers.get("traceparent", "")
        if self.traced and _TRACEPARENT.match(header):
            text += f" /*traceparent='{header}'*/"
        with self.pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(text.encode(), params)
            return [_jsonable(row) for row in cursor.fetchall()] if cursor.description else []

    def caller(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            raise _Refused(401, "a valid bearer token is required")
        return self.tokens[token]

    def endpoints(self, table: str) -> list[Route]:
        """One route per path, so a 405 names every method of the path in its ``Allow`` header."""
        collection = {"GET": self.listing, "POST": self.create}
        item = {"GET": self.read, "PATCH": self.update, "DELETE": self.delete}
        return [
            Route(f"/{table}", self._dispatch(collection, table), methods=list(collection)),
            Route(f"/{table}/{{item_id}}", self._dispatch(item, table), methods=list(item)),
        ]

    def _dispatch(self, handlers: dict[str, Callable[[Request, str], Response]], table: str) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            try:
                request.state.body = await request.body()
                return handlers[request.method](request, table)
            except _Refused as refused:
                return _answer(refused.status, {"detail": refused.detail})

        return endpoint

    def listing(self, request: Request, table: str) -> Response:
        org = self.caller(request)
        limit = _integer(request.query_params.get("limit", "20"), 1, MAX_LIMIT)
        offset = _integer(request.query_params.get("offset", "0"), 0, 1_000_000)
        rows = self.run(
            request,
            f"SELECT id, name, created_at FROM {table} WHERE organization_id = %s ORDER BY created_at, id "
            "LIMIT %s OFFSET %s",
            (org, limit, offset),
        )
        return _answer(200, {"items": rows, "limit": limit, "offset": offset})

    def create(self, request: Request, table: str) -> Response:
        org = self.caller(request)
        name = _name(request, required=True)
        row = self.run(
            request,
            f"INSERT INTO {table} (id, organization_id, name) VALUES (%s, %s, %s) RETURNING id, name, created_at",
            (str(uuid.uuid4()), org, name),
        )
        return _answer(201, row[0])

    def read(self, request: Request, table: str) -> Response:
        org, item = self.caller(request), _item_id(request)
        rows = self.run(
            request, f"SELECT id, name, created_at FROM {table} WHERE id = %s AND organization_id = %s", (item, org)
        )
        return _answer(200, rows[0]) if rows else _answer(404, {"detail": "no such item"})

    def update(self, request: Request, table: str) -> Response:
        org, item = self.caller(request), _item_id(request)
        name = _name(request, required=False)
        rows = self.run(
            request,
            f"UPDATE {table} SET name = coalesce(%s, name) WHERE id = %s AND organization_id = %s "
            "RETURNING id, name, created_at",
            (name, item, org),
        )
        return _answer(200, rows[0]) if rows else _answer(404, {"detail": "no such item"})

    def delete(self, request: Request, table: str) -> Response:
        org, item = self.caller(request), _item_id(request)
        rows = self.run(
            request, f"DELETE FROM {table} WHERE id = %s AND organization_id = %s RETURNING id", (item, org)
        )
        return _answer(204) if rows else _answer(404, {"detail": "no such item"})


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if hasattr(value, "isoformat") else str(value) for key, value in row.items()}


def _integer(text: str, low: int, high: int) -> int:
    if not re.fullmatch(r"-?\d{1,9}", text) or not low <= int(text) <= high:
        raise _Refused(422, f"expected an integer from {low} to {high}")
    return int(text)


def _item_id(request: Request) -> str:
    text = str(request.path_params["item_id"])
    if not _UUID.fullmatch(text):
        raise _Refused(422, "item_id must be a UUID")
    return text


def _name(request: Request, *, required: bool) -> str | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise _Refused(422, "expected a JSON body")
    try:
        body = json.loads(request.state.body)
    except ValueError:
        raise _Refused(422, "the body is not JSON") from None
    if not isinstance(body, dict) or set(body) - {"name"} or (required and "name" not in body):
        raise _Refused(422, "expected an object with a name and nothing else")
    if "name" not in body:
        return None
    name = body["name"]
    if not (isinstance(name, str) and 1 <= len(name) <= 100):
        raise _Refused(422, "name must be a string of 1 to 100 characters")
    return name.replace("\x00", "")  # PostgreSQL text holds no NUL


def build_app(spec: dict[str, Any], database_url: str, traced: bool) -> Starlette:
    pool: ConnectionPool[Any] = ConnectionPool(database_url, min_size=1, max_size=4, kwargs={"autocommit": True})
    resources = _Resources(pool, spec["tokens"], traced)
    health = Route("/health", lambda _: _answer(200, {"status": "ok"}), methods=["GET"])
    openapi = Route("/openapi.json", lambda _: _answer(200, spec["openapi"]), methods=["GET"])
    routes = [health, openapi, *(route for table in spec["resources"] for route in resources.endpoints(table))]
    return Starlette(routes=routes)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    traced = os.environ.get("GROWTH_SQLCOMMENTER", "1") == "1"
    app = build_app(spec, os.environ["GROWTH_DATABASE_URL"], traced)
    host, port = os.environ.get("GROWTH_HOST", "127.0.0.1"), int(os.environ["GROWTH_PORT"])
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
