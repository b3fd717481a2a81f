"""The reporting layer: writes what runs concluded for people, CI and auditors. Consumes results only."""

from __future__ import annotations

__all__: list[str] = []
