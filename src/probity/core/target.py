"""The target description: how Probity provisions a database for a backend and starts it.

A target file (``contracts/NAME/target.yaml``) is data, so the harness knows nothing of any particular
backend. Relative paths in it are relative to the file. Command and environment values may use the
placeholders ``{python}``, ``{host}``, ``{port}``, ``{database_url}`` and ``{defects}``, which Probity fills
when it launches the backend.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from probity.core.yamlfile import load_model

__all__ = ["BackendSpec", "DatabaseSpec", "Target", "load_target"]

_IDENTIFIER = r"^[a-z_][a-z0-9_]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    """A backend Probity can run itself: its database and its process."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    database: DatabaseSpec
    backend: BackendSpec
    root: Path = Path(".")

    def resolve(self, path: Path) -> Path:
        """*path* as written in the target file, made absolute against the file's folder."""
        return path if path.is_absolute() else (self.root / path).resolve()


def load_target(path: Path) -> Target:
    """Load and validate a target file; errors name the file and line."""
    target = load_model(path, Target)
    return target.model_copy(update={"root": path.resolve().parent})
