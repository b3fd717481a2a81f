"""The command line turns errors into one clear line and an exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from probity.cli import main


def test_missing_target_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--target", str(tmp_path / "absent.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("probity: error: ") and "absent.yaml: cannot read file" in err
    assert "Traceback" not in err


def test_no_target_anywhere_says_how_to_name_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 2
    assert "--target FILE" in capsys.readouterr().err


def test_console_script_is_installed_and_reports_its_version() -> None:
    script = Path(sys.executable).parent / "probity"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("probity ")
