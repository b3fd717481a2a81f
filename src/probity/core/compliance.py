"""Compliance frameworks as data: each control lists the checks that bear on it.

The frameworks live in ``frameworks/*.yaml`` beside this module, validated by :class:`Framework` when loaded.
A result's control references are derived from them, so adding a check to a control is a data change.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from probity.core.yamlfile import load_model

__all__ = ["Control", "Framework", "controls_for", "frameworks"]

_FOLDER = Path(__file__).parent / "frameworks"


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    checks: tuple[str, ...] = Field(min_length=1)


class Framework(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    controls: tuple[Control, ...] = Field(min_length=1)

    def label(self, control: Control) -> str:
        """How results cite a control, e.g. ``HIPAA 164.312(b)`` or ``OWASP API1:2023``."""
        return f"{self.id.split('-')[0].upper()} {control.id}"


@cache
def frameworks() -> tuple[Framework, ...]:
    """Every framework shipped with Probity, in a stable order."""
    return tuple(load_model(path, Framework) for path in sorted(_FOLDER.glob("*.yaml")))


@cache
def controls_for(check: str) -> tuple[str, ...]:
    """The controls *check* bears on, as labels.

    >>> controls_for("audit_insert")
    ('HIPAA 164.312(a)(2)(i)', 'HIPAA 164.312(b)')
    """
    return tuple(
        framework.label(control)
        for framework in frameworks()
        for control in framework.controls
        if check in control.checks
    )
