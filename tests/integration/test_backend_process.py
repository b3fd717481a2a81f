"""The backend child process: started on a free loopback port, waited for, stopped, never orphaned."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from probity.core.errors import BackendError
from probity.core.target import Target
from probity.runtime.backend import BackendProcess
from probity.runtime.clusters import pid_alive


def _target(tmp_path: Path, command: list[str], **backend: object) -> Target:
    return Target.model_validate(
        {
            "name": "stub",
            "root": tmp_path,
            "database": {"name": "stub", "app_role": "stub_app", "ddl": "schema.sql"},
            "backend": {"command": command, "health_path": "/", "openapi_path": None, **backend},
        }
    )


HTTP_SERVER = ["{python}", "-m", "http.server", "{port}", "--bind", "{host}"]


def test_backend_starts_answers_and_stops(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hi", encoding="utf-8")
    backend = BackendProcess(_target(tmp_path, HTTP_SERVER, cwd="."), "postgresql://x", tmp_path / "b.log")
    with backend:
        assert requests.get(backend.origin + "/hello.txt", timeout=5).text == "hi"
        pid = backend._process.pid if backend._process else -1
    assert not backend.running()
    assert not pid_alive(pid)


def test_placeholders_reach_the_environment(tmp_path: Path) -> None:
    script = "import os,sys; print(os.environ['DB'], os.environ['BUGS'], flush=True); sys.exit(3)"
    target = _target(tmp_path, ["{python}", "-c", script], env={"DB": "{database_url}", "BUGS": "{defects}"})
    with pytest.raises(BackendError, match="exited before answering"):
        BackendProcess(target, "postgresql://db", tmp_path / "b.log", defects="x,y").start()
    assert "postgresql://db x,y" in (tmp_path / "b.log").read_text(encoding="utf-8")


def test_a_backend_that_dies_at_start_shows_its_last_words(tmp_path: Path) -> None:
    target = _target(tmp_path, ["{python}", "-c", "raise SystemExit('database is unreachable')"])
    with pytest.raises(BackendError) as raised:
        BackendProcess(target, "", tmp_path / "b.log").start()
    assert "database is unreachable" in str(raised.value)


def test_a_backend_that_never_answers_times_out(tmp_path: Path) -> None:
    target = _target(tmp_path, ["{python}", "-c", "import time; time.sleep(60)"], startup_timeout=1)
    backend = BackendProcess(target, "", tmp_path / "b.log")
    with pytest.raises(BackendError, match="did not answer within 1s"):
        backend.start()
    assert not backend.running()


def test_unknown_placeholder_is_named(tmp_path: Path) -> None:
    target = _target(tmp_path, ["{python}", "{nonsense}"])
    with pytest.raises(BackendError, match="unknown placeholder {nonsense}"):
        BackendProcess(target, "", tmp_path / "b.log").start()


def test_a_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    target = _target(tmp_path, ["/nonexistent/backend"])
    with pytest.raises(BackendError, match="cannot start the backend"):
        BackendProcess(target, "", tmp_path / "b.log").start()


PARENT = """
import sys, time
from pathlib import Path
from probity.core.target import Target
from probity.runtime.backend import BackendProcess
target = Target.model_validate({"name": "stub", "root": sys.argv[1],
    "database": {"name": "stub", "app_role": "stub_app", "ddl": "schema.sql"},
    "backend": {"command": ["{python}", "-m", "http.server", "{port}", "--bind", "{host}"],
                "health_path": "/", "openapi_path": None}})
backend = BackendProcess(target, "", Path(sys.argv[1]) / "b.log").start()
print(backend._process.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_backend_dies_with_a_killed_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.stdout.close()
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child)
