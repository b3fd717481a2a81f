"""A real run on the clinic with every planted defect, exported as a signed bundle: no canary anywhere.

The defective clinic returns seeded secrets (password hashes, MFA secrets, a processor token) in its answers;
Probity must catch them and still write none of them: not in the run folder, not in any member of the bundle.
The bundle then verifies with the signer's public key, and a copy with one byte changed does not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CANARIES = tuple(
    line.strip()
    for line in (ROOT / "fixtures" / "clinic" / "canaries.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)


def _probity(*args: str, reports: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "probity"
    env = {**os.environ, "PROBITY_REPORTS_DIR": str(reports), "COLUMNS": "200"}
    return subprocess.run([str(script), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _leaks(name: str, data: bytes) -> list[str]:
    """Which canaries *data* holds, as "name: canary #i" (never the value itself, which would leak it again)."""
    return [f"{name}: canary #{index}" for index, canary in enumerate(CANARIES) if canary.encode() in data]


def test_a_defective_run_and_its_bundle_hold_no_canary(isolated_state: Path, tmp_path: Path) -> None:
    assert len(CANARIES) >= 20
    reports = isolated_state.parent / "reports"
    budget = (
        "--max-examples",
        "2",
        "--roles",
        "ADMIN",
        "--phases",
        "examples,coverage",
        "--seed",
        "5",
        "--defects",
        "all",
    )
    run = _probity("run", *budget, reports=reports)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]  # the planted defects are found
    run_dir = (reports / "latest").resolve()
    findings = json.loads((run_dir / "findings.json").read_text(encoding="utf-8"))
    failed = {item["rule"] for item in findings["findings"] if item["status"] == "fail"}
    assert "secret_omission.returned" in failed, sorted(failed)  # a canary did come back, and was caught

    key = tmp_path / "keys" / "signing.pem"
    assert _probity("evidence", "keygen", "-o", str(key), reports=reports).returncode == 0
    bundle = tmp_path / "evidence.zip"
    export = _probity("evidence", "export", str(run_dir), "-o", str(bundle), "--key", str(key), reports=reports)
    assert export.returncode == 0, export.stdout + export.stderr

    leaks = [
        leak for path in sorted(reports.rglob("*")) if path.is_file() for leak in _leaks(str(path), path.read_bytes())
    ]
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        leaks += [leak for name in names for leak in _leaks(f"bundle:{name}", archive.read(name))]
    leaks += _leaks("bundle (raw)", bundle.read_bytes())
    assert leaks == []
    assert {"findings.json", "matrix.md", "matrix.json", "summary.md", "manifest.json", "manifest.sig"} <= set(names)

    public = key.with_name("signing.pub.pem")
    verify = _probity("evidence", "verify", str(bundle), "--public-key", str(public), reports=reports)
    assert verify.returncode == 0 and "verified" in verify.stdout, verify.stdout + verify.stderr
    changed = bytearray(bundle.read_bytes())
    changed[len(changed) // 3] ^= 0x01
    bundle.write_bytes(changed)
    verify = _probity("evidence", "verify", str(bundle), "--public-key", str(public), reports=reports)
    assert verify.returncode == 1 and "NOT verified" in verify.stdout
