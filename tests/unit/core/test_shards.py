"""The split of a run's operations into shards: deterministic, balanced, every operation in exactly one shard."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import probity.core.shards
from probity.cli import main
from probity.contracts.load import load_contract, operations
from probity.core.errors import ConfigError
from probity.core.shards import Shard, interleave, parse_shard

ROOT = Path(__file__).resolve().parents[3]
CLINIC = operations(load_contract(ROOT / "contracts/clinic/openapi.yaml"))


def _shares(labels: list[str], count: int) -> list[tuple[str, ...]]:
    return [Shard(index, count).select(labels) for index in range(1, count + 1)]


def test_doctests() -> None:
    failed, _ = doctest.testmod(probity.core.shards)
    assert failed == 0


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, len(CLINIC), len(CLINIC) + 3])
def test_every_operation_lands_in_exactly_one_shard(count: int) -> None:
    shares = _shares(CLINIC, count)
    placed = Counter(label for share in shares for label in share)
    assert set(placed) == set(CLINIC)
    assert set(placed.values()) == {1}


@pytest.mark.parametrize("count", [2, 3, 4, 7])
def test_shards_are_balanced(count: int) -> None:
    sizes = [len(share) for share in _shares(CLINIC, count)]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_interleaving_the_shares_gives_back_the_contract_order(count: int) -> None:
    assert interleave(_shares(CLINIC, count)) == CLINIC


def test_shares_that_are_no_split_of_one_contract_are_refused() -> None:
    with pytest.raises(ConfigError, match="no split of one contract"):
        interleave([("a",), ("b", "c")])


def test_a_share_keeps_the_contract_order() -> None:
    share = Shard(2, 3).select(CLINIC)
    assert list(share) == [label for label in CLINIC if label in share]


@pytest.mark.parametrize("seed", ["0", "1", "12345"])
def test_the_split_is_the_same_under_any_hash_seed(seed: str) -> None:
    """Another process with another PYTHONHASHSEED (as on another machine) splits the same way."""
    contract = str(ROOT / "contracts/clinic/openapi.yaml")
    code = (
        "from pathlib import Path; from probity.contracts.load import load_contract, operations; "
        "from probity.core.shards import Shard; "
        f"print('\\n'.join(Shard(2, 3).select(operations(load_contract(Path({contract!r}))))))"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert tuple(output.stdout.split("\n")[:-1]) == Shard(2, 3).select(CLINIC)


@pytest.mark.parametrize("text", ["1/2", " 2 / 2 ", "3/10"])
def test_parse_shard(text: str) -> None:
    index, count = (int(part) for part in text.split("/"))
    assert parse_shard(text) == Shard(index, count)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2", ""])
def test_bad_shards_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ConfigError, match="K/N"):
        parse_shard(text)


def test_a_bad_shard_stops_the_command_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROBITY_REPORTS_DIR", str(tmp_path / "reports"))
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--shard", "3/2"])
    assert stopped.value.code == 2
    assert "shard 3/2: K must be between 1 and N" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()
