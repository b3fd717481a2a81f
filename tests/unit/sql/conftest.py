"""The SQL layer's unit tests: import it first, so sqlglot comes in without its stale tokenizer's warning."""

from __future__ import annotations

import probity.sql  # noqa: F401
