"""Shared helpers of the design-review tests: the clinic's documents, copied (and mutated) into a folder.

A mutation is a list of patches ``{file, find, replace, after?}`` (format: tests/fixtures/review/README.md)
applied to the real documents, so the fixtures follow the documents instead of rotting beside them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from probity.review.run import ReviewDocuments, ReviewReport, review_documents

ROOT = Path(__file__).resolve().parents[3]
SOURCES = {
    "reference": ROOT / "fixtures" / "clinic" / "docs" / "api-reference.md",
    "blueprint": ROOT / "fixtures" / "clinic" / "docs" / "backend-details.md",
    "ddl": ROOT / "fixtures" / "clinic" / "schema.sql",
    "policy": ROOT / "contracts" / "clinic" / "policy.yaml",
}

Patch = Mapping[str, str]


def apply_patch(text: str, patch: Patch) -> str:
    """*text* with the patch's ``find`` replaced once: the only occurrence, or the first after ``after``."""
    find, anchor = patch["find"], patch.get("after")
    start = 0
    if anchor is not None:
        assert text.count(anchor) == 1, f"anchor {anchor!r} must occur exactly once"
        start = text.index(anchor) + len(anchor)
    else:
        assert text.count(find) == 1, f"{find!r} must occur exactly once (or give 'after')"
    position = text.find(find, start)
    assert position >= 0, f"{find!r} not found after {anchor!r}"
    return text[:position] + patch["replace"] + text[position + len(find) :]


def write_documents(folder: Path, patches: Sequence[Patch] = ()) -> ReviewDocuments:
    """The clinic's four documents in *folder*, with *patches* applied (the policy's canary file kept reachable)."""
    texts = {name: path.read_text(encoding="utf-8") for name, path in SOURCES.items()}
    texts["policy"] = re.sub(r"(?m)^([ \t]*)canaries: (.*)$", _absolute_canaries, texts["policy"])
    for patch in patches:
        assert patch["file"] in texts, f"unknown file {patch['file']!r}"
        texts[patch["file"]] = apply_patch(texts[patch["file"]], patch)
    paths = {name: folder / path.name for name, path in SOURCES.items()}
    for name, path in paths.items():
        path.write_text(texts[name], encoding="utf-8")
    return ReviewDocuments(**paths)


def _absolute_canaries(match: re.Match[str]) -> str:
    return f"{match[1]}canaries: {(SOURCES['policy'].parent / match[2].strip()).resolve()}"


@pytest.fixture
def review_mutated(tmp_path: Path) -> Callable[..., ReviewReport]:
    """Review the clinic's documents, copied into a temporary folder with patches applied."""

    def review(patches: Sequence[Patch] = (), dsn: str | None = None) -> ReviewReport:
        return review_documents(write_documents(tmp_path, patches), dsn)

    return review


@pytest.fixture
def write_mutated(tmp_path: Path) -> Callable[[Sequence[Patch]], ReviewDocuments]:
    """Write the clinic's documents, with patches applied, into a temporary folder."""
    return lambda patches: write_documents(tmp_path, patches)
