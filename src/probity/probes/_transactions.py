"""The transactions of a request's statements, as PostgreSQL's statement log shows them.

Per session (a pooled connection), in log order, BEGIN/START opens a transaction that COMMIT/END or
ROLLBACK/ABORT closes; a COMMIT after a failed statement is a rollback (PostgreSQL answers it with ROLLBACK),
and ROLLBACK TO SAVEPOINT undoes what followed the savepoint. A statement outside BEGIN … COMMIT runs on its
own (autocommit) unless it shares its virtual transaction id with its neighbours (a BEGIN the attribution
missed). Virtual transaction ids ending in ``/0`` (logged for COMMIT durations and for statements after an
error) name no transaction and are ignored; two statements whose real vxids differ are never in the same
transaction. The custom settings in effect at each statement (``SET``, ``SET LOCAL``, ``set_config``) are
kept, so values read back with ``current_setting`` can be resolved.

>>> from probity.sql import statement_facts
>>> texts = ["BEGIN", "INSERT INTO a VALUES (1)", "ROLLBACK", "INSERT INTO a VALUES (2)"]
>>> statements = [Statement(text, (), "s1") for text in texts]
>>> transactions = Transactions.read([(s, statement_facts(s.text)) for s in statements])
>>> transactions.fate(1), transactions.fate(3), transactions.same(0, 1), transactions.same(1, 3)
('rolled back', 'committed', True, False)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from probity.core.trace import Statement
from probity.sql import Kind, StatementFacts

__all__ = ["Transaction", "Transactions", "control"]


@dataclass
class Transaction:
    """One transaction of one session: its statements (indexes into the trace) and how it ended."""

    id: int
    session: str
    explicit: bool  # opened by a BEGIN in the trace
    vxid: str | None = None
    end: str = "open"  # commit, rollback, autocommit, open
    members: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)  # failed statements not recovered by ROLLBACK TO
    savepoints: list[tuple[str, int]] = field(default_factory=list)
    undone: set[int] = field(default_factory=set)
    local: dict[str, str | None] = field(default_factory=dict)  # SET LOCAL / set_config(…, true)
    settings: dict[int, dict[str, str | None]] = field(default_factory=dict)  # in effect at each member

    def add(self, index: int, statement: Statement) -> None:
        self.members.append(index)
        vxid = _vxid(statement)
        if self.vxid is None and vxid is not None:
            self.vxid = vxid
        if statement.error is not None:
            self.errors.append(index)

    def savepoint(self, kind: str, name: str, index: int) -> None:
        if kind == "savepoint":
            self.savepoints.append((name, index))
        elif kind == "rollback to":
            self.rollback_to(name)
        elif kind == "release":
            self.release(name)

    def rollback_to(self, name: str) -> None:
        for position in range(len(self.savepoints) - 1, -1, -1):
            saved, at = self.savepoints[position]
            if saved == name:
                del self.savepoints[position + 1 :]
                self.undone.update(i for i in self.members if i > at)
                self.errors = [i for i in self.errors if i < at]
                return

    def release(self, name: str) -> None:
        names = [saved for saved, _ in self.savepoints]
        if name in names:
            del self.savepoints[names.index(name) :]

    @property
    def outcome(self) -> str:
        """committed, rolled back, failed (an autocommitted statement that failed) or unknown (no end seen)."""
        if self.end == "commit":
            return "rolled back" if self.errors else "committed"
        if self.end == "rollback":
            return "rolled back"
        if self.end == "autocommit":
            return "failed" if self.errors else "committed"
        return "unknown"


class Transactions:
    """Which transaction each statement of a trace ran in, and how each ended (see the module docstring)."""

    def __init__(self) -> None:
        self.of: dict[int, Transaction] = {}
        self.count = 0

    @classmethod
    def read(cls, facts: Sequence[tuple[Statement, StatementFacts]]) -> Transactions:
        """The transactions of a trace's statements (with their facts), in log order."""
        transactions = cls()
        sessions: dict[str, list[int]] = defaultdict(list)
        for index, (statement, _) in enumerate(facts):
            sessions[statement.session_id].append(index)
        for indexes in sessions.values():
            transactions._walk(facts, indexes)
        return transactions

    def _new(self, session: str, explicit: bool) -> Transaction:
        self.count += 1
        return Transaction(self.count, session, explicit)

    def _walk(self, facts: Sequence[tuple[Statement, StatementFacts]], indexes: list[int]) -> None:
        current: Transaction | None = None
        session_settings: dict[str, str | None] = {}
        for index in indexes:
            statement, f = facts[index]
            kind, name = control(f)
            if kind == "begin":
                if current is None or not current.explicit:
                    self._close(current)
                    current = self._new(statement.session_id, True)
                current.add(index, statement)  # BEGIN inside a transaction is only a warning
            elif kind in _ENDS:
                current = self._end(current, index, statement, kind)
            elif kind is not None and current is not None:
                current.add(index, statement)
                current.savepoint(kind, name, index)
            else:
                current = self._place(current, index, statement)
            if current is not None:
                self.of[index] = current
                current.settings[index] = {**session_settings, **current.local}
                self._set(current, f, statement, session_settings)
                if not current.explicit and _vxid(statement) is None:
                    self._close(current)  # autocommit, and nothing could tie a neighbour to it
                    current = None
        self._close(current)

    def _end(self, current: Transaction | None, index: int, statement: Statement, kind: str) -> Transaction | None:
        vxid = _vxid(statement)
        if current is not None and not current.explicit and vxid is not None and vxid != current.vxid:
            self._close(current)  # a COMMIT of no transaction we saw: the loose statement was autocommitted
            current = None
        if current is not None:
            current.add(index, statement)
            self.of[index] = current
            current.end = kind.split()[0]
        if kind.endswith("chain"):
            return self._new(statement.session_id, True)
        return None

    @staticmethod
    def _set(current: Transaction, f: StatementFacts, statement: Statement, session: dict[str, str | None]) -> None:
        for setting in f.settings:
            value = setting.value.resolve(statement.params)
            if setting.local:
                current.local[setting.name] = value
            else:
                session[setting.name] = value

    def _place(self, current: Transaction | None, index: int, statement: Statement) -> Transaction:
        vxid = _vxid(statement)
        if current is not None and current.explicit:
            if current.vxid is None or vxid is None or vxid == current.vxid:
                current.add(index, statement)
                return current
            current.end = "open"  # another transaction began: its end was not in the trace
        elif current is not None and vxid is not None and vxid == current.vxid:
            current.add(index, statement)  # the same transaction, whose BEGIN the trace lacks
            return current
        else:
            self._close(current)
        placed = self._new(statement.session_id, False)
        placed.add(index, statement)
        return placed

    @staticmethod
    def _close(current: Transaction | None) -> None:
        if current is not None and not current.explicit and current.end == "open":
            data = len(current.members)
            current.end = "autocommit" if data == 1 else "open"

    def same(self, first: int, second: int) -> bool:
        """Whether statements *first* and *second* ran in one transaction."""
        one, other = self.of.get(first), self.of.get(second)
        return one is not None and one is other

    def fate(self, index: int) -> str:
        """committed, rolled back, failed (the statement itself), undone (ROLLBACK TO) or unknown."""
        transaction = self.of.get(index)
        if transaction is None:
            return "unknown"
        if index in transaction.undone:
            return "undone"
        return transaction.outcome

    def setting(self, index: int, name: str) -> tuple[bool, str | None]:
        """Whether setting *name* was set when statement *index* ran, and to what (``SET``, ``set_config``).

        >>> from probity.sql import statement_facts
        >>> texts = ["BEGIN", "SELECT set_config('app.user', $1, true)", "SELECT 1", "COMMIT", "SELECT 2"]
        >>> statements = [Statement(t, ("7",) if "$1" in t else (), "s1") for t in texts]
        >>> transactions = Transactions.read([(s, statement_facts(s.text)) for s in statements])
        >>> transactions.setting(2, "app.user"), transactions.setting(4, "app.user")
        ((True, '7'), (False, None))
        """
        transaction = self.of.get(index)
        settings = transaction.settings.get(index, {}) if transaction else {}
        return (True, settings[name]) if name in settings else (False, None)

    def describe(self, index: int, statements: Sequence[Statement]) -> dict[str, Any]:
        """Statement *index*'s transaction, as evidence."""
        transaction = self.of.get(index)
        if transaction is None:
            return {}
        return {
            "session": transaction.session,
            "vxid": transaction.vxid,
            "explicit": transaction.explicit,
            "end": transaction.end,
            "outcome": transaction.outcome,
            "log_lines": [statements[i].log_line for i in transaction.members],
        }


_CONTROL_WORDS = {
    "BEGIN": "begin",
    "START": "begin",
    "COMMIT": "commit",
    "END": "commit",
    "ROLLBACK": "rollback",
    "ABORT": "rollback",
    "SAVEPOINT": "savepoint",
    "RELEASE": "release",
}


_ENDS = ("commit", "rollback", "commit chain", "rollback chain")


def control(facts: StatementFacts) -> tuple[str | None, str]:
    """What a transaction-control statement does, from its normalized shape, and the savepoint it names.

    >>> from probity.sql import statement_facts
    >>> [control(statement_facts(t)) for t in ("begin", "END", "ROLLBACK TO SAVEPOINT a", "COMMIT AND CHAIN")]
    [('begin', ''), ('commit', ''), ('rollback to', 'a'), ('commit chain', '')]
    """
    if facts.kind is not Kind.TRANSACTION or facts.statements != 1:
        return None, ""
    words = facts.shape.upper().replace(";", " ").split()
    kind = _CONTROL_WORDS.get(words[0] if words else "")
    name = words[-1].strip('"').lower() if len(words) > 1 else ""
    if kind in ("commit", "rollback") and "PREPARED" in words[1:2]:
        return None, ""  # two-phase commit of another transaction
    if kind == "rollback" and "TO" in words[1:2]:
        return "rollback to", name
    if kind in ("commit", "rollback") and words[-2:] == ["AND", "CHAIN"] and "NO" not in words:
        return f"{kind} chain", ""
    return kind, name if kind in ("savepoint", "release") else ""


def _vxid(statement: Statement) -> str | None:
    vxid = statement.vxid
    return vxid if vxid and not vxid.endswith("/0") else None
