"""Shards of one run (``probity run --shard K/N`` on several machines) put back together as one run record.

A merge refuses parts that are not shards of the same run: the same target, seed, documents (contract, policy
and principals by their SHA-256), passes and mode, and every shard of the count exactly once. The merged record
then reads like an unsharded run: its operations in contract order, its results the union of the shards'
(a result several shards concluded alike, e.g. on an undocumented route, once), counts and gate verdict anew.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from probity.core.errors import ConfigError
from probity.core.findings import Outcome, Result
from probity.core.shards import interleave
from probity.reporting.findings_json import RunRecord
from probity.reporting.gate import verdict_of, with_verdict

__all__ = ["merge_shards", "same_run_identity"]

# What shards of one run share; a merged report of parts that differ here would describe no run.
_SAME = ("target", "seed", "read_only", "passes", "independent_operations")


def merge_shards(shards: Sequence[RunRecord], run_id: str) -> RunRecord:
    """One record, named *run_id*, from every shard of a run; ConfigError when *shards* are not exactly that."""
    ordered = _in_shard_order(shards)
    first = ordered[0].metadata
    results = _union(ordered)
    metadata = {
        "id": run_id,
        **{key: first[key] for key in ("target", "api_root", "seed", "read_only")},
        "independent_operations": first.get("independent_operations", False),
        "started": min(shard.metadata.get("started", "") for shard in ordered),
        "finished": max(shard.metadata.get("finished", "") for shard in ordered),
        "passes": first.get("passes", []),
        "counts": {str(o): sum(1 for r in results if r.outcome is o) for o in Outcome},
        "notes": _notes(ordered),
        "operations": interleave([shard.metadata["shard"]["operations"] for shard in ordered]),
        "provenance": first.get("provenance", {}),
        "shard": None,
        "shards": [_shard_summary(shard) for shard in ordered],
        "gate": {"max_inconclusive": (first.get("gate") or {}).get("max_inconclusive", "0")},
    }
    merged = RunRecord(metadata, results)
    return with_verdict(merged, verdict_of(merged))


def same_run_identity(metadata: dict[str, Any]) -> dict[str, Any]:
    """What must be equal across the shards of one run: target, seed, modes, passes and the documents' hashes."""
    documents = (metadata.get("provenance") or {}).get("documents") or {}
    hashes = {name: (entry or {}).get("sha256") for name, entry in sorted(documents.items())}
    return {**{key: metadata.get(key) for key in _SAME}, "documents": hashes}


def _in_shard_order(shards: Sequence[RunRecord]) -> list[RunRecord]:
    if not shards:
        raise ConfigError("nothing to merge: name the run folders of every shard")
    unsharded = [shard.metadata.get("id", "?") for shard in shards if not shard.metadata.get("shard")]
    if unsharded:
        raise ConfigError(f"not a shard (run without --shard): {', '.join(unsharded)}")
    _require_same_run(shards)
    return _require_every_shard(shards)


def _require_same_run(shards: Sequence[RunRecord]) -> None:
    expected = same_run_identity(shards[0].metadata)
    for shard in shards[1:]:
        found = same_run_identity(shard.metadata)
        differing = [key for key in expected if found[key] != expected[key]]
        if differing:
            first, other = shards[0].metadata.get("id"), shard.metadata.get("id")
            raise ConfigError(f"{other} is not a shard of the same run as {first}: its {', '.join(differing)} differ")


def _require_every_shard(shards: Sequence[RunRecord]) -> list[RunRecord]:
    counts = {shard.metadata["shard"]["count"] for shard in shards}
    if len(counts) != 1:
        raise ConfigError(f"the shards were cut in different numbers of parts: {sorted(counts)}")
    count = counts.pop()
    by_index: dict[int, RunRecord] = {}
    for shard in shards:
        index = shard.metadata["shard"]["index"]
        if index in by_index:
            twice = f"{by_index[index].metadata.get('id')} and {shard.metadata.get('id')}"
            raise ConfigError(f"shard {index}/{count} is given twice: {twice}")
        by_index[index] = shard
    missing = [f"{index}/{count}" for index in range(1, count + 1) if index not in by_index]
    if missing:
        raise ConfigError(f"shards missing: {', '.join(missing)}")
    return [by_index[index] for index in range(1, count + 1)]


def _union(shards: Sequence[RunRecord]) -> tuple[Result, ...]:
    """Every shard's results, each (key, outcome) once, in shard order."""
    seen: set[tuple[str, Outcome]] = set()
    kept: list[Result] = []
    for result in (result for shard in shards for result in shard.results):
        if (result.key, result.outcome) not in seen:
            seen.add((result.key, result.outcome))
            kept.append(result)
    return tuple(kept)


def _notes(shards: Sequence[RunRecord]) -> list[str]:
    count = len(shards)
    merged = [f"merged from {count} shards: {', '.join(str(s.metadata.get('id')) for s in shards)}"]
    return merged + [f"[shard {index}/{count}] {note}" for index, s in enumerate(shards, 1) for note in _own(s)]


def _own(shard: RunRecord) -> list[str]:
    return [str(note) for note in shard.metadata.get("notes", [])]


def _shard_summary(shard: RunRecord) -> dict[str, Any]:
    """Where and when a shard ran, for the merged run's provenance."""
    metadata = shard.metadata
    provenance = metadata.get("provenance") or {}
    return {
        "index": metadata["shard"]["index"],
        "id": metadata.get("id"),
        "api_root": metadata.get("api_root"),
        "started": metadata.get("started"),
        "finished": metadata.get("finished"),
        "operations": len(metadata["shard"]["operations"]),
        "exit_code": metadata.get("exit_code"),
        **{key: provenance.get(key) for key in ("host", "user", "argv", "git")},
    }
