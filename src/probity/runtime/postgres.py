"""A throwaway PostgreSQL cluster that writes every statement to a JSON-lines log.

The statement log is Probity's view of what a backend really ran, so the cluster is configured for it:
``jsonlog`` through the logging collector, every statement logged with its duration, and no size- or
age-based rotation that would split one run's log over several files.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from probity.core.errors import PostgresError
from probity.runtime.clusters import ServerUser, cleanup_stale, server_user, state_root, write_owner
from probity.runtime.net import free_port
from probity.runtime.pgbin import PostgresBinaries, find_binaries

__all__ = ["EmbeddedPostgres", "LOG_SETTINGS", "Credentials"]

SUPERUSER = "probity"

# Settings that make the statement log complete, machine-readable and in one file.
LOG_SETTINGS: dict[str, str] = {
    "logging_collector": "on",
    "log_destination": "'jsonlog'",
    "log_filename": "'postgresql.log'",
    "log_rotation_size": "0",
    "log_rotation_age": "0",
    "log_truncate_on_rotation": "off",
    "log_statement": "'all'",
    "log_min_duration_statement": "0",
    "log_min_error_statement": "'error'",
    "log_connections": "on",
    "log_disconnections": "on",
    # Capture reads message prefixes (statement:, execute, duration:), which translations would change.
    "lc_messages": "'C'",
}

# A throwaway cluster needs no durability; these make provisioning and resets several times faster.
_SPEED_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


@dataclass(frozen=True)
class Credentials:
    """A role and its password, for building connection strings."""

    user: str
    password: str


class EmbeddedPostgres:
    """Start, use and stop one throwaway cluster. Use as a context manager so it always stops.

    >>> with EmbeddedPostgres() as pg:  # doctest: +SKIP
    ...     pg.url("postgres")
    'postgresql://probity:…@127.0.0.1:54321/postgres'
    """

    def __init__(self, binaries: PostgresBinaries | None = None, port: int | None = None) -> None:
        self.binaries = binaries or find_binaries()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.superuser = Credentials(SUPERUSER, secrets.token_urlsafe(18))
        self.dir: Path | None = None
        self._user: ServerUser | None = server_user()

    # -- public surface -------------------------------------------------------------------------------

    @property
    def log_dir(self) -> Path:
        return self._require_dir() / "log"

    @property
    def data_dir(self) -> Path:
        return self._require_dir() / "data"

    def url(self, dbname: str, credentials: Credentials | None = None) -> str:
        """A libpq URL for *dbname*, as the superuser unless other *credentials* are given."""
        who = credentials or self.superuser
        return f"postgresql://{who.user}:{quote(who.password, safe='')}@{self.host}:{self.port}/{dbname}"

    def start(self) -> EmbeddedPostgres:
        root = state_root()
        cleanup_stale(root)
        self.dir = Path(tempfile.mkdtemp(prefix="cluster-", dir=root))
        self.dir.chmod(0o755)  # the server's own account must reach its folders inside
        write_owner(self.dir, self.binaries.bindir)
        try:
            self._initdb()
            self._configure()
            self._pg_ctl("start", "-l", str(self.log_dir / "startup.log"), "-t", "60")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the cluster's folder; safe to call twice."""
        if self.dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "fast", "-t", "60", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- steps ----------------------------------------------------------------------------------------

    def _require_dir(self) -> Path:
        if self.dir is None:
            raise PostgresError("the embedded PostgreSQL is not running")
        return self.dir

    def _initdb(self) -> None:
        root = self._require_dir()
        for sub in ("data", "log"):
            self._owned_dir(root / sub)
        pwfile = root / "pwfile"
        pwfile.write_text(self.superuser.password + "\n", encoding="utf-8")
        self._chown(pwfile)
        self._run(
            self.binaries.tool("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--pwfile", str(pwfile),
            "-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()

    def _configure(self) -> None:
        root = self._require_dir()
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            # TCP on loopback only: a socket path under a deep temp folder can pass the 107-byte limit.
            "unix_socket_directories": "''",
            "log_directory": f"'{root / 'log'}'",
            **LOG_SETTINGS,
            **_SPEED_SETTINGS,
        }
        lines = [f"{key} = {value}" for key, value in settings.items()]
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# Probity: statement capture and throwaway-cluster settings\n")
            conf.write("\n".join(lines) + "\n")

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        self._run(self.binaries.tool("pg_ctl"), "-D", str(self.data_dir), "-w", *args, check=check)

    def _owned_dir(self, path: Path) -> None:
        path.mkdir(mode=0o700)
        self._chown(path)

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.uid, self._user.gid)

    def _run(self, *argv: str, check: bool = True) -> None:
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=120, cwd=self._require_dir(),
                user=self._user.uid if self._user else None, group=self._user.gid if self._user else None,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            raise PostgresError(f"{Path(argv[0]).name} could not run: {exc}") from exc
        if check and done.returncode != 0:
            raise PostgresError(self._failure(argv, done))

    def _failure(self, argv: tuple[str, ...], done: subprocess.CompletedProcess[str]) -> str:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:] + self._server_errors()
        return f"{Path(argv[0]).name} failed (exit {done.returncode}): " + " | ".join(detail)

    def _server_errors(self) -> list[str]:
        """The server's last complaints, from its JSON log, so a failed start says why."""
        log = self.log_dir / "postgresql.json"
        if not log.exists():
            return []
        records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()[-20:] if line]
        bad = ("FATAL", "PANIC", "ERROR")
        return [str(r.get("message")) for r in records if r.get("error_severity") in bad][-3:]
