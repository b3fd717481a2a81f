"""junit.xml read back: one testsuite per check, one testcase per (check, operation), counts that add up."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from probity.core.findings import Category, Outcome, Result, Severity
from probity.reporting.findings_json import RunRecord
from probity.reporting.gate import gate, with_verdict
from probity.reporting.junit import write_junit

# The shape of the common JUnit schema (Ant / Jenkins junit-10.xsd): allowed attributes and children.
SHAPE = {
    "testsuites": ({"name", "tests", "failures", "errors", "skipped", "time", "disabled"}, {"testsuite"}),
    "testsuite": (
        {"name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname", "id", "package"},
        {"properties", "testcase", "system-out", "system-err"},
    ),
    "properties": (set(), {"property"}),
    "property": ({"name", "value"}, set()),
    "testcase": ({"name", "classname", "time", "assertions", "status"}, {"failure", "error", "skipped", "system-out"}),
    "failure": ({"message", "type"}, set()),
    "error": ({"message", "type"}, set()),
    "skipped": ({"message"}, set()),
}
COUNTED = {"tests": None, "failures": "failure", "errors": "error", "skipped": "skipped"}
WAIVER = {"owner": "ana@example.org", "justification": "fix in 2.4", "expires": "2026-12-31", "status": "active"}


def _result(check: str, operation: str, outcome: Outcome, **kw: object) -> Result:
    return Result(check, f"{check}.rule", Category.TENANCY, outcome, operation, **kw)  # type: ignore[arg-type]


def _record(*results: Result, max_inconclusive: str = "0") -> RunRecord:
    metadata = {
        "id": "run-1",
        "target": "t",
        "seed": 7,
        "started": "2026-11-24T09:00:00+00:00",
        "finished": "2026-11-24T09:01:30+00:00",
        "operations": ["GET /b", "GET /a"],
    }
    record = RunRecord(metadata, results)
    return with_verdict(record, gate(record, max_inconclusive))


def _written(record: RunRecord, tmp_path: Path) -> ET.Element:
    path = write_junit(record, tmp_path)
    assert path == tmp_path / "junit.xml"
    root = ET.parse(path).getroot()
    _assert_shape(root)
    return root


def _assert_shape(element: ET.Element) -> None:
    attributes, children = SHAPE[element.tag]
    assert set(element.attrib) <= attributes, element.tag
    assert {child.tag for child in element} <= children, element.tag
    if element.tag == "testcase":
        assert {"name", "classname", "time"} <= set(element.attrib)
        assert len([c for c in element if c.tag in ("failure", "error", "skipped")]) <= 1
    if element.tag in ("testsuites", "testsuite"):
        float(element.attrib["time"])
        cases = element.findall(".//testcase")
        for attribute, tag in COUNTED.items():
            expected = len(cases) if tag is None else sum(1 for c in cases if c.find(tag) is not None)
            assert int(element.attrib[attribute]) == expected, (element.tag, attribute)
    for child in element:
        _assert_shape(child)


def _case(root: ET.Element, check: str, operation: str) -> ET.Element:
    found = root.find(f"testsuite[@name='{check}']/testcase[@name='{operation}']")
    assert found is not None and found.get("classname") == check
    return found


def test_one_suite_per_check_and_one_case_per_operation(tmp_path: Path) -> None:
    record = _record(
        _result("tenancy_filter", "GET /a", Outcome.PASS),
        _result("tenancy_filter", "GET /a", Outcome.PASS, message="second rule"),
        _result("tenancy_filter", "GET /b", Outcome.FAIL, message="unscoped", severity=Severity.HIGH),
        _result("pagination", "GET /a", Outcome.NOT_APPLICABLE, message="not a list"),
    )
    root = _written(record, tmp_path)
    assert [s.get("name") for s in root.findall("testsuite")] == ["pagination", "tenancy_filter"]
    assert [c.get("name") for c in root.findall("testsuite[@name='tenancy_filter']/testcase")] == ["GET /b", "GET /a"]
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) == ("3", "1", "1", "0")
    assert root.get("time") == "90.000"
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties == {"probity.id": "run-1", "probity.target": "t", "probity.seed": "7"}


def test_a_failure_carries_message_rule_controls_and_evidence(tmp_path: Path) -> None:
    failing = _result(
        "tenancy_filter",
        "GET /a",
        Outcome.FAIL,
        message="patients read without a tenant predicate",
        severity=Severity.HIGH,
        controls=("HIPAA 164.312(a)(1)", "OWASP API1:2023"),
        evidence={"sql": "SELECT * FROM patients WHERE id = $1", "params": ["***"]},
    )
    root = _written(_record(failing, _result("tenancy_filter", "GET /a", Outcome.PASS)), tmp_path)
    failure = _case(root, "tenancy_filter", "GET /a").find("failure")
    assert failure is not None
    assert failure.get("message") == "patients read without a tenant predicate"
    assert failure.get("type") == "tenancy_filter.rule"
    text = failure.text or ""
    assert "[high]" in text and "HIPAA 164.312(a)(1), OWASP API1:2023" in text and failing.key in text
    assert "SELECT * FROM patients WHERE id = $1" in text and '"***"' in text


def test_inconclusive_is_never_a_pass(tmp_path: Path) -> None:
    unproven = _result("audit_insert", "GET /a", Outcome.INCONCLUSIVE, message="no statement was attributed")
    passed = _result("audit_insert", "GET /b", Outcome.PASS)
    over = _case(_written(_record(unproven, passed), tmp_path), "audit_insert", "GET /a")
    error = over.find("error")
    assert error is not None and error.get("message") == "inconclusive: no statement was attributed"
    allowed = _case(_written(_record(unproven, passed, max_inconclusive="1"), tmp_path), "audit_insert", "GET /a")
    skipped = allowed.find("skipped")
    assert allowed.find("error") is None, "within the gate's allowance the CI report is not red"
    assert skipped is not None and skipped.get("message") == "inconclusive: no statement was attributed"


def test_a_waived_failure_is_skipped_with_its_waiver_and_an_expired_one_fails(tmp_path: Path) -> None:
    waived = _result("pagination", "GET /a", Outcome.FAIL, message="no LIMIT", waiver=WAIVER)
    expired = _result(
        "pagination", "GET /b", Outcome.FAIL, message="no ORDER BY", waiver={**WAIVER, "status": "expired"}
    )
    root = _written(_record(waived, expired), tmp_path)
    skipped = _case(root, "pagination", "GET /a").find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "waived until 2026-12-31 by ana@example.org: fix in 2.4"
    failure = _case(root, "pagination", "GET /b").find("failure")
    assert failure is not None and "expired on 2026-12-31" in (failure.text or "")
    assert (root.get("failures"), root.get("skipped")) == ("1", "1")


def test_characters_xml_cannot_hold_are_replaced(tmp_path: Path) -> None:
    fuzzed = _result("parameterization", "GET /a", Outcome.FAIL, message="bad\x00byte\x1b", evidence={"q": "\x07x"})
    root = _written(_record(fuzzed), tmp_path)
    failure = _case(root, "parameterization", "GET /a").find("failure")
    assert failure is not None and failure.get("message") == "bad\ufffdbyte\ufffd"
    assert "bad\ufffdbyte" in (failure.text or "") and '"\\u0007x"' in (failure.text or "")  # JSON escapes it


def test_huge_evidence_is_cut_and_points_to_findings_json(tmp_path: Path) -> None:
    big = _result("n_plus_one", "GET /a", Outcome.FAIL, evidence={"statements": ["SELECT 1"] * 5000})
    failure = _case(_written(_record(big), tmp_path), "n_plus_one", "GET /a").find("failure")
    assert failure is not None and (failure.text or "").endswith("(whole in findings.json)")
    assert len(failure.text or "") < 5000
