"""What stops a run is one clear line and exit code 2: an unreachable backend, a malformed contract."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from probity.cli import main
from probity.contracts.load import load_contract
from probity.core.errors import ConfigError
from probity.engine.contract_run import _exclusions
from probity.engine.plan import Pass, RunPlan


def _target(tmp_path: Path, project_root: Path) -> Path:
    for name in ("openapi.yaml", "policy.yaml", "principals.yaml"):
        shutil.copy(project_root / "contracts" / "clinic" / name, tmp_path / name)
    (tmp_path / "canaries.txt").write_text("", encoding="utf-8")
    policy = (tmp_path / "policy.yaml").read_text(encoding="utf-8")
    (tmp_path / "policy.yaml").write_text(policy.replace("../../fixtures/clinic/canaries.txt", "canaries.txt"))
    target = tmp_path / "target.yaml"
    target.write_text("name: t\ncontract: openapi.yaml\npolicy: policy.yaml\nprincipals: principals.yaml\n")
    return target


def test_unreachable_backend_is_one_line(
    tmp_path: Path, project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--target", str(_target(tmp_path, project_root)), "--base-url", "http://127.0.0.1:9/api"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "does not answer" in err and "Traceback" not in err


def test_a_malformed_contract_names_its_line(tmp_path: Path) -> None:
    contract = tmp_path / "openapi.yaml"
    text = "openapi: 3.1.0\ninfo:\n  title: x\n  version: '1'\npaths:\n  /a:\n    get:\n      responses: 7\n"
    contract.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_contract(contract)
    assert raised.value.line == 8 and "invalid OpenAPI" in str(raised.value)


def test_a_file_that_is_no_contract_is_refused(tmp_path: Path) -> None:
    contract = tmp_path / "openapi.yaml"
    contract.write_text("hello: world\n")
    with pytest.raises(ConfigError, match="not an OpenAPI document"):
        load_contract(contract)


def test_read_only_runs_exclude_every_state_changing_operation() -> None:
    contract = {"paths": {"/a": {"get": {}, "post": {}, "parameters": []}, "/b/{id}": {"patch": {}, "delete": {}}}}
    plan = RunPlan("http://staging", (Pass("R", "p", ("p", "q")),), seed=1, read_only=True, never_send=("GET /a",))
    (entry,) = _exclusions(plan, contract)
    assert sorted(entry["include-name"]) == ["DELETE /b/{id}", "GET /a", "PATCH /b/{id}", "POST /a"]
    assert entry["enabled"] is False


def test_nothing_to_exclude_adds_no_operations_entry() -> None:
    plan = RunPlan("http://staging", (Pass("R", "p", ("p", "q")),), seed=1)
    assert _exclusions(plan, {"paths": {"/a": {"get": {}, "post": {}}}}) == []
