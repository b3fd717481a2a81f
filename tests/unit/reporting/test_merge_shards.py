"""``probity merge``: the shards of one run become one run; parts of different runs are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from probity.cli import main
from probity.core.errors import ConfigError
from probity.core.findings import Category, Outcome, Result
from probity.core.shards import Shard
from probity.reporting.findings_json import RunRecord, read_findings, write_findings
from probity.reporting.merge import merge_shards

OPERATIONS = ["GET /a", "POST /a", "GET /a/{id}", "DELETE /a/{id}", "GET /b"]


def _result(rule: str, operation: str, outcome: Outcome = Outcome.PASS) -> Result:
    return Result(rule.split(".")[0], rule, Category.TENANCY, outcome, operation, message=f"{rule} on {operation}")


def _shard(index: int, count: int = 2, results: tuple[Result, ...] = (), **changes: Any) -> RunRecord:
    share = list(Shard(index, count).select(OPERATIONS))
    documents = {name: {"path": f"/m{index}/{name}.yaml", "sha256": f"{name}-hash"} for name in ("contract", "policy")}
    metadata: dict[str, Any] = {
        "id": f"run-{index}",
        "target": "shop",
        "api_root": f"http://127.0.0.1:{8000 + index}/api",
        "seed": 42,
        "read_only": False,
        "independent_operations": True,
        "started": f"2026-01-01T10:0{index}:00+00:00",
        "finished": f"2026-01-01T10:1{index}:00+00:00",
        "passes": [{"role": "ADMIN", "pinned": "a1", "peers": ["a1", "b1"]}],
        "notes": [f"note of {index}"],
        "operations": share,
        "provenance": {"documents": documents, "host": f"machine-{index}", "argv": ["probity", "run"]},
        "shard": {"index": index, "count": count, "operations": share},
    }
    own = results or tuple(_result("tenancy_filter.scoped", operation) for operation in share)
    return RunRecord({**metadata, **changes}, own)


def _triples(record: RunRecord) -> set[tuple[str, str, str]]:
    return {(r.rule, r.operation, str(r.outcome)) for r in record.results}


def test_the_merged_run_holds_every_shards_results_and_the_contract_order() -> None:
    first, second = _shard(1), _shard(2)
    merged = merge_shards([second, first], run_id="merged")
    assert merged.operations == tuple(OPERATIONS)
    assert _triples(merged) == _triples(first) | _triples(second)
    assert merged.metadata["counts"]["pass"] == len(OPERATIONS)
    assert [s["index"] for s in merged.metadata["shards"]] == [1, 2]
    assert [s["host"] for s in merged.metadata["shards"]] == ["machine-1", "machine-2"]
    assert merged.metadata["shard"] is None and merged.metadata["id"] == "merged"
    assert merged.metadata["independent_operations"] is True
    assert merged.metadata["started"] == first.metadata["started"]
    assert merged.metadata["finished"] == second.metadata["finished"]
    assert "[shard 2/2] note of 2" in merged.metadata["notes"]


def test_a_result_two_shards_concluded_alike_is_kept_once() -> None:
    undocumented = _result("contract_inventory.undocumented", "GET /hidden", Outcome.FAIL)
    first = _shard(1, results=(_result("x.r", "GET /a"), undocumented))
    second = _shard(2, results=(_result("x.r", "POST /a"), undocumented))
    merged = merge_shards([first, second], run_id="merged")
    assert [r.operation for r in merged.results].count("GET /hidden") == 1
    assert len(merged.results) == 3


def test_the_gate_judges_the_merged_results() -> None:
    failing = _shard(2, results=(_result("x.r", "POST /a", Outcome.FAIL),))
    merged = merge_shards([_shard(1), failing], run_id="merged")
    assert merged.metadata["exit_code"] == 1
    assert "1 failing finding not waived" in merged.metadata["gate"]["reasons"]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"seed": 43}, "seed"),
        ({"target": "other"}, "target"),
        ({"read_only": True}, "read_only"),
        ({"passes": []}, "passes"),
        ({"independent_operations": False}, "independent_operations"),
        (
            {"provenance": {"documents": {"contract": {"sha256": "x"}, "policy": {"sha256": "policy-hash"}}}},
            "documents",
        ),
    ],
)
def test_parts_of_different_runs_are_refused(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=f"not a shard of the same run.*{named}"):
        merge_shards([_shard(1), _shard(2, **changes)], run_id="merged")


def test_every_shard_must_be_given_exactly_once() -> None:
    with pytest.raises(ConfigError, match="shards missing: 2/2"):
        merge_shards([_shard(1)], run_id="merged")
    with pytest.raises(ConfigError, match="shard 1/2 is given twice"):
        merge_shards([_shard(1), _shard(1), _shard(2)], run_id="merged")
    with pytest.raises(ConfigError, match="different numbers of parts"):
        merge_shards([_shard(1), _shard(2, count=3)], run_id="merged")


def test_an_unsharded_run_is_no_shard() -> None:
    with pytest.raises(ConfigError, match="not a shard"):
        merge_shards([_shard(1), _shard(2, shard=None)], run_id="merged")


def _folders(tmp_path: Path, *records: RunRecord) -> list[str]:
    folders = []
    for record in records:
        folder = tmp_path / str(record.metadata["id"])
        folder.mkdir()
        write_findings(record, folder)
        folders.append(str(folder))
    return folders


def test_the_command_writes_the_merged_run_folder(tmp_path: Path) -> None:
    folders = _folders(tmp_path, _shard(1), _shard(2))
    output = tmp_path / "merged"
    assert main(["merge", *folders, "-o", str(output)]) == 0
    merged = read_findings(output)
    assert merged.operations == tuple(OPERATIONS)
    assert len(merged.results) == len(OPERATIONS)
    document = json.loads((output / "findings.json").read_text(encoding="utf-8"))
    assert document["run"]["id"] == "merged" and len(document["run"]["shards"]) == 2


def test_the_command_says_in_one_line_why_it_cannot_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folders = _folders(tmp_path, _shard(1), _shard(2, seed=7))
    assert main(["merge", *folders, "-o", str(tmp_path / "merged")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "seed" in error
    assert not (tmp_path / "merged").exists()
