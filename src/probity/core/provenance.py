"""Provenance of a run: which tool versions, documents, commit and person produced it.

Auditors ask "what exactly was tested, with what, by whom": this answers once, at the start of a run, and
every report and evidence bundle quotes it. Document hashes are SHA-256 of the files' bytes.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import platform
import socket
import subprocess
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["DEPENDENCIES", "collect_provenance", "file_sha256", "git_state"]

# The packages whose versions decide what a run can find.
DEPENDENCIES = (
    "probity",
    "schemathesis",
    "hypothesis",
    "sqlglot",
    "psycopg",
    "msgspec",  # decodes the statement log: which records a run reads
    "allure-pytest",
    "cryptography",
    "pydantic",
    "requests",
)


def collect_provenance(documents: dict[str, Path], project: Path, argv: Sequence[str]) -> dict[str, Any]:
    """What produced a run: versions, the documents' hashes, the project's git state, who and where."""
    return {
        "probity": _version("probity"),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
        "documents": {name: _document(path) for name, path in sorted(documents.items())},
        "git": git_state(project),
        "user": _user(),
        "host": socket.gethostname(),
        "argv": list(argv),
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def git_state(folder: Path) -> dict[str, Any] | None:
    """The commit checked out in *folder* and whether the work tree differs from it; None outside git."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def _document(path: Path) -> dict[str, str]:
    return {"path": str(path), "sha256": file_sha256(path)}


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return f"uid {os.getuid()}"
