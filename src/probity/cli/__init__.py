"""The ``probity`` command line: parse arguments, run a command, turn errors into messages and exit codes."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from probity import __version__
from probity.core.errors import ProbityError

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``probity`` console script; returns the process exit code."""
    args = _parser().parse_args(argv)
    command: Command = args.command
    try:
        return command(args)
    except ProbityError as exc:
        print(f"probity: error: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    except KeyboardInterrupt:
        print("probity: interrupted", file=sys.stderr)  # noqa: T201
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="probity", description=__doc__)
    parser.add_argument("--version", action="version", version=f"probity {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _add_demo(commands)
    _add_run(commands)
    _add_contract(commands)
    for name, help_text, module in _SIMPLE:
        _add_simple(commands, name, help_text, module)
    _add_evidence(commands)
    _add_merge(commands)
    return parser


# Commands whose module probity.cli.<module> brings add_<module>_arguments(parser) and run_<module>(args) -> int.
_SIMPLE = (
    ("observe", "judge recorded traffic (a HAR file) against the contract; --replay to probe its SQL", "observe"),
    ("report", "rewrite a run's reports from its findings.json and build the HTML report (Allure 3)", "report"),
    (
        "review",
        "review the design documents (reference, blueprint, DDL) against the policy before building",
        "review",
    ),
)


def _lazy(module: str, function: str) -> Command:
    """A command that imports *module* only when it runs: heavy imports stay with the command that needs them."""

    def command(args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(module), function)(args))

    return command


def _add_simple(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str, module: str
) -> None:
    parser = commands.add_parser(name, help=help_text)
    getattr(importlib.import_module(f"probity.cli.{module}"), f"add_{module}_arguments")(parser)
    parser.set_defaults(command=_lazy(f"probity.cli.{module}", f"run_{module}"))


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="the embedded default end to end: PostgreSQL, the default target, and a full run against it"
    )
    demo.add_argument("--serve", action="store_true", help="only start everything and keep it running until Ctrl-C")
    from probity.cli.run import add_run_arguments

    add_run_arguments(demo)
    # The demo is a tour, not a release gate: a smaller budget keeps it to a few minutes.
    demo.set_defaults(command=_lazy("probity.cli.demo", "run_demo"), max_examples=10)


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from probity.cli.run import add_run_arguments

    run = commands.add_parser(
        "run", help="run every check against a target; exit 0 pass, 1 findings, 2 errors, 3 inconclusive"
    )
    add_run_arguments(run)
    run.set_defaults(command=_lazy("probity.cli.run", "run_command"))


def _add_evidence(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from probity.cli.evidence import add_evidence_commands  # its commands import cryptography only when run

    add_evidence_commands(commands)


def _add_merge(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from probity.cli.merge import add_merge_command

    add_merge_command(commands)


def _add_contract(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    contract = commands.add_parser("contract", help="work with API contracts")
    actions = contract.add_subparsers(title="contract commands", required=True, metavar="ACTION")
    derive = actions.add_parser("derive", help="derive an OpenAPI 3.1 contract from a Markdown API reference")
    derive.add_argument("reference", type=Path, metavar="REFERENCE.md", help="the API reference")
    derive.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.yaml", help="the contract to write")
    derive.add_argument("--strict", action="store_true", help="fail (exit 2) on any problem; write nothing")
    derive.set_defaults(command=_contract_derive)
    _add_contract_diff(actions)


def _contract_derive(args: argparse.Namespace) -> int:
    from probity.cli.contract import run_derive  # only the command that needs it loads the validator

    return run_derive(args.reference, args.output, strict=args.strict)


def _add_contract_diff(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    diff = actions.add_parser(
        "diff", help="compare a contract with a running backend: is every operation implemented, and do they agree?"
    )
    diff.add_argument("contract", type=Path, metavar="CONTRACT.yaml", help="the OpenAPI contract")
    diff.add_argument("--base-url", required=True, metavar="URL", help="the backend, e.g. http://127.0.0.1:8000")
    live = diff.add_mutually_exclusive_group()
    live.add_argument("--openapi-url", metavar="URL", help="its live OpenAPI document (default: <origin>/openapi.json)")
    live.add_argument("--probe", action="store_true", help="no OpenAPI: send one GET/HEAD/OPTIONS per operation")
    diff.add_argument("--format", choices=("table", "json", "markdown"), default="table", help="default: table")
    diff.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the report here (default: stdout)")
    diff.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'", help="send this header (repeatable)"
    )
    diff.set_defaults(command=_lazy("probity.cli.contract", "run_diff"))
