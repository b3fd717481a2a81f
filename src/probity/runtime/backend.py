"""Start a target's backend as a child process on a loopback port, wait until it answers, stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO

from probity.core.errors import BackendError
from probity.core.target import Target
from probity.runtime.net import free_port, wait_for_http

__all__ = ["BackendProcess"]

_PR_SET_PDEATHSIG = 1


class BackendProcess:
    """The backend under test, running as a child of this process.

    On Linux the child is told to end when this process dies, so a killed run leaves no backend behind.
    """

    def __init__(
        self,
        target: Target,
        database_url: str,
        log_path: Path,
        defects: str = "",
        port: int | None = None,
        sqlcommenter: bool = False,
    ) -> None:
        self.target = target
        self.spec = target.embedded_parts()[1]
        self.port = port or free_port(self.spec.host)
        self.log_path = log_path
        self._values = {
            "python": sys.executable,
            "host": self.spec.host,
            "port": str(self.port),
            "database_url": database_url,
            "defects": defects,
            # Whether the backend should carry W3C traceparents into SQL comments (if it can).
            "sqlcommenter": "1" if sqlcommenter else "0",
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.spec.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Where the API's paths start, e.g. ``http://127.0.0.1:8123/api/v1``."""
        return self.origin + self.spec.base_path

    @property
    def openapi_url(self) -> str | None:
        return self.origin + self.spec.openapi_path if self.spec.openapi_path else None

    def start(self) -> BackendProcess:
        self._spawn()
        health = self.origin + self.spec.health_path
        if wait_for_http(health, self.spec.startup_timeout, self.running) is None:
            reason = self._not_ready(health)
            self.stop()
            raise BackendError(reason)
        return self

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM the backend's process group, then SIGKILL it if it lingers; safe to call twice."""
        if self._process is not None and self.running():
            self._signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self._process.wait(timeout=10)
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> BackendProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _spawn(self) -> None:
        argv = [self._fill(part) for part in self.spec.command]
        cwd = self.target.resolve(self.spec.cwd) if self.spec.cwd else None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                argv, cwd=cwd, env=self._environment(), stdout=self._log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
        except OSError as exc:
            self.stop()
            raise BackendError(f"cannot start the backend ({' '.join(self.spec.command)}): {exc}") from exc

    def _environment(self) -> dict[str, str]:
        filled = {key: self._fill(value) for key, value in self.spec.env.items()}
        return {**os.environ, **filled}

    def _fill(self, text: str) -> str:
        try:
            return text.format_map(self._values)
        except KeyError as exc:
            raise BackendError(f"unknown placeholder {{{exc.args[0]}}} in the target's backend section") from exc

    def _signal(self, sig: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)

    def _not_ready(self, health: str) -> str:
        died = not self.running()
        state = "exited before answering" if died else f"did not answer within {self.spec.startup_timeout:g}s"
        tail = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-8:]
        return f"the backend {state} at {health}. Last lines of {self.log_path}:\n  " + "\n  ".join(tail)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM us when the parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
