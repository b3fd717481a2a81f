"""The runtime layer: the real parts Probity starts itself (an embedded PostgreSQL, a backend process).

Imports only :mod:`probity.core`.
"""

from __future__ import annotations

__all__: list[str] = []
