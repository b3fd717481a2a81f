"""The embedded stack: a throwaway PostgreSQL, the target's database on it, and the backend on top."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from probity.core.target import Target
from probity.runtime.backend import BackendProcess
from probity.runtime.postgres import EmbeddedPostgres
from probity.runtime.provision import ProvisionedDatabase, provision, reset_database

__all__ = ["EmbeddedStack"]


@dataclass
class EmbeddedStack:
    """Start everything a target needs, in order, and stop it in reverse order whatever happens."""

    target: Target
    work_dir: Path
    defects: str = ""
    sqlcommenter: bool = False
    pg: EmbeddedPostgres | None = None
    database: ProvisionedDatabase | None = None
    backend: BackendProcess | None = None
    _exit: ExitStack = field(default_factory=ExitStack)

    def start(self) -> EmbeddedStack:
        try:
            self.pg = self._exit.enter_context(EmbeddedPostgres())
            self.database = provision(self.pg, self.target)
            self.backend = self._start_backend(self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def reset(self) -> None:
        """Put the database back to its seed; the backend restarts (on the same port: its URL stays valid)
        because its pool's connections die with the old database."""
        assert self.database is not None and self.backend is not None
        port = self.backend.port
        self.backend.stop()
        reset_database(self.database)
        self.backend = self._start_backend(self.database, port)

    def stop(self) -> None:
        if self.backend is not None:
            self.backend.stop()
        self._exit.close()

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _start_backend(self, database: ProvisionedDatabase, port: int | None = None) -> BackendProcess:
        log = self.work_dir / "backend.log"
        backend = BackendProcess(self.target, database.app_url, log, self.defects, port, self.sqlcommenter)
        return backend.start()
