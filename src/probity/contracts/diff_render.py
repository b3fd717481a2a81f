"""A :class:`~probity.contracts.differences.DiffReport` for people (a rich table, Markdown) and machines (JSON)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

from rich.table import Table
from rich.text import Text

from probity.contracts.differences import Difference, DiffReport, Implemented, OperationResult, Severity

__all__ = ["FORMATS", "render_json", "render_markdown", "render_table"]

FORMATS = ("table", "json", "markdown")
_LINES_PER_CELL = 12
_IMPLEMENTED_STYLE = {
    Implemented.YES: "green",
    Implemented.LIKELY: "green",
    Implemented.NO: "bold red",
    Implemented.LIKELY_NOT: "bold red",
    Implemented.UNKNOWN: "yellow",
    Implemented.NOT_PROBED: "dim",
}
_SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def render_json(report: DiffReport) -> str:
    """The report as indented JSON, for machines.

    >>> report = DiffReport("api.yaml", "http://x/openapi.json", "openapi", ())
    >>> json.loads(render_json(report))["counts"]
    {'error': 0, 'warning': 0, 'info': 0}
    """
    return json.dumps(report.to_dict(), indent=2, default=str) + "\n"


def render_table(report: DiffReport) -> Table:
    """The report as a rich table: Operation | Documented | Implemented | Differences; the summary as caption.

    The differences of named schemas that operations share, and of the document, follow as rows of their own.
    """
    how = "probed" if report.mode == "probe" else "live OpenAPI"
    table = Table(title=f"{report.contract} vs {report.live} ({how})", caption=report.summary(), show_lines=True)
    for column in ("Operation", "Documented", "Implemented", "Differences"):
        table.add_column(column, overflow="fold")
    for result in report.operations:
        implemented = Text(str(result.implemented), style=_IMPLEMENTED_STYLE[result.implemented])
        table.add_row(result.operation, _yes_no(result.documented), implemented, _cell(result.differences, result))
    for label, differences in report.shared_groups().items():
        table.add_row(Text(label, style="italic"), "", "", _cell(differences))
    return table


def _cell(differences: Iterable[Difference], result: OperationResult | None = None) -> Text:
    items = list(differences)
    text = Text()
    if result is not None and result.evidence and not items:
        text.append(result.evidence, style="dim")
    for index, difference in enumerate(items[:_LINES_PER_CELL]):
        if index:
            text.append("\n")
        text.append(difference.line(), style=_SEVERITY_STYLE[difference.severity])
    if len(items) > _LINES_PER_CELL:
        text.append(f"\n… and {len(items) - _LINES_PER_CELL} more (--format json lists them all)", style="dim")
    return text


def render_markdown(report: DiffReport) -> str:
    """The report as Markdown: a summary, a table of operations, then each operation's differences.

    >>> from probity.contracts.differences import Kind
    >>> missing = Difference("POST /p", Kind.OPERATION_MISSING, "", Severity.ERROR, "POST /p", None, "not there")
    >>> result = OperationResult("POST /p", True, Implemented.NO, (missing,))
    >>> print(render_markdown(DiffReport("api.yaml", "http://x/openapi.json", "openapi", (result,))))
    ... # doctest: +NORMALIZE_WHITESPACE
    # Contract diff: api.yaml
    <BLANKLINE>
    - **Compared with:** http://x/openapi.json (live OpenAPI)
    - **Result:** 1 documented, 0 implemented, 1 missing, 0 undocumented; 1 error, 0 warnings, 0 notes
    <BLANKLINE>
    | Operation | Documented | Implemented | Differences |
    | --- | --- | --- | --- |
    | `POST /p` | yes | no | 1 error |
    <BLANKLINE>
    ## Differences
    <BLANKLINE>
    ### `POST /p`
    <BLANKLINE>
    - **error** (operation-missing): not there
    """
    how = "probed" if report.mode == "probe" else "live OpenAPI"
    lines = [
        f"# Contract diff: {report.contract}",
        "",
        f"- **Compared with:** {report.live} ({how})",
        f"- **Result:** {report.summary()}",
        "",
        "| Operation | Documented | Implemented | Differences |",
        "| --- | --- | --- | --- |",
    ]
    lines += [_markdown_row(result) for result in report.operations]
    lines += [f"| *{label}* |  |  | {_counts(found)} |" for label, found in report.shared_groups().items()]
    lines += _markdown_details(report)
    return "\n".join(lines) + "\n"


def _markdown_row(result: OperationResult) -> str:
    counts = _counts(result.differences) or (_escaped(result.evidence) if result.evidence else "none")
    return f"| `{result.operation}` | {_yes_no(result.documented)} | {result.implemented} | {counts} |"


def _markdown_details(report: DiffReport) -> list[str]:
    groups = [(f"`{result.operation}`", result.differences) for result in report.operations if result.differences]
    groups += [(f"*{label}*", found) for label, found in report.shared_groups().items()]
    if not groups:
        return []
    lines = ["", "## Differences"]
    for title, differences in groups:
        lines += ["", f"### {title}", ""]
        lines += [_markdown_item(difference) for difference in differences]
    return lines


def _markdown_item(difference: Difference) -> str:
    where = f" `{difference.location}`" if difference.location else ""
    return f"- **{difference.severity}** ({difference.kind}){where}: {difference.message}"


def _counts(differences: Iterable[Difference]) -> str:
    counted = Counter(difference.severity for difference in differences)
    names = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
    parts = [f"{counted[severity]} {names[severity]}{'s' if counted[severity] > 1 else ''}" for severity in Severity]
    return ", ".join(part for part, severity in zip(parts, Severity, strict=True) if counted[severity])


def _escaped(text: str) -> str:
    return text.replace("|", "\\|")


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"
