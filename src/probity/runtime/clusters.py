"""Where throwaway clusters live, who owns each one, and the clean-up of clusters a killed run left behind.

Each cluster has a folder under the state root with an ``owner.json`` naming the Probity process that made
it. A server keeps running when its owner is killed, so every start first stops the servers of owners that
are gone and deletes their folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ServerUser",
    "cleanup_stale",
    "owner_alive",
    "pid_alive",
    "server_user",
    "state_root",
    "write_owner",
]

_OWNER_FILE = "owner.json"


@dataclass(frozen=True)
class ServerUser:
    """The account the server runs as: PostgreSQL refuses to run as root."""

    name: str
    uid: int
    gid: int


def state_root() -> Path:
    """The folder holding Probity's clusters: $PROBITY_STATE_DIR, else one per user in the temp dir."""
    configured = os.environ.get("PROBITY_STATE_DIR")
    root = Path(configured) if configured else Path(tempfile.gettempdir()) / f"probity-{os.getuid()}"
    (root / "clusters").mkdir(parents=True, exist_ok=True)
    # The unprivileged server user must be able to reach its own folders below this one.
    root.chmod(0o755)
    (root / "clusters").chmod(0o755)
    return root / "clusters"


def server_user() -> ServerUser | None:
    """None when we are not root (the server runs as us); otherwise an unprivileged account to use."""
    if os.getuid() != 0:
        return None
    for name in (os.environ.get("PROBITY_PG_USER"), "postgres", "nobody"):
        if not name:
            continue
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return ServerUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    raise LookupError("running as root, but no unprivileged account (postgres, nobody) exists")


def write_owner(cluster_dir: Path, pg_bindir: Path) -> None:
    """Record that this process owns *cluster_dir*, and which binaries can stop it."""
    record = {"pid": os.getpid(), "started": time.time(), "bindir": str(pg_bindir)}
    (cluster_dir / _OWNER_FILE).write_text(json.dumps(record), encoding="utf-8")


def owner_alive(cluster_dir: Path) -> bool:
    """Whether the Probity process that made *cluster_dir* still runs."""
    try:
        record = json.loads((cluster_dir / _OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        # A folder without a readable owner is either being created right now or broken; age decides.
        return time.time() - cluster_dir.stat().st_mtime < 120
    return pid_alive(int(record["pid"]))


def cleanup_stale(root: Path) -> list[Path]:
    """Stop the servers of clusters whose owner is gone and delete their folders; return what was removed."""
    removed: list[Path] = []
    for cluster_dir in sorted(root.iterdir()):
        if cluster_dir.is_dir() and not owner_alive(cluster_dir):
            _stop_orphan(cluster_dir)
            shutil.rmtree(cluster_dir, ignore_errors=True)
            removed.append(cluster_dir)
    return removed


def _stop_orphan(cluster_dir: Path) -> None:
    pid = _postmaster_pid(cluster_dir / "data")
    if pid is None or not pid_alive(pid):
        return
    bindir = _recorded_bindir(cluster_dir)
    if bindir is not None:
        _pg_ctl_immediate(bindir, cluster_dir / "data")
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def _pg_ctl_immediate(bindir: Path, data_dir: Path) -> None:
    user = server_user()
    # SIGKILL in the caller is the fallback when pg_ctl cannot do it.
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "-w", "-t", "20", "stop"],
            capture_output=True,
            timeout=30,
            check=False,
            user=user.uid if user else None,
            group=user.gid if user else None,
        )


def _recorded_bindir(cluster_dir: Path) -> Path | None:
    try:
        return Path(json.loads((cluster_dir / _OWNER_FILE).read_text(encoding="utf-8"))["bindir"])
    except (OSError, ValueError, KeyError):
        return None


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0]
        return int(first)
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether *pid* runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False  # no procfs: trust kill(0)
    return stat.rpartition(")")[2].split()[0] == "Z"
