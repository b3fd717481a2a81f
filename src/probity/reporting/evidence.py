"""Signed evidence bundles: a run's reports in one zip, with a manifest of their hashes signed with Ed25519.

A bundle holds ``manifest.json`` (format, every file's SHA-256 and size, the run's metadata and provenance,
when and by whom it was made, the signer's public key), ``manifest.sig`` (the base64 Ed25519 signature of the
manifest's exact bytes), ``summary.md``, ``findings.json``, ``matrix.md``, ``matrix.json`` and, when the run
has them, ``allure-results/**`` and ``junit.xml``. The zip is deterministic: sorted names, fixed timestamps.

Before anything is written, every file's bytes are searched for the target's secret canaries (the policy's
canary file); a bundle that would carry one is refused, naming the file and never the value. Verification
rejects a wrong signature and any altered, added, duplicated or missing file, listing each problem.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import html
import io
import json
import os
import socket
import zipfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from probity import __version__
from probity.core.errors import ConfigError, HarnessError
from probity.core.policy import load_policy
from probity.reporting.evidence_keys import fingerprint, public_key_from_text, public_key_text
from probity.reporting.evidence_summary import summary_markdown
from probity.reporting.findings_json import RunRecord, read_findings
from probity.reporting.matrix import build_matrix, matrix_json, matrix_markdown

__all__ = [
    "BUNDLE_FORMAT",
    "MANIFEST",
    "SIGNATURE",
    "Export",
    "Verification",
    "bundle_files",
    "canonical_zip",
    "canaries_for",
    "export_bundle",
    "files_with_canaries",
    "verify_bundle",
]

BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: the same files make the same bytes
_OPTIONAL = ("junit.xml",)
# What reading a changed member can raise: a CRC mismatch, a header that no longer agrees, an "encrypted" flag.
_UNREADABLE = (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, ValueError, OSError)
_FOLDERS = ("allure-results",)


@dataclass(frozen=True)
class Export:
    path: Path
    files: int
    fingerprint: str
    canaries_checked: int


@dataclass
class Verification:
    """What verifying a bundle found; verified only when there is no problem."""

    problems: list[str] = field(default_factory=list)
    files: int = 0
    signer: str = ""  # the fingerprint of the key the signature was checked with

    @property
    def verified(self) -> bool:
        return not self.problems


def bundle_files(run_dir: Path, record: RunRecord) -> dict[str, bytes]:
    """Every file a bundle of *run_dir* carries besides its manifest and signature, by name in the zip."""
    matrix = build_matrix(record)
    files = {
        "findings.json": (run_dir / "findings.json").read_bytes(),
        "summary.md": summary_markdown(record).encode(),
        "matrix.md": _existing(run_dir / "matrix.md") or matrix_markdown(matrix).encode(),
        "matrix.json": _existing(run_dir / "matrix.json") or matrix_json(matrix).encode(),
    }
    files |= {name: data for name in _OPTIONAL if (data := _existing(run_dir / name)) is not None}
    for folder in _FOLDERS:
        root = run_dir / folder
        found = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        files |= {f"{folder}/{p.relative_to(root).as_posix()}": p.read_bytes() for p in found}
    return files


def _existing(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def canaries_for(record: RunRecord, policy: Path | None = None) -> tuple[str, ...]:
    """The target's canaries: from *policy*, else from the policy file the run names in its provenance."""
    path = policy or _policy_of(record)
    if path is None or not path.is_file():
        named = f" ({path})" if path is not None else ""
        raise HarnessError(
            f"cannot check the bundle for secrets: the run's policy file{named} is not here; give it with --policy"
        )
    return load_policy(path).canary_values()


def _policy_of(record: RunRecord) -> Path | None:
    documents = (record.metadata.get("provenance") or {}).get("documents") or {}
    path = (documents.get("policy") or {}).get("path")
    return Path(path) if path else None


def files_with_canaries(files: Mapping[str, bytes], canaries: tuple[str, ...]) -> list[str]:
    """The names of the files holding any canary, as it is or escaped for JSON, URLs or HTML.

    >>> files_with_canaries({"a.json": b'{"k": "s3cr\\\\/t"}', "b.md": b"fine"}, ("s3cr/t",))
    ['a.json']
    """
    needles = {form for canary in canaries for form in _encodings(canary)}
    return sorted(name for name, data in files.items() if any(needle in data for needle in needles))


def _encodings(canary: str) -> set[bytes]:
    forms = (canary, json.dumps(canary)[1:-1], json.dumps(canary).replace("/", "\\/")[1:-1], quote(canary, safe=""))
    return {form.encode() for form in (*forms, html.escape(canary))}


def export_bundle(
    run_dir: Path, output: Path, key: Ed25519PrivateKey, *, policy: Path | None = None, now: datetime | None = None
) -> Export:
    """Write the signed bundle of the run in *run_dir* to *output*; :class:`HarnessError` if it would leak."""
    record = read_findings(run_dir)
    files = bundle_files(run_dir, record)
    canaries = canaries_for(record, policy)
    manifest = _manifest(files, record, key.public_key(), len(canaries), now or datetime.now(UTC))
    leaking = files_with_canaries({**files, MANIFEST: manifest}, canaries)
    if leaking:
        raise HarnessError(f"refusing to export: a secret canary appears in {', '.join(leaking)}")
    signature = base64.b64encode(key.sign(manifest)) + b"\n"
    _write_zip(output, {**files, MANIFEST: manifest, SIGNATURE: signature})
    return Export(output, len(files), fingerprint(key.public_key()), len(canaries))


def _manifest(
    files: Mapping[str, bytes], record: RunRecord, signer: Ed25519PublicKey, canaries: int, now: datetime
) -> bytes:
    document = {
        "format": BUNDLE_FORMAT,
        "created_at": now.isoformat(timespec="seconds"),
        "created_by": _who(),
        "tool": {"probity": __version__},
        "signer": {"algorithm": "ed25519", "public_key": public_key_text(signer), "fingerprint": fingerprint(signer)},
        "canary_scan": {"canaries": canaries, "clean": True},
        "run": record.metadata,
        "files": {name: _digest(data) for name, data in files.items()},
    }
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _digest(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _write_zip(output: Path, members: Mapping[str, bytes]) -> None:
    partial = output.with_name(f".{output.name}.partial")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(canonical_zip(members))
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the bundle: {exc.strerror}", output) from exc


def canonical_zip(members: Mapping[str, bytes]) -> bytes:
    """The one zip of *members*: sorted names, fixed times and modes, stored uncompressed.

    Stored, not deflated, so the bytes depend on nothing but the members (not on a zlib version): a verifier
    rebuilds them and so notices a change to any byte, headers included.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(members):
            archive.writestr(_entry(name), members[name])
    return buffer.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    entry.create_system = 3  # Unix, wherever it is made
    entry.external_attr = 0o644 << 16
    return entry


def verify_bundle(bundle: Path, trusted: Ed25519PublicKey | None) -> Verification:
    """Check *bundle*'s signature (with *trusted*, or the key it names when None) and every file's hash.

    An unreadable zip raises :class:`ConfigError`; everything else wrong is a problem in the result.
    """
    try:
        data = bundle.read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check = _verify(archive, trusted)
            if check.verified:
                _check_canonical(archive, data, check)
            return check
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise ConfigError(f"not a readable evidence bundle: {exc}", bundle) from exc


def _verify(archive: zipfile.ZipFile, trusted: Ed25519PublicKey | None) -> Verification:
    check = Verification()
    repeated = Counter(archive.namelist())
    check.problems += [f"duplicate entry: {name}" for name, count in sorted(repeated.items()) if count > 1]
    manifest_bytes = _member(archive, MANIFEST, check)
    signature = _member(archive, SIGNATURE, check)
    if manifest_bytes is None:
        return check
    manifest = _parse_manifest(manifest_bytes, check)
    key = trusted or _embedded_key(manifest, check)
    if key is not None and signature is not None:
        check.signer = fingerprint(key)
        _check_signature(key, signature, manifest_bytes, manifest, check)
    _check_files(archive, manifest.get("files"), check)
    return check


def _check_canonical(archive: zipfile.ZipFile, data: bytes, check: Verification) -> None:
    """Every member is intact; the zip around them must be the canonical one too (no byte changed anywhere)."""
    members = {name: archive.read(name) for name in archive.namelist()}
    if canonical_zip(members) != data:
        check.problems.append("the zip's headers differ from the canonical bundle of its files (altered outside them)")


def _member(archive: zipfile.ZipFile, name: str, check: Verification) -> bytes | None:
    try:
        return archive.read(name)
    except KeyError:
        check.problems.append(f"missing file: {name}")
    except _UNREADABLE as exc:
        check.problems.append(f"altered file: {name} (unreadable: {exc})")
    return None


def _parse_manifest(data: bytes, check: Verification) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict):
        check.problems.append(f"{MANIFEST} is not a JSON object")
        return {}
    if manifest.get("format") != BUNDLE_FORMAT:
        check.problems.append(f"unknown bundle format {manifest.get('format')!r} (expected {BUNDLE_FORMAT})")
    return manifest


def _embedded_key(manifest: Mapping[str, Any], check: Verification) -> Ed25519PublicKey | None:
    text = (manifest.get("signer") or {}).get("public_key")
    try:
        return public_key_from_text(str(text)) if text else None
    except ConfigError as exc:
        check.problems.append(f"the manifest's signer key is unusable: {exc}")
        return None


def _check_signature(
    key: Ed25519PublicKey, signature: bytes, data: bytes, manifest: Mapping[str, Any], check: Verification
) -> None:
    try:
        key.verify(base64.b64decode(signature.strip(), validate=True), data)
    except (InvalidSignature, binascii.Error, ValueError):
        named = (manifest.get("signer") or {}).get("fingerprint", "unknown")
        check.problems.append(
            f"bad signature: {MANIFEST} is not signed by the key {fingerprint(key)} (the bundle names signer {named})"
        )


def _check_files(archive: zipfile.ZipFile, listed: Any, check: Verification) -> None:
    if not isinstance(listed, dict):
        check.problems.append(f"{MANIFEST} lists no files")
        return
    present = set(archive.namelist()) - {MANIFEST, SIGNATURE}
    check.problems += [f"added file: {name}" for name in sorted(present - listed.keys())]
    check.problems += [f"missing file: {name}" for name in sorted(listed.keys() - present)]
    for name in sorted(present & listed.keys()):
        _check_file(archive, name, listed[name], check)
    check.files = len(present & listed.keys())


def _check_file(archive: zipfile.ZipFile, name: str, expected: Any, check: Verification) -> None:
    digest, size = hashlib.sha256(), 0
    try:
        with archive.open(name) as member:
            for block in iter(lambda: member.read(1 << 16), b""):
                digest.update(block)
                size += len(block)
    except _UNREADABLE as exc:
        check.problems.append(f"altered file: {name} (unreadable: {exc})")
        return
    wanted = expected if isinstance(expected, dict) else {}
    if digest.hexdigest() != wanted.get("sha256") or size != wanted.get("size"):
        check.problems.append(f"altered file: {name} (its SHA-256 or size differs from the manifest)")
