"""What a contract run will do: which identities act in which passes, what is never sent, how much is generated.

A *pass* is one schemathesis run with one pinned principal acting for every operation and, as peers, one
principal of the same role in every tenant: identities that must not see each other's objects, which is what
``object_level_authorization`` probes. Passes alternate the pinned tenant so each tenant owns objects once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from probity.core.policy import Policy
from probity.core.principals import Principal, Principals

__all__ = ["SAFE_METHODS", "Pass", "RunPlan", "default_passes", "is_write_allowed", "never_sent"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Pass:
    role: str
    pinned: str
    peers: tuple[str, ...]


@dataclass(frozen=True)
class RunPlan:
    """Everything a contract run needs besides the target's documents."""

    api_root: str  # e.g. http://127.0.0.1:8000/api/v1 — contract paths are relative to it
    passes: tuple[Pass, ...]
    seed: int
    max_examples: int = 20
    phases: tuple[str, ...] = ("examples", "coverage", "fuzzing", "stateful")
    read_only: bool = False
    never_send: tuple[str, ...] = ()  # "METHOD /path" excluded whatever the mode
    workers: int = 1
    # Whether values from earlier responses feed later operations' inputs (schemathesis's extra data sources).
    # Off, each operation's cases come from the seed alone, whichever operations run with it (shards need that).
    response_pool: bool = True
    notes: list[str] = field(default_factory=list)


def default_passes(principals: Principals) -> tuple[Pass, ...]:
    """One pass per role that every tenant has, pinned to each tenant in turn.

    >>> from probity.core.principals import Principals
    >>> p = Principals.model_validate({"principals": [
    ...     {"name": n, "tenant": t, "role": r, "token": {"env": "X"}}
    ...     for n, t, r in [("a1", "a", "ADMIN"), ("b1", "b", "ADMIN"), ("a2", "a", "USER")]]})
    >>> default_passes(p)
    (Pass(role='ADMIN', pinned='a1', peers=('a1', 'b1')),)
    """
    tenants = principals.tenants
    passes: list[Pass] = []
    for role in dict.fromkeys(p.role for p in principals.principals):
        peers = _first_of_role_per_tenant(principals, role, tenants)
        if len(peers) == len(tenants) >= 2:
            pinned = peers[len(passes) % len(peers)].name
            passes.append(Pass(role, pinned, tuple(p.name for p in peers)))
    return tuple(passes)


def _first_of_role_per_tenant(principals: Principals, role: str, tenants: tuple[str, ...]) -> list[Principal]:
    found = (next((p for p in principals.of_tenant(t) if p.role == role), None) for t in tenants)
    return [p for p in found if p is not None]


def is_write_allowed(api_root: str, allow_writes_to: tuple[str, ...]) -> bool:
    """Whether state-changing requests may go to *api_root*'s host.

    >>> is_write_allowed("http://127.0.0.1:8000/api", ("127.0.0.1",)), is_write_allowed("https://prod.x", ())
    (True, False)
    """
    host = urlsplit(api_root).hostname or ""
    return host.lower() in {allowed.lower() for allowed in allow_writes_to}


def never_sent(policy: Policy) -> tuple[str, ...]:
    """Operations no generated request may reach: destructive ones, and those that end the caller's session."""
    return tuple(dict.fromkeys((*policy.destructive_operations, *policy.session_ending_operations)))
