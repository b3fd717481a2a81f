"""Every report of a run, written from one :class:`RunRecord` into the run's folder.

One ordered registry, so ``probity run``, ``probity report`` and ``probity merge`` write the same set; a
writer takes the record and the folder and returns what it wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from probity.engine.run import RunReport
from probity.reporting.allure import write_allure_results
from probity.reporting.findings_json import RunRecord, as_record, write_findings
from probity.reporting.junit import write_junit
from probity.reporting.matrix import write_matrix

__all__ = ["WRITERS", "Writer", "write_outputs"]

Writer = Callable[[RunRecord, Path], Path]

WRITERS: tuple[Writer, ...] = (write_findings, write_allure_results, write_junit, write_matrix)


def write_outputs(run: RunReport | RunRecord, run_dir: Path) -> list[Path]:
    """Write every report of *run* into *run_dir*; return the paths written, in registry order."""
    record = as_record(run)
    return [writer(record, run_dir) for writer in WRITERS]
