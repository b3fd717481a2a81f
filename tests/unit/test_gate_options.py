"""The gate's inputs are read before a run starts: a wrong threshold or waivers file is exit 2 at once."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from probity.cli import main
from probity.cli.gate import add_gate_arguments, gate_options
from probity.core.target import Target

WAIVER = "waivers:\n  - key: a.b:0123456789ab\n    justification: j\n    owner: o\n    expires: 2026-12-31\n"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_gate_arguments(parser)
    return parser.parse_args(argv)


def test_waivers_default_to_the_file_beside_the_target(tmp_path: Path) -> None:
    target = Target(name="t", root=tmp_path)
    assert gate_options(target, _args()).waivers_path is None, "no file, no waivers"
    (tmp_path / "waivers.yaml").write_text(WAIVER, encoding="utf-8")
    options = gate_options(target, _args())
    assert options.waivers_path == tmp_path / "waivers.yaml"
    assert [w.key for w in options.waivers.waivers] == ["a.b:0123456789ab"]
    assert options.threshold.text == "0", "the honest default: no INCONCLUSIVE result allowed"


def test_an_explicit_waivers_file_and_threshold_win(tmp_path: Path) -> None:
    (tmp_path / "waivers.yaml").write_text("waivers: []\n", encoding="utf-8")
    chosen = tmp_path / "ci-waivers.yaml"
    chosen.write_text(WAIVER, encoding="utf-8")
    options = gate_options(Target(name="t", root=tmp_path), _args("--waivers", str(chosen), "--max-inconclusive", "2%"))
    assert options.waivers_path == chosen and len(options.waivers.waivers) == 1
    assert options.threshold.percent and options.threshold.number == 2


def _target(tmp_path: Path) -> Path:
    target = tmp_path / "target.yaml"
    target.write_text("name: t\ncontract: openapi.yaml\npolicy: policy.yaml\nprincipals: principals.yaml\n")
    return target


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--max-inconclusive", "five"], "--max-inconclusive 'five': give a count (0, 5) or a percentage (2%)"),
        (["--waivers", "WAIVERS"], "waivers.yaml:2: waivers.0.justification: Field required"),
    ],
)
def test_a_wrong_gate_input_stops_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n  - key: a.b:0123456789ab\n    owner: o\n    expires: 2026-12-31\n")
    reports = tmp_path / "reports"
    argv = ["run", "--target", str(_target(tmp_path)), *(str(waivers) if a == "WAIVERS" else a for a in extra)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROBITY_REPORTS_DIR", str(reports))
        code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and expected in err
    assert not reports.exists(), "nothing was started or written"
