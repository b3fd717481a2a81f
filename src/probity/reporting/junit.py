"""``junit.xml``: a run as JUnit XML, for the test reports of CI systems (GitHub, GitLab, Jenkins).

One ``testsuite`` per check, one ``testcase`` per (check, operation): classname the check, name the operation.
Its results decide its state, worst first:

- a failure no active waiver accepts: ``failure`` (message and type of the worst one, its rule; the text lists
  every failing result with severity, controls, key and its evidence, which is redacted before it gets here);
- INCONCLUSIVE: never shown as passed. ``error`` when the run has more than the gate allows (so the CI's test
  report is red exactly when the gate is), otherwise ``skipped`` with the message ``inconclusive: …``;
- a waived failure: ``skipped``, "waived until DATE by OWNER: justification";
- only N/A: ``skipped``; otherwise it passed.

The XML is built with ``xml.etree``; characters XML 1.0 cannot carry (fuzzed bytes in evidence) are replaced.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from probity.core.findings import Outcome, Result
from probity.reporting.findings_json import RunRecord
from probity.reporting.gate import verdict_of

__all__ = ["FILENAME", "write_junit"]

FILENAME = "junit.xml"
_EVIDENCE_CHARS = 4000  # enough to see what happened; findings.json holds it whole
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_COUNTED = {"failures": "failure", "errors": "error", "skipped": "skipped"}  # attribute -> element


def write_junit(record: RunRecord, run_dir: Path) -> Path:
    """Write ``run_dir/junit.xml`` for *record*; return its path."""
    root = junit_tree(record)
    ET.indent(root)
    path = run_dir / FILENAME
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def junit_tree(record: RunRecord) -> ET.Element:
    """The ``testsuites`` element of *record*."""
    error_when_inconclusive = verdict_of(record).too_many_inconclusive
    root = ET.Element("testsuites", name="probity", time=_duration(record))
    for check, cases in _cases(record).items():
        suite = _suite(root, check, record)
        for operation, results in cases.items():
            _testcase(suite, check, operation, results, error_when_inconclusive)
        _count(suite, suite.findall("testcase"))
    _count(root, root.findall("testsuite/testcase"))
    return root


def _cases(record: RunRecord) -> dict[str, dict[str, list[Result]]]:
    """check -> operation -> its results; checks by name, operations in contract order."""
    order = {operation: index for index, operation in enumerate(record.operations)}
    grouped: dict[str, dict[str, list[Result]]] = defaultdict(lambda: defaultdict(list))
    for result in sorted(record.results, key=lambda r: (r.check, order.get(r.operation, len(order)), r.operation)):
        grouped[result.check][result.operation].append(result)
    return grouped


def _suite(root: ET.Element, check: str, record: RunRecord) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", name=_text(check), time="0")
    if record.metadata.get("started"):
        suite.set("timestamp", str(record.metadata["started"]))
    properties = ET.SubElement(suite, "properties")
    for name in ("id", "target", "seed"):
        ET.SubElement(properties, "property", name=f"probity.{name}", value=_text(str(record.metadata.get(name))))
    return suite


def _testcase(
    suite: ET.Element, check: str, operation: str, results: list[Result], error_when_inconclusive: bool
) -> None:
    case = ET.SubElement(suite, "testcase", classname=_text(check), name=_text(operation), time="0")
    failing = sorted((r for r in results if r.failed and not r.waived), key=lambda r: -r.severity.rank)
    inconclusive = [r for r in results if r.outcome is Outcome.INCONCLUSIVE]
    waived = [r for r in results if r.waived]
    if failing:
        failure = ET.SubElement(case, "failure", message=_text(failing[0].message), type=_text(failing[0].rule))
        failure.text = _text("\n\n".join(_describe(r) for r in failing))
    elif inconclusive:
        message = _text(f"inconclusive: {inconclusive[0].message}")
        if error_when_inconclusive:
            ET.SubElement(case, "error", message=message, type="inconclusive")
        else:
            ET.SubElement(case, "skipped", message=message)
    elif waived:
        ET.SubElement(case, "skipped", message=_text(_waived(waived[0])))
    elif all(r.outcome is Outcome.NOT_APPLICABLE for r in results):
        ET.SubElement(case, "skipped", message=_text(f"n/a: {results[0].message}"))


def _describe(result: Result) -> str:
    evidence = json.dumps(result.evidence, ensure_ascii=False, sort_keys=True, default=str)
    if len(evidence) > _EVIDENCE_CHARS:
        evidence = evidence[:_EVIDENCE_CHARS] + " … (whole in findings.json)"
    lines = [
        f"[{result.severity}] {result.rule}: {result.message}",
        f"controls: {', '.join(result.controls) or '-'}",
        f"key: {result.key}",
    ]
    if result.waiver is not None:
        lines.append(f"waiver of {result.waiver['owner']} expired on {result.waiver['expires']}")
    return "\n".join([*lines, f"evidence: {evidence}"])


def _waived(result: Result) -> str:
    waiver = result.waiver or {}
    return f"waived until {waiver.get('expires')} by {waiver.get('owner')}: {waiver.get('justification')}"


def _count(element: ET.Element, cases: list[ET.Element]) -> None:
    element.set("tests", str(len(cases)))
    for attribute, tag in _COUNTED.items():
        element.set(attribute, str(sum(1 for case in cases if case.find(tag) is not None)))


def _duration(record: RunRecord) -> str:
    try:
        started = datetime.fromisoformat(str(record.metadata["started"]))
        finished = datetime.fromisoformat(str(record.metadata["finished"]))
    except (KeyError, ValueError):
        return "0"
    return f"{max((finished - started).total_seconds(), 0.0):.3f}"


def _text(value: str) -> str:
    """*value* with the characters XML 1.0 cannot hold replaced."""
    return _NOT_XML.sub("\ufffd", value)
