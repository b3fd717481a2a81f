"""Find PostgreSQL server binaries: the machine's own when present, else the ones the pgserver wheel ships."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from probity.core.errors import PostgresError

__all__ = ["MIN_MAJOR", "PostgresBinaries", "find_binaries"]

# jsonlog, the log format statement capture reads, appeared in PostgreSQL 15.
MIN_MAJOR = 15
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


@dataclass(frozen=True)
class PostgresBinaries:
    """A folder holding initdb, pg_ctl and postgres, with the server's major version."""

    bindir: Path
    major: int
    origin: str

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def find_binaries() -> PostgresBinaries:
    """The first usable PostgreSQL ≥ 15: $PROBITY_PG_BINDIR, the machine's, then the pgserver wheel's."""
    tried: list[str] = []
    for bindir, origin in _candidates():
        found = _probe(bindir, origin)
        if found is not None:
            return found
        tried.append(str(bindir))
    raise PostgresError(
        f"no PostgreSQL {MIN_MAJOR}+ server binaries found (looked in: {', '.join(tried) or 'nowhere'}). "
        "Install the project's dependencies (pip install -e .), which bring the pgserver wheel, "
        "or set PROBITY_PG_BINDIR to a folder holding initdb, pg_ctl and postgres."
    )


def _candidates() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if env := os.environ.get("PROBITY_PG_BINDIR"):
        found.append((Path(env), "PROBITY_PG_BINDIR"))
    if on_path := shutil.which("pg_ctl"):
        found.append((Path(on_path).resolve().parent, "system"))
    found.extend((path, "system") for path in _debian_bindirs())
    if wheel := _pgserver_bindir():
        found.append((wheel, "pgserver wheel"))
    return found


def _debian_bindirs() -> list[Path]:
    # Debian and Ubuntu keep server binaries off PATH, one folder per major version; newest first.
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return []
    dirs = [p / "bin" for p in root.iterdir() if p.name.isdigit()]
    return sorted(dirs, key=lambda p: int(p.parent.name), reverse=True)


def _pgserver_bindir() -> Path | None:
    spec = find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def _probe(bindir: Path, origin: str) -> PostgresBinaries | None:
    if not all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
        return None
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    if match is None or int(match.group(1)) < MIN_MAJOR:
        return None
    return PostgresBinaries(bindir=bindir, major=int(match.group(1)), origin=origin)
