"""Maps (``map`` with a ``NAME{}`` row) and unions (``string or integer``): the derived schemas accept and
refuse what the reference says, and the contract keeps its meaning for JSON Schema validators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from probity.contracts import derive_contract, parse_reference

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "reference" / "good" / "maps-and-unions.md"


def _schema(name: str, field: str) -> dict[str, Any]:
    schema: dict[str, Any] = derive_contract(FIXTURE).document["components"]["schemas"][name]["properties"][field]
    return schema


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"platform": "ios", "build": 412, "ratio": 0.5, "beta": False},
        {"big": 10**15, "small": -(10**15), "text": "x" * 256},
        {f"k{index}": index for index in range(20)},
    ],
)
def test_a_map_of_a_union_accepts_what_the_reference_allows(value: dict[str, Any]) -> None:
    assert Draft202012Validator(_schema("Event", "properties")).is_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        {"Platform": "ios"},  # a key outside keyPattern
        {"x" * 41: 1},  # a key too long for keyPattern
        {f"k{index}": index for index in range(21)},  # more than maxProperties
        {"text": "x" * 257},  # a string member longer than maxLength
        {"text": "a\u0000b"},  # a NUL, refused by the string member's pattern
        {"big": 10**15 + 1},  # beyond max, for the integer and the number member alike
        {"ratio": 1e16},
        {"nested": {"a": 1}},  # no member is an object
        {"list": [1]},
        {"nothing": None},  # not nullable
    ],
)
def test_a_map_of_a_union_refuses_what_the_reference_does_not_allow(value: dict[str, Any]) -> None:
    assert not Draft202012Validator(_schema("Event", "properties")).is_valid(value)


def test_a_map_of_maps_keeps_each_level_apart() -> None:
    validator = Draft202012Validator(_schema("Event", "matrix"))
    assert validator.is_valid(None) and validator.is_valid({"a": {"x": 1, "y": None}})
    assert not validator.is_valid({"a": {"w": 1, "x": 2, "y": 3, "z": 4}})  # the inner map's maxProperties
    assert not validator.is_valid({"a": None})  # the outer map's values are not nullable


def test_union_members_keep_only_the_constraints_that_fit_them() -> None:
    validator = Draft202012Validator(_schema("Event", "tags")["items"])
    assert validator.is_valid("a") and validator.is_valid(0)
    assert not validator.is_valid("") and not validator.is_valid(-1) and not validator.is_valid(True)


def test_a_map_value_row_may_be_nullable_but_never_required() -> None:
    text = FIXTURE.read_text(encoding="utf-8").replace(
        "| matrix{}{} | integer | | | yes |", "| matrix{}{} | integer | | no | yes |"
    )
    _, diagnostics = parse_reference(text, "api.md")
    assert [diagnostic.message for diagnostic in diagnostics] == ["a map value row (`{}`) leaves Required empty"]


def test_union_spelling_is_normalised() -> None:
    text = FIXTURE.read_text(encoding="utf-8").replace(
        "| when | string or integer |", "| when | string  or   integer |"
    )
    reference, diagnostics = parse_reference(text, "api.md")
    when = next(field for field in reference.schemas["Event"].fields if field.name == "when")
    assert diagnostics == () and when.type == "string or integer" and when.alternatives == ("string", "integer")
