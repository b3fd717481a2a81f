"""Redaction: nothing Probity writes may hold a secret or PHI value unmasked.

A :class:`Redactor` masks credential headers, the JSON fields a policy names as PHI, and any known secret
value (seeded canaries, live tokens) wherever it appears in text — under any key, in any string.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "Redactor"]

MASK = "***"
_REMEMBERED = 4096  # scrubbed texts a redactor keeps


class Redactor:
    """Masks what a policy says is sensitive.

    >>> r = Redactor(headers={"authorization"}, fields={"name"}, secrets=["tok_123"])
    >>> r.headers({"Authorization": "Bearer x", "Accept": "a"})
    {'Authorization': '***', 'Accept': 'a'}
    >>> r.json({"name": "Ann", "id": 7, "note": "see tok_123"})
    {'name': '***', 'id': 7, 'note': 'see ***'}
    """

    def __init__(self, headers: Iterable[str] = (), fields: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        self.headers_ = {name.lower() for name in headers}
        self.fields = set(fields)
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
        # Scrubbed texts by text: the same statement texts and messages are scrubbed for request after request.
        self._scrubbed: dict[str, str] = {}

    def add_secret(self, value: str) -> None:
        """Mask *value* from now on (e.g. a token fetched during the run)."""
        if len(value) >= 6 and value not in self.secrets:
            self.secrets = sorted([*self.secrets, value], key=len, reverse=True)
            self._scrubbed = {}

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {k: MASK if k.lower() in self.headers_ else self.text(v) for k, v in headers.items()}

    def text(self, text: str) -> str:
        # The cache before the secrets: if add_secret runs meanwhile (another thread), what is scrubbed with the
        # old secrets lands in the old cache, which add_secret has already dropped.
        remembered, secrets = self._scrubbed, self.secrets
        scrubbed = remembered.get(text)
        if scrubbed is None:
            scrubbed = _scrub(text, secrets)
            if len(remembered) >= _REMEMBERED:  # bounded: texts with values written in are new every time
                remembered.clear()
            remembered[text] = scrubbed
        return scrubbed

    def json(self, value: Any) -> Any:
        """*value* with PHI fields masked and secrets scrubbed from every string, keys included."""
        if isinstance(value, dict):
            return {self.text(str(k)): MASK if k in self.fields else self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        return self.text(value) if isinstance(value, str) else value

    def body(self, raw: bytes | str | None) -> str:
        """A request or response body for evidence: JSON redacted field by field, anything else scrubbed."""
        if not raw:
            return ""
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        try:
            return json.dumps(self.json(json.loads(text)), ensure_ascii=False, sort_keys=True)
        except ValueError:
            return self.text(text)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
