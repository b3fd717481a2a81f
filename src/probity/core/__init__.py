"""The core layer: data models every other layer shares. It imports nothing else of Probity."""

from __future__ import annotations

__all__: list[str] = []
