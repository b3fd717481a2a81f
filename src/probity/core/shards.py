"""Splitting a run across machines: which operations shard K of N takes, and how the parts fit back together.

The split is round-robin over the contract's operations in document order: operation *i* goes to shard
``i mod N + 1``. It depends on nothing but the contract (no hash seed, no machine), the shards differ in size by
at most one operation, and the contract order of the whole is recovered from the shards' own lists alone
(:func:`interleave`), so a merge needs no copy of the contract.

What makes the merged shards conclude exactly what one run concludes (same seed, budget and documents):

- schemathesis seeds each operation from the run's seed and the operation's label, so an operation's cases do
  not depend on which others run, *unless* values other operations answered feed its inputs (its response
  pool, on by default: a shard's pool then holds its own operations' answers only). ``--independent-operations``
  turns the pool off; shards and the unsharded run they are compared with both need it. Without it the merged
  shards are a sound run of their own, but not always the same one: the pool makes generated requests name
  objects that exist, and defects only such requests reach (an audit row missing on a read by id) are caught
  more often with it;
- the HTTP checks and the inventory run whole in every shard and keep only the shard's results, so their
  requests meet the database in the same state as in one run;
- the stateful phase follows links between the shard's own operations only: what it finds is outside the
  guarantee (a link from one shard's operation to another's is never followed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from probity.core.errors import ConfigError

__all__ = ["Shard", "interleave", "parse_shard"]

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard *index* (1-based) of *count*."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ConfigError(f"shard {self.index}/{self.count}: K must be between 1 and N in --shard K/N")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, operations: Sequence[str]) -> tuple[str, ...]:
        """This shard's share of *operations* (the contract's, in document order), in the same order.

        >>> Shard(2, 3).select(["a", "b", "c", "d", "e"])
        ('b', 'e')
        """
        return tuple(operations[self.index - 1 :: self.count])


def parse_shard(text: str) -> Shard:
    """``K/N`` as a :class:`Shard`.

    >>> parse_shard("2/4")
    Shard(index=2, count=4)
    """
    match = _SPEC.match(text)
    if match is None:
        raise ConfigError(f"--shard {text!r}: expected K/N, e.g. 1/4 for the first of four shards")
    return Shard(int(match.group(1)), int(match.group(2)))


def interleave(shares: Sequence[Sequence[str]]) -> list[str]:
    """The contract's operations in document order, from every shard's share in shard order.

    >>> interleave([("a", "c", "e"), ("b", "d")])
    ['a', 'b', 'c', 'd', 'e']
    """
    total = sum(len(share) for share in shares)
    expected = [len(range(index, total, len(shares))) for index in range(len(shares))]
    if [len(share) for share in shares] != expected:
        raise ConfigError(f"the shards' operation counts {[len(s) for s in shares]} are no split of one contract")
    return [shares[position % len(shares)][position // len(shares)] for position in range(total)]
