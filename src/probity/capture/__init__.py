"""The capture layer: PostgreSQL's statement log read as it grows, and its statements tied to HTTP requests.

Imports only :mod:`probity.core`.
"""

from __future__ import annotations

__all__: list[str] = []
