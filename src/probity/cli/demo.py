"""``probity demo``: the embedded default end to end — PostgreSQL, the default target, and a full run on it.

With ``--serve`` it only starts the stack and keeps it running for manual use until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

import requests
from rich.console import Console
from rich.table import Table

from probity.cli.project import find_project
from probity.cli.report import build_report_or_warn
from probity.cli.run import run_target
from probity.core.errors import BackendError, ConfigError
from probity.core.runs import new_run_dir
from probity.core.target import Target, load_target
from probity.runtime.stack import EmbeddedStack

__all__ = ["run_demo"]

_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def run_demo(args: argparse.Namespace, console: Console | None = None) -> int:
    """Run everything on the embedded default (or only serve it); return the exit code."""
    out = console or Console()
    target = _target(args)
    target.embedded_parts()  # the demo starts its target itself
    if args.serve:
        return _serve(target, args.defects, out)
    defects = f" with planted defects {args.defects}" if args.defects else " (correct mode)"
    out.print(f"[bold]probity demo[/]: the embedded default, target [cyan]{target.name}[/]{defects}")
    exit_code = run_target(target, args, out)
    build_report_or_warn((find_project().reports_dir / "latest").resolve(), out)  # the tour ends in a browser
    return exit_code


def _target(args: argparse.Namespace) -> Target:
    chosen = args.target or find_project().default_target
    if chosen is None:
        raise ConfigError("no target given: pass --target FILE or set [tool.probity] target in pyproject.toml")
    return load_target(chosen)


def _serve(target: Target, defects: str, out: Console) -> int:
    run_dir = new_run_dir(find_project().reports_dir, prefix="serve")
    stop = threading.Event()
    # Installed before anything is printed, so a SIGTERM sent on seeing the banner is never lost.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        with EmbeddedStack(target, run_dir, defects=defects) as stack:
            operations = _count_operations(stack.backend.openapi_url if stack.backend else None)
            out.print(_where(stack, operations, defects))
            out.print("Serving until interrupted (Ctrl-C)…")
            _wait(stop)
    finally:
        signal.signal(signal.SIGTERM, previous)
    out.print("[green]stopped[/]: PostgreSQL and the backend were stopped cleanly")
    return 0


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


def _wait(stop: threading.Event) -> None:
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the documented way to stop
        stop.wait()
