"""The database fixtures fail loudly, never skip, when PostgreSQL is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tests.dbs

REPO = Path(__file__).resolve().parents[2]
PROBE = '''
def test_probe(database):
    with database.session() as s:
        assert s.get_bind().dialect.name in ("sqlite", "postgresql")
'''


def run_probe(tmp_path: Path, admin_url: str) -> subprocess.CompletedProcess[str]:
    """Run a one-test suite with the fixtures against the given PostgreSQL server."""
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {**os.environ, "TEST_POSTGRES_ADMIN_URL": admin_url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.dbs", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_probe.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )


def test_an_unreachable_server_fails_the_postgresql_variants(tmp_path: Path) -> None:
    run = run_probe(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/postgres")
    assert run.returncode == 1, run.stdout
    assert tests.dbs.PG_UNREACHABLE in run.stdout
    assert "1 passed, 1 error" in run.stdout
    assert "skipped" not in run.stdout
    assert "SQLite: 1 tests (1 passed), PostgreSQL: 1 tests (1 error)" in run.stdout


@pytest.mark.postgres
def test_the_summary_counts_tests_per_backend(tmp_path: Path) -> None:
    run = run_probe(tmp_path, tests.dbs.PG_ADMIN_URL)
    assert run.returncode == 0, run.stdout
    assert "SQLite: 1 tests (1 passed), PostgreSQL: 1 tests (1 passed)" in run.stdout
