"""The backend_independent mark is checked: a marked test that reaches a
database, Redis or a child process fails (.ci/run leaves marked tests out of
its PostgreSQL and Redis pass on the strength of the mark)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MARKED = textwrap.dedent(
    """
    import sqlite3

    import pytest

    pytestmark = pytest.mark.backend_independent


    def test_pure():
        assert sum([1, 2]) == 3


    def test_reaches_sqlite(tmp_path):
        try:
            sqlite3.connect(tmp_path / "x.sqlite").close()
        except Exception:
            pass  # swallowed: the mark's check must still see it


    def test_starts_a_process():
        import subprocess

        subprocess.run(["true"], check=True)
    """
)


def test_a_marked_test_that_reaches_a_backend_fails(tmp_path: Path) -> None:
    """Of three marked tests, the one that only computes passes; the one
    that opens SQLite (and swallows any error) and the one that starts a
    process end in an error, naming what they reached, and the run fails."""
    (tmp_path / "test_marked.py").write_text(MARKED)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    environment.pop("CSMS_DATABASE_URL", None)
    environment.pop("CSMS_REDIS_URL", None)
    run = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
            "-p", "tests.conftest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
            "-m", "backend_independent", str(tmp_path / "test_marked.py"),
        ],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    report = run.stdout + run.stderr
    assert run.returncode == 1, report
    assert "3 passed, 2 errors" in report, report
    assert "ERROR at teardown of test_reaches_sqlite" in report, report
    assert "marked backend_independent but reached connect\n" in report, report
    assert "ERROR at teardown of test_starts_a_process" in report, report
    assert "marked backend_independent but reached Popen.__init__\n" in report, report
