"""What ``probity contract diff`` finds: typed differences between a contract and a backend, and their report.

Every :class:`Difference` has a :class:`Kind` and a :class:`Severity`. Errors fail the command (exit code 1);
warnings and notes (``info``) are reported only. How severe a schema difference is depends on which way it
goes (:class:`Direction`) and where it is (:func:`severity_of`): a backend that accepts *less* than the
contract documents breaks clients' requests, and one that may answer *more* than documented (an extra
enum value, a ``null``, a missing required property) breaks clients' reading of responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "DiffReport",
    "Difference",
    "Direction",
    "Implemented",
    "Kind",
    "OperationResult",
    "Severity",
    "severity_of",
]


class Severity(StrEnum):
    """How much a difference matters: ``error`` fails the command."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Direction(StrEnum):
    """Which way the live side differs from the contract: it allows more, less, or something else."""

    WIDER = "wider"
    NARROWER = "narrower"
    CHANGED = "changed"


class Kind(StrEnum):
    """What differs."""

    # Operations
    OPERATION_MISSING = "operation-missing"
    OPERATION_UNDOCUMENTED = "operation-undocumented"
    OPERATION_UNVERIFIED = "operation-unverified"
    PATH_PARAMETER_RENAMED = "path-parameter-renamed"
    BASE_PATH = "base-path"
    SECURITY = "security"
    # Parameters, bodies, responses
    PARAMETER_MISSING = "parameter-missing"
    PARAMETER_UNDOCUMENTED = "parameter-undocumented"
    PARAMETER_REQUIRED = "parameter-required"
    REQUEST_BODY_MISSING = "request-body-missing"
    REQUEST_BODY_UNDOCUMENTED = "request-body-undocumented"
    REQUEST_BODY_REQUIRED = "request-body-required"
    MEDIA_TYPE_MISSING = "media-type-missing"
    MEDIA_TYPE_UNDOCUMENTED = "media-type-undocumented"
    STATUS_MISSING = "status-missing"
    STATUS_UNDOCUMENTED = "status-undocumented"
    # Schemas
    TYPE = "type"
    FORMAT = "format"
    ENUM = "enum"
    NULLABLE = "nullable"
    REQUIRED = "required"
    PROPERTY_MISSING = "property-missing"
    PROPERTY_UNDOCUMENTED = "property-undocumented"
    CONSTRAINT = "constraint"
    DEFAULT = "default"
    ADDITIONAL_PROPERTIES = "additional-properties"
    COMPOSITION = "composition"


class Implemented(StrEnum):
    """Whether an operation is implemented: certain from a live OpenAPI document, *likely* from probing."""

    YES = "yes"
    NO = "no"
    LIKELY = "likely"
    LIKELY_NOT = "likely not"
    UNKNOWN = "unknown"
    NOT_PROBED = "not probed"


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

# kind -> (request: wider, narrower, changed), (response: wider, narrower, changed)
_BY_DIRECTION: dict[Kind, tuple[tuple[Severity, Severity, Severity], tuple[Severity, Severity, Severity]]] = {
    Kind.TYPE: ((_W, _E, _E), (_E, _W, _E)),
    Kind.NULLABLE: ((_I, _E, _E), (_E, _I, _E)),
    Kind.ENUM: ((_W, _E, _E), (_E, _W, _E)),
    Kind.FORMAT: ((_W, _W, _E), (_W, _W, _E)),
    Kind.CONSTRAINT: ((_W, _E, _E), (_W, _I, _W)),
    Kind.REQUIRED: ((_W, _E, _E), (_E, _I, _E)),
    Kind.PARAMETER_REQUIRED: ((_W, _E, _E), (_W, _E, _E)),
    Kind.REQUEST_BODY_REQUIRED: ((_W, _E, _E), (_W, _E, _E)),
    Kind.ADDITIONAL_PROPERTIES: ((_W, _E, _E), (_W, _I, _W)),
    Kind.DEFAULT: ((_I, _I, _I), (_I, _I, _I)),
    Kind.COMPOSITION: ((_W, _W, _W), (_W, _W, _W)),
}
_INDEX = {Direction.WIDER: 0, Direction.NARROWER: 1, Direction.CHANGED: 2}


def severity_of(kind: Kind, direction: Direction, *, request: bool) -> Severity:
    """The severity of a *kind* of difference going in *direction*, in a request (or a response).

    >>> severity_of(Kind.NULLABLE, Direction.WIDER, request=False)  # the backend may answer null
    <Severity.ERROR: 'error'>
    >>> severity_of(Kind.NULLABLE, Direction.WIDER, request=True)  # the backend also accepts null
    <Severity.INFO: 'info'>
    """
    by_side = _BY_DIRECTION.get(kind)
    if by_side is None:
        return Severity.WARNING
    return by_side[0 if request else 1][_INDEX[direction]]


@dataclass(frozen=True)
class Difference:
    """One way the backend differs from its contract, at *location* within *operation*."""

    operation: str
    kind: Kind
    location: str
    severity: Severity
    contract: Any
    live: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "kind": str(self.kind),
            "location": self.location,
            "severity": str(self.severity),
            "contract": self.contract,
            "live": self.live,
            "message": self.message,
        }

    def line(self) -> str:
        """The difference in one line, for people: ``[error] responses.200…: message``."""
        where = f"{self.location}: " if self.location else ""
        return f"[{self.severity}] {where}{self.message}"


@dataclass(frozen=True)
class OperationResult:
    """One operation, documented or found, and how it compares."""

    operation: str
    documented: bool
    implemented: Implemented
    differences: tuple[Difference, ...] = ()
    evidence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "documented": self.documented,
            "implemented": str(self.implemented),
            "evidence": self.evidence,
            "differences": [difference.to_dict() for difference in self.differences],
        }


@dataclass(frozen=True)
class DiffReport:
    """All operations of a contract and a backend, compared; the command's exit code follows from it.

    *shared* holds the differences that belong to no one operation: the base path, and the named schemas
    that operations share (each labelled ``schema NAME`` in its ``operation`` field), reported once.
    """

    contract: str
    live: str
    mode: Literal["openapi", "probe"]
    operations: tuple[OperationResult, ...]
    shared: tuple[Difference, ...] = ()

    @property
    def differences(self) -> tuple[Difference, ...]:
        return (*self.shared, *(item for result in self.operations for item in result.differences))

    def shared_groups(self) -> dict[str, tuple[Difference, ...]]:
        """The shared differences by their label, in the order first found."""
        groups: dict[str, list[Difference]] = {}
        for difference in self.shared:
            groups.setdefault(difference.operation, []).append(difference)
        return {label: tuple(found) for label, found in groups.items()}

    def count(self, severity: Severity) -> int:
        return sum(1 for difference in self.differences if difference.severity is severity)

    @property
    def exit_code(self) -> int:
        """1 when any difference is an error, else 0."""
        return 1 if self.count(Severity.ERROR) else 0

    def summary(self) -> str:
        """One line: how many operations are documented, implemented, missing, and the differences by severity.

        >>> result = OperationResult("GET /a", documented=True, implemented=Implemented.NO)
        >>> DiffReport("api.yaml", "http://x/openapi.json", "openapi", (result,)).summary()
        '1 documented, 0 implemented, 1 missing, 0 undocumented; 0 errors, 0 warnings, 0 notes'
        """
        documented = sum(1 for result in self.operations if result.documented)
        found = (Implemented.YES, Implemented.LIKELY)
        implemented = sum(1 for result in self.operations if result.implemented in found)
        missing = sum(1 for result in self.operations if result.implemented in (Implemented.NO, Implemented.LIKELY_NOT))
        undocumented = sum(1 for result in self.operations if not result.documented)
        unverified = sum(1 for result in self.operations if result.implemented in _UNVERIFIED)
        counts = f"{documented} documented, {implemented} implemented, {missing} missing, {undocumented} undocumented"
        if self.mode == "probe":
            counts += f", {unverified} unverified (probed: results are likely, not certain)"
        severities = ", ".join(
            _plural(self.count(severity), name)
            for severity, name in ((Severity.ERROR, "error"), (Severity.WARNING, "warning"), (Severity.INFO, "note"))
        )
        return f"{counts}; {severities}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "live": self.live,
            "mode": self.mode,
            "summary": self.summary(),
            "counts": {str(severity): self.count(severity) for severity in Severity},
            "exit_code": self.exit_code,
            "shared": [difference.to_dict() for difference in self.shared],
            "operations": [result.to_dict() for result in self.operations],
        }


_UNVERIFIED = (Implemented.UNKNOWN, Implemented.NOT_PROBED)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
