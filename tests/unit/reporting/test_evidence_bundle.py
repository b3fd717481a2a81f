"""Signed evidence bundles: export and verify round trip, every kind of tampering rejected, canaries refused."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from probity.cli import main
from probity.core.compliance import controls_for
from probity.core.errors import ConfigError, HarnessError
from probity.core.findings import Category, Outcome, Result, Severity
from probity.reporting.evidence import MANIFEST, SIGNATURE, canonical_zip, export_bundle, verify_bundle
from probity.reporting.evidence_keys import KEY_ENV, fingerprint
from probity.reporting.findings_json import RunRecord, write_findings

CANARY = "pbkdf2_sha256$1$CANARYSALT_test$Zm9v/YmFy+cXV4=="
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _policy(folder: Path) -> Path:
    (folder / "canaries.txt").write_text(f"# seeded secrets\n{CANARY}\nCANARYMFATESTVALUE\n", encoding="utf-8")
    policy = folder / "policy.yaml"
    policy.write_text(
        "tenancy:\n  scopes: [{name: org, column: org_id, attribute: org, tables: [patients]}]\n"
        "secrets:\n  columns: [users.password_hash]\n  canaries: canaries.txt\n",
        encoding="utf-8",
    )
    return policy


def _record(policy: Path, message: str = "another tenant's object was returned") -> RunRecord:
    failing = Result(
        "cross_tenant_access", "cross_tenant_access.read", Category.TENANCY, Outcome.FAIL, "GET /patients/{id}",
        message, Severity.CRITICAL, controls_for("cross_tenant_access"),
    )  # fmt: skip
    provenance = {"documents": {"policy": {"path": str(policy), "sha256": "0" * 64}}, "git": {"commit": "abc"}}
    metadata = {"id": "run-1", "target": "clinic", "seed": 11, "operations": ["GET /patients/{id}"]}
    return RunRecord({**metadata, "provenance": provenance}, (failing,))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "run-1"
    (folder / "allure-results" / "attachments").mkdir(parents=True)
    write_findings(_record(_policy(tmp_path)), folder)
    (folder / "allure-results" / "a-result.json").write_text('{"name": "GET /patients/{id}"}', encoding="utf-8")
    (folder / "allure-results" / "attachments" / "b.txt").write_text("evidence", encoding="utf-8")
    (folder / "junit.xml").write_text("<testsuites/>", encoding="utf-8")
    (folder / "backend.log").write_text(f"never bundled: {CANARY}", encoding="utf-8")
    return folder


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def bundle(run_dir: Path, key: Ed25519PrivateKey, tmp_path: Path) -> Path:
    return export_bundle(run_dir, tmp_path / "bundle.zip", key, now=NOW).path


def _members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rewritten(bundle: Path, members: dict[str, bytes]) -> Path:
    bundle.write_bytes(canonical_zip(members))
    return bundle


def test_a_bundle_verifies_with_its_signers_public_key(bundle: Path, key: Ed25519PrivateKey) -> None:
    check = verify_bundle(bundle, key.public_key())
    assert check.verified, check.problems
    assert check.signer == fingerprint(key.public_key())
    expected = {"allure-results/a-result.json", "allure-results/attachments/b.txt", "findings.json", "junit.xml",
                "matrix.json", "matrix.md", "summary.md"}  # fmt: skip
    assert check.files == len(expected)
    names = list(_members(bundle))
    assert names == sorted(expected | {MANIFEST, SIGNATURE})
    assert "backend.log" not in names


def test_the_manifest_lists_every_file_with_its_hash_and_the_run(bundle: Path, run_dir: Path) -> None:
    members = _members(bundle)
    manifest = json.loads(members[MANIFEST])
    findings = hashlib.sha256((run_dir / "findings.json").read_bytes()).hexdigest()
    assert manifest["files"]["findings.json"]["sha256"] == findings
    assert all(manifest["files"][name]["size"] == len(members[name]) for name in manifest["files"])
    assert manifest["run"]["seed"] == 11 and manifest["run"]["provenance"]["git"] == {"commit": "abc"}
    assert manifest["created_at"] == NOW.isoformat(timespec="seconds") and "@" in manifest["created_by"]
    assert manifest["canary_scan"] == {"canaries": 2, "clean": True}
    summary = members["summary.md"].decode()
    assert "FAIL: 1 failing finding" in summary and "OWASP API1:2023" in summary and "Seed: 11" in summary


def test_the_same_run_and_key_make_the_same_bytes(run_dir: Path, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    first = export_bundle(run_dir, tmp_path / "a.zip", key, now=NOW).path.read_bytes()
    second = export_bundle(run_dir, tmp_path / "b.zip", key, now=NOW).path.read_bytes()
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize(
    "name", ["findings.json", "matrix.md", "matrix.json", "summary.md", "junit.xml", "allure-results/a-result.json"]
)
def test_one_byte_changed_in_a_member_fails_and_names_it(bundle: Path, key: Ed25519PrivateKey, name: str) -> None:
    members = _members(bundle)
    changed = bytearray(members[name])
    changed[len(changed) // 2] ^= 0x20
    check = verify_bundle(_rewritten(bundle, {**members, name: bytes(changed)}), key.public_key())
    assert check.problems == [f"altered file: {name} (its SHA-256 or size differs from the manifest)"]


def test_a_changed_manifest_breaks_the_signature(bundle: Path, key: Ed25519PrivateKey) -> None:
    members = _members(bundle)
    manifest = members[MANIFEST].replace(b'"seed": 11', b'"seed": 12')
    check = verify_bundle(_rewritten(bundle, {**members, MANIFEST: manifest}), key.public_key())
    assert not check.verified
    assert any(problem.startswith(f"bad signature: {MANIFEST}") for problem in check.problems)


def test_any_byte_flipped_in_the_zip_itself_fails(bundle: Path, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    data = bundle.read_bytes()
    flipped = tmp_path / "flipped.zip"
    positions = [*range(0, len(data), 97), *range(max(0, len(data) - 600), len(data))]
    for position in positions:
        changed = bytearray(data)
        changed[position] ^= 0x01
        flipped.write_bytes(changed)
        # ConfigError: so broken it is no zip any more, also a failure to verify (exit 2)
        with contextlib.suppress(ConfigError):
            assert not verify_bundle(flipped, key.public_key()).verified, f"byte {position} changed unnoticed"


def test_an_added_file_fails(bundle: Path, key: Ed25519PrivateKey) -> None:
    members = {**_members(bundle), "allure-results/extra.json": b"{}"}
    check = verify_bundle(_rewritten(bundle, members), key.public_key())
    assert check.problems == ["added file: allure-results/extra.json"]


def test_a_removed_file_fails(bundle: Path, key: Ed25519PrivateKey) -> None:
    members = _members(bundle)
    del members["matrix.md"]
    check = verify_bundle(_rewritten(bundle, members), key.public_key())
    assert check.problems == ["missing file: matrix.md"]


def test_a_removed_signature_fails(bundle: Path, key: Ed25519PrivateKey) -> None:
    members = _members(bundle)
    del members[SIGNATURE]
    check = verify_bundle(_rewritten(bundle, members), key.public_key())
    assert check.problems == [f"missing file: {SIGNATURE}"]


def test_a_second_entry_of_the_same_name_fails(bundle: Path, key: Ed25519PrivateKey) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(bundle, "a") as archive:
        archive.writestr("findings.json", b"{}")
    check = verify_bundle(bundle, key.public_key())
    assert "duplicate entry: findings.json" in check.problems


def test_a_wrong_public_key_fails(bundle: Path) -> None:
    check = verify_bundle(bundle, Ed25519PrivateKey.generate().public_key())
    assert len(check.problems) == 1 and check.problems[0].startswith("bad signature")


def test_a_bundle_re_signed_by_someone_else_fails_with_the_trusted_key(
    run_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    forged = export_bundle(run_dir, tmp_path / "forged.zip", Ed25519PrivateKey.generate(), now=NOW).path
    assert verify_bundle(forged, None).verified  # integrity only: the key the bundle names
    assert not verify_bundle(forged, key.public_key()).verified


def test_a_tampered_signature_fails(bundle: Path, key: Ed25519PrivateKey) -> None:
    members = _members(bundle)
    other = base64.b64encode(Ed25519PrivateKey.generate().sign(members[MANIFEST])) + b"\n"
    check = verify_bundle(_rewritten(bundle, {**members, SIGNATURE: other}), key.public_key())
    assert len(check.problems) == 1 and check.problems[0].startswith("bad signature")
    garbled = verify_bundle(_rewritten(bundle, {**members, SIGNATURE: b"not base64!"}), key.public_key())
    assert not garbled.verified


def test_a_canary_in_the_findings_stops_the_export(run_dir: Path, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    leaking = _record(Path(tmp_path / "policy.yaml"), message=f"the body held {json.dumps(CANARY)[1:-1]}")
    write_findings(leaking, run_dir)
    output = tmp_path / "leak.zip"
    with pytest.raises(HarnessError, match="a secret canary appears in findings.json") as raised:
        export_bundle(run_dir, output, key)
    assert CANARY not in str(raised.value)
    assert not output.exists()


def test_a_canary_in_an_allure_attachment_stops_the_export(
    run_dir: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    (run_dir / "allure-results" / "attachments" / "body.txt").write_text("CANARYMFATESTVALUE", encoding="utf-8")
    with pytest.raises(HarnessError, match="allure-results/attachments/body.txt"):
        export_bundle(run_dir, tmp_path / "leak.zip", key)


def test_without_the_policy_nothing_is_exported(run_dir: Path, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").rename(tmp_path / "moved.yaml")
    with pytest.raises(HarnessError, match="give it with --policy"):
        export_bundle(run_dir, tmp_path / "x.zip", key)
    assert export_bundle(run_dir, tmp_path / "x.zip", key, policy=tmp_path / "moved.yaml").files == 7


def test_the_cli_keygen_export_and_verify(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private = tmp_path / "keys" / "signing.pem"
    assert main(["evidence", "keygen", "-o", str(private)]) == 0
    public = tmp_path / "keys" / "signing.pub.pem"
    assert private.stat().st_mode & 0o777 == 0o600 and public.is_file()
    assert main(["evidence", "keygen", "-o", str(private)]) == 2  # never overwrites a key
    bundle = tmp_path / "out" / "b.zip"
    assert main(["evidence", "export", str(run_dir), "-o", str(bundle), "--key", str(private)]) == 0
    assert main(["evidence", "verify", str(bundle), "--public-key", str(public)]) == 0
    assert "verified:" in capsys.readouterr().out
    bundle.write_bytes(bundle.read_bytes().replace(b"matrix.md", b"matrix.mx"))
    assert main(["evidence", "verify", str(bundle), "--public-key", str(public)]) == 1
    assert "NOT verified" in capsys.readouterr().out


def test_the_cli_takes_a_raw_key_from_the_environment(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    monkeypatch.setenv(KEY_ENV, base64.b64encode(raw).decode())
    bundle = tmp_path / "b.zip"
    assert main(["evidence", "export", str(run_dir), "-o", str(bundle)]) == 0
    assert fingerprint(key.public_key()) in capsys.readouterr().out
    assert main(["evidence", "verify", str(bundle), "--trust-embedded-key"]) == 0
    monkeypatch.setenv(KEY_ENV, "not a key")
    assert main(["evidence", "export", str(run_dir), "-o", str(bundle)]) == 2
    assert "not a PEM or base64 Ed25519 private key" in capsys.readouterr().err


def test_the_cli_says_an_unreadable_bundle_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK not really")
    public = tmp_path / "k.pub"
    public.write_text(base64.b64encode(bytes(32)).decode(), encoding="utf-8")
    assert main(["evidence", "verify", str(junk), "--public-key", str(public)]) == 2
    assert "not a readable evidence bundle" in capsys.readouterr().err
