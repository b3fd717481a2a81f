"""``probity contract derive`` on the command line: diagnostics on stderr, a summary, and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from probity.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reference"
GOOD = FIXTURES / "good" / "clinic.md"
BROKEN = FIXTURES / "broken" / "front-matter.md"


def test_good_reference_is_written_with_its_notes_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "contracts" / "openapi.yaml"
    assert main(["contract", "derive", str(GOOD), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"{GOOD}:9: note: skipped section 'Conventions' (prose for people)",
        f"{GOOD}:280: note: skipped section 'Errors' (prose for people)",
    ]
    assert captured.out == f"{GOOD}: 7 operations, 5 schemas, 0 problems, 2 notes; wrote {out}\n"
    assert out.read_text(encoding="utf-8").startswith("# Derived by `probity contract derive` from clinic.md")


def test_notes_do_not_fail_strict(tmp_path: Path) -> None:
    out = tmp_path / "openapi.yaml"
    assert main(["contract", "derive", str(GOOD), "-o", str(out), "--strict"]) == 0
    assert out.exists()


def test_problems_are_printed_as_file_line_message_and_written_anyway(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "openapi.yaml"
    assert main(["contract", "derive", str(BROKEN), "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == [
        f"{BROKEN}:11: key 'Version' is given twice (first on line 10)",
        f"{BROKEN}:12: unknown front-matter key 'Owner'",
    ]
    assert len(err) == 5 and out.exists()


def test_strict_fails_on_problems_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "openapi.yaml"
    assert main(["contract", "derive", str(BROKEN), "-o", str(out), "--strict"]) == 2
    captured = capsys.readouterr()
    assert not out.exists()
    assert captured.err.splitlines()[-1] == (
        f"probity: error: {BROKEN}:11: key 'Version' is given twice (first on line 10) (and 4 more)"
    )
    assert "5 problems, 0 notes; nothing written (--strict)" in captured.out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"No title here.\n", "no level-1 heading"),
        (b"# Title\n\xff\xfe\n", "not UTF-8 text (byte 8)"),
    ],
    ids=["no-title", "not-utf8"],
)
def test_a_malformed_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    reference = tmp_path / "api.md"
    reference.write_bytes(content)
    assert main(["contract", "derive", str(reference), "-o", str(tmp_path / "out.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"probity: error: {reference}") and message in err and "Traceback" not in err
    assert not (tmp_path / "out.yaml").exists()


def test_a_missing_reference_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "derive", str(tmp_path / "absent.md"), "-o", str(tmp_path / "o.yaml")]) == 2
    assert "absent.md: cannot read file" in capsys.readouterr().err


def test_an_unwritable_output_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    assert main(["contract", "derive", str(GOOD), "-o", str(blocker / "openapi.yaml")]) == 2
    assert "cannot write the contract" in capsys.readouterr().err


def test_the_output_option_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["contract", "derive", str(GOOD)])
    assert exit_.value.code == 2 and "-o/--output" in capsys.readouterr().err
