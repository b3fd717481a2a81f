"""``probity demo``: the embedded default end to end — PostgreSQL, the target's database and its backend."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import requests
from rich.console import Console
from rich.table import Table

from probity.cli.project import find_project
from probity.core.errors import BackendError, ConfigError
from probity.core.runs import new_run_dir
from probity.core.target import Target, load_target
from probity.runtime.stack import EmbeddedStack

__all__ = ["run_demo"]

_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def run_demo(target: Path | None, defects: str, serve: bool, console: Console | None = None) -> int:
    """Start the stack, check the backend's OpenAPI answers, print where everything is; 0 on success."""
    out = console or Console()
    spec = _target(target)
    run_dir = new_run_dir(find_project().reports_dir, prefix="demo")
    out.print(f"[bold]probity demo[/] — target [cyan]{spec.name}[/], run folder {run_dir}")
    with EmbeddedStack(spec, run_dir, defects=defects) as stack:
        operations = _count_operations(stack.backend.openapi_url if stack.backend else None)
        out.print(_where(stack, operations, defects))
        if serve:
            out.print("Serving until interrupted (Ctrl-C)…")
            _wait_for_interrupt()
    out.print("[green]demo finished[/]: the stack was started, answered, and was stopped cleanly")
    return 0


def _target(path: Path | None) -> Target:
    chosen = path or find_project().default_target
    if chosen is None:
        raise ConfigError("no target given: pass --target FILE or set [tool.probity] target in pyproject.toml")
    return load_target(chosen)


def _count_operations(openapi_url: str | None) -> int | None:
    if openapi_url is None:
        return None
    try:
        response = requests.get(openapi_url, timeout=10)
        response.raise_for_status()
        paths = response.json().get("paths", {})
    except (requests.RequestException, ValueError) as exc:
        raise BackendError(f"the backend's OpenAPI document at {openapi_url} is not usable: {exc}") from exc
    return sum(1 for item in paths.values() for method in item if method in _HTTP_METHODS)


def _where(stack: EmbeddedStack, operations: int | None, defects: str) -> Table:
    assert stack.pg is not None and stack.backend is not None and stack.database is not None
    table = Table(title="Embedded stack", show_header=False)
    pg = stack.pg
    table.add_row("PostgreSQL", f"{pg.binaries.major} ({pg.binaries.origin}) on {pg.host}:{pg.port}")
    table.add_row("Database", f"{stack.database.spec.name} (backend role {stack.database.app.user})")
    table.add_row("Statement log", str(pg.log_dir))
    table.add_row("Backend", stack.backend.base_url)
    table.add_row("OpenAPI", f"{stack.backend.openapi_url} ({operations} operations)")
    table.add_row("Backend log", str(stack.backend.log_path))
    table.add_row("Planted defects", defects or "none (correct mode)")
    return table


def _wait_for_interrupt() -> None:
    stop = threading.Event()

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _handler)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
