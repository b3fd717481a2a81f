"""``probity evidence``: export a run as a signed bundle, verify one, make a signing key.

export: exit 0 when written; 2 (one line) when the run, the key or the canary check stops it.
verify: exit 0 "verified"; 1 with every problem listed (altered, added, missing file, wrong key or signature);
2 when the bundle is not a readable zip. Verifying needs a public key the verifier trusts: ``--public-key``;
``--trust-embedded-key`` uses the key the bundle names, which proves integrity only, never who signed it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypeAlias

from probity.cli.project import find_project
from probity.core.errors import ConfigError

__all__ = ["add_evidence_commands", "run_export", "run_keygen", "run_verify"]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # generic for mypy only


def add_evidence_commands(commands: Subparsers) -> None:
    evidence = commands.add_parser("evidence", help="signed evidence bundles of runs: export, verify, keygen")
    actions = evidence.add_subparsers(title="evidence commands", required=True, metavar="ACTION")
    _add_export(actions)
    _add_verify(actions)
    keygen = actions.add_parser("keygen", help="make an Ed25519 signing key (and its public key beside it)")
    keygen.add_argument("-o", "--output", type=Path, required=True, metavar="KEY.pem", help="the private key to write")
    keygen.set_defaults(command=run_keygen)


def _add_export(actions: Subparsers) -> None:
    export = actions.add_parser("export", help="a run's reports as one signed zip")
    export.add_argument("run_dir", type=Path, nargs="?", metavar="RUN_DIR", help="the run (default: reports/latest)")
    export.add_argument("-o", "--output", type=Path, metavar="BUNDLE.zip", help="default: reports/<run-id>.zip")
    export.add_argument("--key", type=Path, metavar="FILE", help="Ed25519 private key (default: $PROBITY_SIGNING_KEY)")
    export.add_argument("--policy", type=Path, metavar="FILE", help="policy naming the canaries (default: the run's)")
    export.set_defaults(command=run_export)


def _add_verify(actions: Subparsers) -> None:
    verify = actions.add_parser("verify", help="check a bundle's signature and every file; exit 0 verified, 1 not")
    verify.add_argument("bundle", type=Path, metavar="BUNDLE.zip")
    trust = verify.add_mutually_exclusive_group(required=True)
    trust.add_argument("--public-key", type=Path, metavar="FILE", help="the signer's public key you trust")
    trust.add_argument(
        "--trust-embedded-key", action="store_true", help="use the key the bundle names: integrity only, not origin"
    )
    verify.set_defaults(command=run_verify)


def run_export(args: argparse.Namespace) -> int:
    from probity.reporting.evidence import export_bundle
    from probity.reporting.evidence_keys import load_private_key

    run_dir = _run_dir(args.run_dir)
    output = args.output or run_dir.parent / f"{run_dir.name}.zip"
    key = load_private_key(args.key)
    done = export_bundle(run_dir, output, key, policy=args.policy)
    print(f"wrote {done.path}: {done.files} files, signed by {done.fingerprint}")  # noqa: T201
    print(f"checked for {done.canaries_checked} secret canaries: none found")  # noqa: T201
    return 0


def _run_dir(given: Path | None) -> Path:
    run_dir = given or find_project().reports_dir / "latest"
    if not (run_dir / "findings.json").is_file():
        raise ConfigError("not a run folder (no findings.json)", run_dir)
    return run_dir.resolve()


def run_verify(args: argparse.Namespace) -> int:
    from probity.reporting.evidence import verify_bundle
    from probity.reporting.evidence_keys import load_public_key

    trusted = None if args.trust_embedded_key else load_public_key(args.public_key)
    check = verify_bundle(args.bundle, trusted)
    if check.verified:
        trust = "the key the bundle names (integrity only)" if trusted is None else "the trusted key"
        print(f"verified: {args.bundle}: {check.files} files, signed by {check.signer}, {trust}")  # noqa: T201
        return 0
    print(f"NOT verified: {args.bundle}")  # noqa: T201
    for problem in check.problems:
        print(f"  {problem}")  # noqa: T201
    return 1


def run_keygen(args: argparse.Namespace) -> int:
    from probity.reporting.evidence_keys import fingerprint, write_keypair

    public, key = write_keypair(args.output)
    print(f"wrote {args.output} (private: keep it secret) and {public}")  # noqa: T201
    print(f"fingerprint {fingerprint(key)}")  # noqa: T201
    return 0
