"""The target description: what Probity tests, with which files, and (for an embedded target) how to start it.

A target file (``contracts/NAME/target.yaml``) is data, so the harness knows nothing of any particular
backend. It names the contract, policy and principals files, the hosts that may receive state-changing
requests, and, for a target Probity runs itself, how to provision its database and start its backend.
Relative paths in it are relative to the file. Command and environment values may use the placeholders
``{python}``, ``{host}``, ``{port}``, ``{database_url}``, ``{defects}`` and ``{sqlcommenter}`` ("1" when
the run wants W3C traceparents carried into SQL comments, else "0"), which Probity fills when it launches
the backend.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from probity.core.errors import ConfigError
from probity.core.yamlfile import load_model

__all__ = ["BackendSpec", "DatabaseSpec", "DocumentsSpec", "Target", "load_target"]

_IDENTIFIER = r"^[a-z_][a-z0-9_]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DocumentsSpec(_Strict):
    """The design documents ``probity review`` reads by default: the API reference and its blueprint."""

    reference: Path | None = None
    blueprint: Path | None = None


class DatabaseSpec(_Strict):
    """The database the backend runs on, created from a DDL file and seed data."""

    name: str = Field(pattern=_IDENTIFIER)
    app_role: str = Field(pattern=_IDENTIFIER, description="the role the backend connects as")
    ddl: Path
    seed: Path | None = None


class BackendSpec(_Strict):
    """How to start the backend process and know that it is ready."""

    command: tuple[str, ...] = Field(min_length=1)
    cwd: Path | None = None
    env: dict[str, str] = Field(default_factory=dict)
    host: str = "127.0.0.1"
    base_path: str = ""
    health_path: str = "/openapi.json"
    openapi_path: str | None = "/openapi.json"
    startup_timeout: float = Field(default=30.0, gt=0, le=600)

    @field_validator("base_path", "health_path", "openapi_path")
    @classmethod
    def _absolute_path(cls, value: str | None) -> str | None:
        if value and not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


class Target(_Strict):
    """A backend under test: its documents, and, when Probity runs it itself, its database and process."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    contract: Path | None = None
    policy: Path | None = None
    principals: Path | None = None
    base_url: str | None = Field(default=None, pattern=r"^https?://", description="a running backend's API root")
    # Hosts that may receive state-changing requests; any other host is tested read-only.
    allow_writes_to: tuple[str, ...] = ()
    database: DatabaseSpec | None = None
    backend: BackendSpec | None = None
    documents: DocumentsSpec | None = None
    root: Path = Path(".")

    @property
    def embedded(self) -> bool:
        """Whether Probity starts this target itself (it has a database and a backend to launch)."""
        return self.database is not None and self.backend is not None

    def embedded_parts(self) -> tuple[DatabaseSpec, BackendSpec]:
        """The database and backend sections, for a target Probity starts itself."""
        if self.database is None or self.backend is None:
            raise ConfigError(
                f"target {self.name!r} has no 'database' and 'backend' sections, so Probity cannot start it; "
                "give --base-url of a running backend instead"
            )
        return self.database, self.backend

    def resolve(self, path: Path) -> Path:
        """*path* as written in the target file, made absolute against the file's folder."""
        return path if path.is_absolute() else (self.root / path).resolve()


def load_target(path: Path) -> Target:
    """Load and validate a target file; errors name the file and line."""
    target = load_model(path, Target)
    return target.model_copy(update={"root": path.resolve().parent})
