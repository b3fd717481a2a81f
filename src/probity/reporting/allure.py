"""Allure results: every check on every operation as an Allure test case, filed under the controls it bears on.

``run_dir/allure-results`` holds one test case per (check, operation), in allure-python-commons' model and
JSON format, plus ``environment.properties``, ``categories.json`` and ``executor.json``. The Allure command
line (:mod:`probity.reporting.html`) turns the folder into the HTML report.

A case's status is its worst result's:

- ``failed``: a FAIL no active waiver accepts. The API broke a rule, which is what Allure's "failed" (an
  assertion about the product did not hold) means; "broken" is kept for the next case;
- ``broken``: INCONCLUSIVE. The check could not observe what it needs: like a test that could not reach its
  verdict, it is never counted as passed;
- ``skipped``: a waived failure (the message says who waived it, until when), or only N/A results;
- ``passed``.

A control of a shipped framework that no result bears on gets one ``unknown`` case, so it never looks passed.

Labels: ``feature`` is the control (one per control, so a case shows under each), ``story`` the operation;
``parentSuite``/``suite``/``subSuite`` are category, check and operation; ``tag`` the category; ``severity``
the worst result's. ``historyId`` (and ``testCaseId``) hashes target, check and operation, so Allure draws
trends across runs. Each failing or inconclusive result is a step with its evidence (JSON), the SQL it points
at and the HTTP exchange attached; a passing one is a step without attachments.

Redaction: the engine redacts evidence when it is made. This module makes a second pass over everything it
writes (:class:`EvidenceRedactor`): the seeded secrets of the policy the run used (its path is in the run's
provenance), credential headers and bearer tokens in any text, and PHI fields inside body excerpts.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from allure_commons.model2 import (
    Attachment,
    Label,
    Link,
    Parameter,
    Status,
    StatusDetails,
    TestResult,
    TestStepResult,
)
from allure_commons.types import AttachmentType
from attr import asdict

from probity.core.compliance import frameworks
from probity.core.findings import Category, Outcome, Result, Severity
from probity.core.policy import Policy, load_policy
from probity.core.redact import MASK, Redactor
from probity.reporting.findings_json import RunRecord

__all__ = ["CATEGORY_TITLES", "FOLDER", "EvidenceRedactor", "history_id", "redactor_for", "write_allure_results"]

FOLDER = "allure-results"

_SEVERITIES = {
    Severity.CRITICAL: "blocker",
    Severity.HIGH: "critical",
    Severity.MEDIUM: "normal",
    Severity.LOW: "minor",
    Severity.INFO: "trivial",
}
# The Allure categories of failures: one per kind of problem; the status message starts with "[category]".
CATEGORY_TITLES = {
    Category.TENANCY: "Tenancy leak",
    Category.AUDIT: "Missing or broken audit trail",
    Category.SECRETS: "Secret exposure",
    Category.PAGINATION: "Unbounded pagination",
    Category.INJECTION: "SQL built from input",
    Category.N_PLUS_ONE: "N+1 queries",
    Category.CONTRACT: "Contract drift",
    Category.ROBUSTNESS: "Robustness (server error)",
    Category.AUTHN: "Broken authentication or authorization",
    Category.REVIEW: "Design review",
}
_NAMESPACE = uuid.UUID("6f1c55a8-1f38-4f43-9f0b-4b1f5e0d9a11")  # file names derive from it: reproducible
_EXCERPT = 2000  # characters of a response body in the exchange attachment; findings.json holds the rest


class EvidenceRedactor(Redactor):
    """A :class:`Redactor` for free text: it also masks credential header values, bearer tokens and JWTs,
    and the values of PHI fields in JSON text (whole or cut off).

    Keys of evidence are Probity's own words ("body", "sql"), not the API's fields, so unlike the engine's
    redactor it does not mask values by key: it masks PHI fields inside the bodies it finds.

    >>> r = EvidenceRedactor(headers={"authorization"}, fields={"notes"}, secrets=["tok_123456"])
    >>> print(r.text("curl -H 'Authorization: Bearer abc.def' -H 'Accept: */*'"))
    curl -H 'Authorization: ***' -H 'Accept: */*'
    >>> print(r.text('{"notes": "flu", "id": 7, "card": "tok_123456", "reason": "cut off'))
    {"notes": "***", "id": 7, "card": "***", "reason": "cut off
    """

    def __init__(self, headers: Iterable[str] = (), fields: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        super().__init__(headers, (), secrets)
        self.phi_fields = set(fields)
        self._patterns = _credential_patterns(self.headers_, self.phi_fields)

    def text(self, text: str) -> str:
        text = super().text(text)
        for pattern, replacement in self._patterns:
            text = pattern.sub(replacement, text)
        return text


def _credential_patterns(headers: set[str], fields: set[str]) -> list[tuple[re.Pattern[str], str]]:
    patterns = [
        # A bearer credential: a token has a digit or punctuation, so prose ("a bearer token") stays.
        (re.compile(r"(?i)\b(bearer\s+)(?=[\w.~+/=-]*[\d.~+/=-])[\w.~+/=-]{8,}"), rf"\g<1>{MASK}"),
        (re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), MASK),  # a JWT anywhere
    ]
    if headers:
        names = "|".join(re.escape(name) for name in sorted(headers))
        patterns.insert(0, (re.compile(rf"(?i)\b({names})(\s*:\s*)[^'\"\r\n]+"), rf"\g<1>\g<2>{MASK}"))
    if fields:
        names = "|".join(re.escape(name) for name in sorted(fields))
        patterns.append((re.compile(rf'"({names})"(\s*:\s*)"(?:[^"\\]|\\.)*"?'), rf'"\g<1>"\g<2>"{MASK}"'))
    return patterns


def redactor_for(record: RunRecord) -> EvidenceRedactor:
    """The redactor of the policy *record*'s run used (credential headers only if its file is gone)."""
    documents = (record.metadata.get("provenance") or {}).get("documents") or {}
    path = (documents.get("policy") or {}).get("path")
    if path and Path(path).is_file():
        policy = load_policy(Path(path))
        return EvidenceRedactor(policy.redact_headers, policy.phi.fields, policy.canary_values())
    return EvidenceRedactor(Policy.model_fields["redact_headers"].default)


def history_id(target: str, check: str, operation: str) -> str:
    """The identity of a test case across runs: the same check on the same operation of the same target."""
    return hashlib.sha256(f"{target}|{check}|{operation}".encode()).hexdigest()[:32]


def write_allure_results(record: RunRecord, run_dir: Path) -> Path:
    """Write ``run_dir/allure-results`` for *record* (replacing an earlier one); return the folder."""
    folder = run_dir / FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    writer = _Writer(folder, record, redactor_for(record))
    for (check, operation), results in _cases(record).items():
        writer.write(writer.case(check, operation, results))
    for control in _unobserved_controls(record):
        writer.write(writer.unobserved(control))
    _write_text(folder / "environment.properties", _properties(_environment(record)))
    _write_json(folder / "categories.json", _categories())
    _write_json(folder / "executor.json", _executor(record))
    return folder


def _cases(record: RunRecord) -> dict[tuple[str, str], list[Result]]:
    order = {operation: index for index, operation in enumerate(record.operations)}
    grouped: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for result in sorted(record.results, key=lambda r: (r.check, order.get(r.operation, len(order)), r.operation)):
        grouped[(result.check, result.operation)].append(result)
    return grouped


def _controls() -> dict[str, str]:
    """Every shipped control's label -> its label and title, e.g. "HIPAA 164.312(b) Audit controls"."""
    return {
        framework.label(control): f"{framework.label(control)} {control.title}"
        for framework in frameworks()
        for control in framework.controls
    }


def _unobserved_controls(record: RunRecord) -> list[str]:
    seen = {label for result in record.results for label in result.controls}
    return [label for label in _controls() if label not in seen]


class _Writer:
    """Builds the test cases of one run and writes them, with their attachments, into the results folder."""

    def __init__(self, folder: Path, record: RunRecord, redactor: EvidenceRedactor) -> None:
        self.folder = folder
        self.record = record
        self.redactor = redactor
        self.target = str(record.metadata.get("target", ""))
        self.run_id = str(record.metadata.get("id", ""))
        self.start, self.stop = _millis(record.metadata.get("started")), _millis(record.metadata.get("finished"))
        self.titles = _controls()

    def case(self, check: str, operation: str, results: list[Result]) -> TestResult:
        case_id = history_id(self.target, check, operation)
        status, worst = _status(results)
        test = TestResult(
            uuid=str(uuid.uuid5(_NAMESPACE, f"{self.run_id}|{case_id}")),
            historyId=case_id,
            testCaseId=case_id,
            name=f"{check} · {operation}",
            fullName=f"{self.target}: {check} on {operation}",
            status=status,
            statusDetails=self._details(status, worst, results),
            stage="finished",
            description=self.redactor.text(_description(check, operation, results, self.titles)),
            labels=self._labels(check, operation, results, worst),
            links=self._links(operation),
            parameters=[Parameter(name="target", value=self.target)],
            start=self.start,
            stop=self.stop,
        )
        test.steps = [self._step(test.uuid, index, result) for index, result in enumerate(results)]
        return test

    def unobserved(self, control: str) -> TestResult:
        case_id = history_id(self.target, "control", control)
        message = f"[unobserved] no check bearing on {control} produced a result in this run"
        return TestResult(
            uuid=str(uuid.uuid5(_NAMESPACE, f"{self.run_id}|{case_id}")),
            historyId=case_id,
            testCaseId=case_id,
            name=f"{self.titles[control]} · no result",
            fullName=f"{self.target}: {control} (no result)",
            status=Status.UNKNOWN,
            statusDetails=StatusDetails(message=message),
            stage="finished",
            labels=[Label("feature", self.titles[control]), Label("parentSuite", "controls without results")],
            start=self.start,
            stop=self.stop,
        )

    def write(self, test: TestResult) -> None:
        _write_json(self.folder / f"{test.uuid}-result.json", asdict(test, filter=lambda _, v: v or v is False))

    def _details(self, status: str, worst: Result, results: list[Result]) -> StatusDetails | None:
        if status == Status.PASSED:
            return None
        lines = [_summary(r) for r in results if r.outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE)]
        return StatusDetails(message=self.redactor.text(_summary(worst)), trace=self.redactor.text("\n".join(lines)))

    def _labels(self, check: str, operation: str, results: list[Result], worst: Result) -> list[Label]:
        controls = dict.fromkeys(label for result in results for label in result.controls)
        labels = [
            Label("parentSuite", str(worst.category)),
            Label("suite", check),
            Label("subSuite", operation),
            Label("story", operation),
            Label("severity", _SEVERITIES[worst.severity]),
            Label("tag", str(worst.category)),
            Label("probe", check),
            Label("operation", operation),
            Label("framework", "probity"),
        ]
        labels += [Label("feature", self.titles.get(label, label)) for label in controls]
        return labels + [Label("control", label) for label in controls]

    def _links(self, operation: str) -> list[Link]:
        documents = (self.record.metadata.get("provenance") or {}).get("documents") or {}
        contract = (documents.get("contract") or {}).get("path")
        if not contract or " " not in operation:
            return []
        method, path = operation.split(" ", 1)
        pointer = "/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method.lower()
        return [Link(type="link", url=f"{Path(contract).as_uri()}#{pointer}", name=f"contract: {operation}")]

    def _step(self, case_uuid: str, index: int, result: Result) -> TestStepResult:
        status, _ = _status([result])
        step = TestStepResult(
            name=self.redactor.text(f"{result.rule} [{result.outcome}] {result.message}".strip()),
            status=status,
            stage="finished",
            start=self.start,
            stop=self.stop,
        )
        if result.outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE):
            step.statusDetails = StatusDetails(message=self.redactor.text(_summary(result)))
            step.attachments = list(self._attachments(f"{case_uuid}-{index}", result))
        return step

    def _attachments(self, prefix: str, result: Result) -> Iterator[Attachment]:
        evidence = self.redactor.json(result.evidence)
        record = {"key": result.key, "rule": result.rule, "severity": str(result.severity), "evidence": evidence}
        yield self._attach(prefix, "evidence", json.dumps(record, indent=2, ensure_ascii=False), AttachmentType.JSON)
        sql = _sql_trace(evidence)
        if sql:
            yield self._attach(prefix, "SQL trace", sql, AttachmentType.TEXT)
        exchange = _http_exchange(evidence)
        if exchange:
            yield self._attach(prefix, "HTTP exchange", exchange, AttachmentType.TEXT)

    def _attach(self, prefix: str, name: str, body: str, kind: AttachmentType) -> Attachment:
        source = f"{uuid.uuid5(_NAMESPACE, f'{prefix}|{name}')}-attachment.{kind.extension}"
        _write_text(self.folder / source, self.redactor.text(body))
        return Attachment(name=name, source=source, type=kind.mime_type)


# A case's status is its most telling result's: a real failure first, then "could not observe", then a
# waiver, then a pass; N/A only when nothing else applies.
_STATUS_ORDER = (Status.FAILED, Status.BROKEN, Status.SKIPPED, Status.PASSED)


def _status(results: list[Result]) -> tuple[str, Result]:
    """The case's Allure status and the result that decides it (the most severe of that status)."""
    by_status = [(_status_of(r), r) for r in results]
    for status in _STATUS_ORDER:
        deciding = [r for s, r in by_status if s == status and (status != Status.SKIPPED or r.waived)]
        if deciding:
            return status, max(deciding, key=lambda r: r.severity.rank)
    return Status.SKIPPED, max(results, key=lambda r: r.severity.rank)  # only N/A


def _status_of(result: Result) -> str:
    if result.outcome is Outcome.FAIL:
        return Status.SKIPPED if result.waived else Status.FAILED
    if result.outcome is Outcome.INCONCLUSIVE:
        return Status.BROKEN
    return Status.PASSED if result.outcome is Outcome.PASS else Status.SKIPPED


def _summary(result: Result) -> str:
    """One line a category can match: "[tenancy] tenancy_filter.unscoped_read: <message>"."""
    if result.waived and result.waiver is not None:
        waiver = result.waiver
        return f"[waived] {result.rule}: waived until {waiver.get('expires')} by {waiver.get('owner')}"
    kind = "inconclusive" if result.outcome is Outcome.INCONCLUSIVE else str(result.category)
    return f"[{kind}] {result.rule}: {result.message}".replace("\n", " ")


def _description(check: str, operation: str, results: list[Result], titles: dict[str, str]) -> str:
    lines = [f"**{check}** on `{operation}`", ""]
    for result in results:
        lines.append(f"- **{result.outcome}** `{result.rule}` ({result.severity}): {result.message or '-'}")
        lines.append(f"  key `{result.key}`")
    controls = dict.fromkeys(label for result in results for label in result.controls)
    lines += ["", "Controls: " + (", ".join(titles.get(label, label) for label in controls) or "none")]
    return "\n".join(lines)


def _statements(value: Any, where: str = "evidence") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every SQL statement in evidence: a mapping with a ``sql`` text, wherever it sits, with its path."""
    if isinstance(value, dict):
        if isinstance(value.get("sql"), str):
            yield where, value
        for key, item in value.items():
            if key != "sql":
                yield from _statements(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _statements(item, f"{where}[{index}]")


def _sql_trace(evidence: dict[str, Any]) -> str:
    blocks = []
    for where, statement in _statements(evidence):
        origin = ", ".join(f"{k} {statement[k]}" for k in ("log_line", "session") if statement.get(k) is not None)
        block = [f"-- {where}" + (f" ({origin})" if origin else ""), statement["sql"].rstrip(";") + ";"]
        if statement.get("params"):
            block.append(f"-- params: {json.dumps(statement['params'], ensure_ascii=False)}")
        blocks.append("\n".join(block))
    if isinstance(evidence.get("shape"), str):
        blocks.append(f"-- the repeated statement shape\n{evidence['shape']};")
    return "\n\n".join(blocks)


def _http_exchange(evidence: dict[str, Any]) -> str:
    """The request and response the evidence names, and how to reproduce it, as text."""
    nested = evidence.get("exchange")
    exchange: dict[str, Any] = nested if isinstance(nested, dict) else evidence
    lines: list[str] = []
    request = exchange.get("request")
    if isinstance(request, dict):
        lines.append(f"> {request.get('method', '')} {request.get('url', '')}".rstrip())
    elif exchange.get("method") and exchange.get("path"):
        lines.append(f"> {exchange['method']} {exchange['path']}")
    if exchange.get("status") is not None:
        lines.append(f"< {exchange['status']}")
    body = exchange.get("body", exchange.get("response"))
    if isinstance(body, str) and body:
        lines += ["", body[:_EXCERPT]]
    if isinstance(evidence.get("detail"), str) and evidence["detail"]:
        lines += ["", evidence["detail"]]
    reproduce = evidence.get("reproduce")
    if isinstance(reproduce, list) and reproduce:
        lines += ["", "# reproduce", *map(str, reproduce)]
    return "\n".join(lines).strip()


def _environment(record: RunRecord) -> dict[str, str]:
    meta = record.metadata
    provenance = meta.get("provenance") or {}
    dependencies = provenance.get("dependencies") or {}
    documents = provenance.get("documents") or {}
    git = provenance.get("git") or {}
    values: dict[str, Any] = {
        "target": meta.get("target"),
        "api_root": meta.get("api_root"),
        "run": meta.get("id"),
        "seed": meta.get("seed"),
        "read_only": meta.get("read_only"),
        "started": meta.get("started"),
        "exit_code": meta.get("exit_code"),
        "python": provenance.get("python"),
        **{name: dependencies.get(name) for name in ("probity", "schemathesis", "hypothesis", "sqlglot")},
        **{f"{name}.sha256": (documents.get(name) or {}).get("sha256") for name in ("contract", "policy")},
        "principals.sha256": (documents.get("principals") or {}).get("sha256"),
        "git.commit": f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}" if git else None,
    }
    return {key: str(value) for key, value in values.items() if value is not None}


def _properties(values: dict[str, str]) -> str:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")

    return "".join(f"{escape(key)}={escape(value)}\n" for key, value in values.items())


def _categories() -> list[dict[str, Any]]:
    """Allure categories of known failure kinds, matched on the "[kind]" that starts each status message."""
    kinds = [
        {"name": title, "matchedStatuses": [Status.FAILED], "messageRegex": rf".*\[{category}\].*"}
        for category, title in CATEGORY_TITLES.items()
    ]
    return [
        *kinds,
        {"name": "Could not observe (inconclusive)", "matchedStatuses": [Status.BROKEN]},
        {"name": "Control without results", "matchedStatuses": [Status.UNKNOWN]},
        {"name": "Waived findings", "matchedStatuses": [Status.SKIPPED], "messageRegex": r".*\[waived\].*"},
    ]


def _executor(record: RunRecord) -> dict[str, Any]:
    run_id = str(record.metadata.get("id", ""))
    target = record.metadata.get("target", "")
    return {"name": "Probity", "type": "probity", "buildName": run_id, "reportName": f"Probity: {target} {run_id}"}


def _millis(timestamp: Any) -> int | None:
    try:
        return int(datetime.fromisoformat(str(timestamp)).timestamp() * 1000)
    except ValueError:
        return None


def _write_json(path: Path, value: Any) -> None:
    # Compact: Allure reads these, people read the report. Indenting switches json to its pure-Python encoder,
    # which was half of writing a 1,000-operation run's 17,000 result files.
    _write_text(path, json.dumps(value, ensure_ascii=False))


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
