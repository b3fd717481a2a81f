"""Operations a run must not send (policy, read-only host, other shards) are deselected by schemathesis itself.

Exclusions reach schemathesis as one ``[[operations]]`` entry listing every excluded label: an entry per label
made schemathesis match every entry against every operation many times over, which at 1,000 operations and
8 shards cost a shard's pass 8 s of its 10 (bench/README.md, ``shards.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis

from probity.engine.contract_run import _config
from probity.engine.plan import Pass, RunPlan

PASS = Pass("ADMIN", "p", ("p",))
WFC = "auth:\n- name: p\n  fixedHeaders:\n  - name: Authorization\n    value: Bearer x\n"


def _contract(resources: int) -> dict[str, Any]:
    ok = {"responses": {"200": {"description": "ok"}}}
    item = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    paths: dict[str, Any] = {}
    for index in range(resources):
        paths[f"/r{index}"] = {"get": ok, "post": ok}
        paths[f"/r{index}/{{id}}"] = {"parameters": [item], "get": ok, "patch": ok, "delete": ok}
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths}


def _selected(contract: dict[str, Any], plan: RunPlan, tmp_path: Path) -> list[str]:
    wfc = tmp_path / "auth.yaml"
    wfc.write_text(WFC, encoding="utf-8")
    schema = schemathesis.openapi.from_dict(contract, config=_config(plan, PASS, wfc, contract))
    return [result.ok().label for result in schema.get_all_operations()]


def test_never_sent_operations_are_not_selected(tmp_path: Path) -> None:
    contract = _contract(3)
    never = ("GET /r0", "PATCH /r1/{id}", "DELETE /r2/{id}")
    plan = RunPlan("http://127.0.0.1:9", (PASS,), seed=1, never_send=never)
    selected = _selected(contract, plan, tmp_path)
    assert len(selected) == 15 - 3 and not set(never) & set(selected)


def test_a_read_only_run_selects_only_reads(tmp_path: Path) -> None:
    plan = RunPlan("http://127.0.0.1:9", (PASS,), seed=1, read_only=True, never_send=("GET /r1",))
    selected = _selected(_contract(2), plan, tmp_path)
    assert selected == ["GET /r0", "GET /r0/{id}", "GET /r1/{id}"]


def test_a_shard_of_many_operations_keeps_exactly_its_own(tmp_path: Path) -> None:
    contract = _contract(100)  # 500 operations; a shard of 1/4 leaves 375 out
    labels = [f"{m.upper()} {p}" for p, item in contract["paths"].items() for m in item if m != "parameters"]
    own = labels[::4]
    plan = RunPlan("http://127.0.0.1:9", (PASS,), seed=1, never_send=tuple(set(labels) - set(own)))
    assert _selected(contract, plan, tmp_path) == own
