"""The ``probity`` command line: parse arguments, run a command, turn errors into messages and exit codes."""

from __future__ import annotations

import argparse
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
    _add_contract(commands)
    return parser


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="start an embedded PostgreSQL and the default target backend, and check them"
    )
    demo.add_argument("--target", type=Path, help="target file (default: [tool.probity] target)")
    demo.add_argument("--defects", default="", help="planted defects to switch on: id,id… or 'all'")
    demo.add_argument("--serve", action="store_true", help="keep everything running until interrupted")
    demo.set_defaults(command=_demo)


def _demo(args: argparse.Namespace) -> int:
    from probity.cli.demo import run_demo  # heavy imports only for the command that needs them

    return run_demo(target=args.target, defects=args.defects, serve=args.serve)


def _add_contract(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    contract = commands.add_parser("contract", help="work with API contracts")
    actions = contract.add_subparsers(title="contract commands", required=True, metavar="ACTION")
    derive = actions.add_parser("derive", help="derive an OpenAPI 3.1 contract from a Markdown API reference")
    derive.add_argument("reference", type=Path, metavar="REFERENCE.md", help="the API reference")
    derive.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.yaml", help="the contract to write")
    derive.add_argument("--strict", action="store_true", help="fail (exit 2) on any problem; write nothing")
    derive.set_defaults(command=_contract_derive)


def _contract_derive(args: argparse.Namespace) -> int:
    from probity.cli.contract import run_derive  # only the command that needs it loads the validator

    return run_derive(args.reference, args.output, strict=args.strict)
