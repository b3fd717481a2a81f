"""The HTML report of a run with planted defects, opened in headless Chromium: its findings are on the page.

A small real run on the embedded clinic with two planted defects, ``probity report``, then Debian's Chromium
(installed by ``./dev setup``) renders the report served over HTTP, and the test reads the rendered DOM.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
DEFECTS = "tenancy-read-unscoped,secrets-select-star"
# The case each planted defect must fail, and a rule its page must show.
PLANTED = {
    "cross_tenant_access · GET /patients/{patient_id}": "cross_tenant_access.read",
    "secret_omission · GET /organizations/{organization_id}/members": "secret_omission.selected",
}


@dataclass
class Leaf:
    node_id: str
    status: str = ""
    title: str = ""


class _TreeLeaves(HTMLParser):
    """The report tree's leaves (one per check and operation): node id, status and title."""

    def __init__(self) -> None:
        super().__init__()
        self.leaves: list[Leaf] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("data-testid") == "tree-leaf":
            self.leaves.append(Leaf(str(attributes.get("id"))))
        elif self.leaves and not self.leaves[-1].status and "status-" in (attributes.get("class") or ""):
            classes = (attributes.get("class") or "").split()
            self.leaves[-1].status = next(c for c in classes if "status-" in c).split("status-")[1].split("_")[0]
        self._in_title = attributes.get("data-testid") == "tree-leaf-title"

    def handle_data(self, data: str) -> None:
        if self._in_title and self.leaves:
            self.leaves[-1].title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def _env(reports: Path) -> dict[str, str]:
    return {**os.environ, "PROBITY_REPORTS_DIR": str(reports), "COLUMNS": "200"}


def _probity(*args: str, cwd: Path, reports: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "probity"
    return subprocess.run([str(script), *args], cwd=cwd, env=_env(reports), capture_output=True, text=True, timeout=900)


@pytest.fixture
def served() -> Iterator[Callable[[Path], str]]:
    """Serve a folder over http://127.0.0.1 (the report loads its data with fetch, which file:// forbids)."""
    servers: list[ThreadingHTTPServer] = []

    def serve(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def _dom(url: str) -> str:
    """The DOM Chromium renders for *url*, after the page's scripts have run."""
    with tempfile.TemporaryDirectory(prefix="probity-chromium-") as profile:
        command = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _leaves(dom: str) -> dict[str, Leaf]:
    parser = _TreeLeaves()
    parser.feed(dom)
    return {leaf.title: leaf for leaf in parser.leaves}


def _canaries(project_root: Path) -> list[str]:
    lines = (project_root / "fixtures" / "clinic" / "canaries.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_report_of_planted_defects_renders_them_in_headless_chromium(
    project_root: Path, isolated_state: Path, served: Callable[[Path], str]
) -> None:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run ./dev setup (it installs Debian's chromium)")
    reports = isolated_state.parent / "reports"
    budget = ("--max-examples", "2", "--roles", "ADMIN", "--phases", "examples", "--seed", "1")
    run = _probity("run", "--defects", DEFECTS, *budget, cwd=project_root, reports=reports)
    assert run.returncode == 1, run.stdout + run.stderr
    report = _probity("report", cwd=project_root, reports=reports)
    assert report.returncode == 0, report.stdout + report.stderr
    run_dir = (reports / "latest").resolve()
    assert str(run_dir / "html" / "index.html") in " ".join(report.stdout.split())

    root = served(run_dir / "html")
    leaves = _leaves(_dom(root + "index.html"))
    for title in PLANTED:
        assert leaves[title].status == "failed", (title, leaves.get(title))
    assert any(leaf.status == "passed" for leaf in leaves.values())
    for title, rule in PLANTED.items():
        page = _dom(f"{root}index.html#{leaves[title].node_id}")
        assert rule in page, title

    canaries = _canaries(project_root)
    for path in (p for p in reports.rglob("*") if p.is_file()):
        content = path.read_bytes()
        assert not [c for c in canaries if c.encode() in content], path
