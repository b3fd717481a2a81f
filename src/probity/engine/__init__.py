"""The engine layer: drives requests at a target as its principals, ties SQL to them and runs the checks."""

from __future__ import annotations

__all__: list[str] = []
