"""``probity contract derive`` and ``probity contract diff``.

derive: print what the reference gets wrong, then write (or, strictly, refuse).
diff: compare the contract with a running backend's OpenAPI document (or probe it), report, exit 0/1/2.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from probity.contracts.derive import Derivation, derive_contract, require_clean, write_contract
from probity.contracts.diff import diff_documents
from probity.contracts.diff_render import render_json, render_markdown, render_table
from probity.contracts.differences import DiffReport
from probity.contracts.live import default_openapi_url, fetch_openapi, origin_of, parse_headers, read_contract
from probity.contracts.probe import probe_contract
from probity.core.errors import ConfigError

__all__ = ["run_derive", "run_diff"]

_REPORT_WIDTH = 160  # the table's width in a file or a pipe, where there is no terminal to measure


def run_derive(reference: Path, output: Path, *, strict: bool = False) -> int:
    """Derive *reference* into *output*; each diagnostic on stderr as ``FILE:LINE: message``; 0 when written.

    With *strict* and any problem, raises :class:`~probity.core.errors.ConfigError` (exit code 2) and writes
    nothing.
    """
    derivation = derive_contract(reference)
    for diagnostic in derivation.diagnostics:
        print(diagnostic, file=sys.stderr)  # noqa: T201
    refused = strict and bool(derivation.problems)
    print(_summary(derivation, output, refused))  # noqa: T201
    if refused:
        require_clean(derivation)
    write_contract(derivation, output)
    return 0


def _summary(derivation: Derivation, output: Path, refused: bool) -> str:
    paths = derivation.document.get("paths", {})
    operations = sum(len(item) for item in paths.values())
    schemas = len(derivation.document.get("components", {}).get("schemas", {}))
    problems = len(derivation.problems)
    notes = len(derivation.diagnostics) - problems
    counts = f"{operations} operations, {schemas} schemas, {problems} problems, {notes} notes"
    outcome = "nothing written (--strict)" if refused else f"wrote {output}"
    return f"{derivation.source}: {counts}; {outcome}"


def run_diff(args: argparse.Namespace, console: Console | None = None) -> int:
    """``probity contract diff``: 0 when no difference is an error, 1 when one is; configuration errors raise.

    Raises :class:`~probity.core.errors.ConfigError` for a malformed contract or option, and
    :class:`~probity.core.errors.BackendError` for a backend that cannot be reached (both exit code 2).
    """
    headers = parse_headers(args.header)
    origin_of(args.base_url)
    contract = read_contract(args.contract)
    report = _diff_report(contract, args, headers)
    if args.output is None:
        _print_report(report, args.format, console)
    else:
        _write_report(report, args.format, args.output)
        print(f"{report.summary()}; wrote {args.output}")  # noqa: T201
    return report.exit_code


def _diff_report(contract: dict[str, Any], args: argparse.Namespace, headers: Mapping[str, str]) -> DiffReport:
    name = str(args.contract)
    if args.probe:
        return probe_contract(contract, args.base_url, headers=headers, contract_name=name)
    url = args.openapi_url or default_openapi_url(args.base_url)
    live = fetch_openapi(url, headers=headers)
    return diff_documents(contract, live, contract_name=name, live_name=url)


def _print_report(report: DiffReport, form: str, console: Console | None) -> None:
    if form != "table":
        sys.stdout.write(_text(report, form))
        return
    out = console or Console()
    if console is None and not out.is_terminal:
        out = Console(width=_REPORT_WIDTH)
    out.print(render_table(report))


def _write_report(report: DiffReport, form: str, output: Path) -> None:
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(_text(report, form), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report: {exc.strerror}", output) from exc


def _text(report: DiffReport, form: str) -> str:
    if form == "json":
        return render_json(report)
    if form == "markdown":
        return render_markdown(report)
    buffer = io.StringIO()
    Console(file=buffer, width=_REPORT_WIDTH, color_system=None).print(render_table(report))
    return buffer.getvalue()
