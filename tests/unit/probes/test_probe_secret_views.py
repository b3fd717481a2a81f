"""secret_omission's shortcuts keep every leak: strings too short to hold a canary are passed over, short texts'
hits are remembered across responses, and a policy's usable canaries are worked out once per policy."""

from __future__ import annotations

import base64
import importlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from probity.core.policy import Policy
from probity.probes.secret_omission import _index, _leaks, _search, _usable_canaries

SHORT = "k9Zq2w"  # six characters: matched whole
# the module, not the probe function of the same name that probity.probes exports
secret_omission = importlib.import_module("probity.probes.secret_omission")
LONG = "sk_live_4f9a0c2e7b1d8e3f6a5c"  # matched by any fragment of twelve characters

RESPONSES: list[Any] = [
    {"id": 7, "k": SHORT},
    {"note": f"x{SHORT}y", "tag": "ab"},
    {"t": base64.b64encode(LONG[:16].encode()).decode()},
    {"u": quote(LONG[3:18], safe="")},
    {"h": LONG[:13].encode().hex()},
    {"nested": json.dumps({"v": LONG})},
    {"list": ["a", "bb", LONG[5:17], {"deep": SHORT[:5]}]},
    {"short": SHORT[:5], "ids": ["2443564c-9625-4e97-82ef-f8a2227c1439"]},
]


def _policy(folder: Path, canaries: list[str]) -> Policy:
    path = folder / "canaries.txt"
    path.write_text("".join(f"{value}\n" for value in canaries), encoding="utf-8")
    tenancy = {"scopes": [{"name": "org", "column": "org_id", "attribute": "org_id", "tables": ["notes"]}]}
    secrets = {"columns": ["users.password_hash"], "canaries": str(path)}
    return Policy.model_validate({"tenancy": tenancy, "secrets": secrets})


@pytest.mark.parametrize(("response", "leaks"), [(response, n < 7) for n, response in enumerate(RESPONSES)])
def test_the_shortcuts_keep_every_leak(response: Any, leaks: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    text, canaries = json.dumps(response), (SHORT, LONG)
    fast = secret_omission._leaks(text, {}, canaries)
    views = secret_omission._views  # every view searched afresh: no floor, nothing remembered
    monkeypatch.setattr(secret_omission, "_views", lambda text, headers, parsed, floor=0: views(text, headers, parsed))
    monkeypatch.setattr(
        secret_omission,
        "_search",
        lambda index, view, recurring=True: tuple(secret_omission._longest(index.search(view))),
    )
    assert fast == secret_omission._leaks(text, {}, canaries)
    assert bool(fast) is leaks


def test_a_short_canary_in_a_short_string_is_found() -> None:
    leaks = _leaks(json.dumps({"k": SHORT}), {}, (SHORT, LONG))
    assert any(leak.canary == 1 and leak.whole and leak.where == "$.k" for leak in leaks)


def test_a_fragment_in_base64_is_found() -> None:
    leaks = _leaks(json.dumps(RESPONSES[2]), {}, (SHORT, LONG))
    assert {leak.encoding for leak in leaks if leak.canary == 2} == {"base64"}


def test_remembered_hits_are_the_hits_of_that_text() -> None:
    index = _index((SHORT, LONG))
    assert _search(index, f"..{LONG}..") == _search(index, f"..{LONG}..")
    assert _search(index, "nothing here at all") == ()
    assert _search(index, "x" * 300 + LONG) != ()  # a long text is searched, not remembered


def test_usable_canaries_belong_to_their_policy(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _policy(tmp_path / "a", [SHORT, "tiny", LONG])
    second = _policy(tmp_path / "b", [LONG])
    assert _usable_canaries(first) == (SHORT, LONG)  # "tiny" is too short to look for
    assert _usable_canaries(second) == (LONG,)
    assert _usable_canaries(first) == (SHORT, LONG)
