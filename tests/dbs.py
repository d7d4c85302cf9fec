"""Database fixtures: each test gets a fresh, migrated database on SQLite and on PostgreSQL.

Fixtures:
- ``db_url``: parametrised over ``sqlite`` and ``postgresql``; a migrated database per test.
- ``empty_db_url``: the same two backends, with nothing in them (for migration tests).
- ``database``: a ``storage.db.Database`` opened on ``db_url``.
- ``blobs``: a ``storage.blobs.BlobStore`` in the test's temporary directory.

PostgreSQL is never skipped: when the server is unreachable the PostgreSQL variants fail.
The terminal summary tells how many tests ran on each backend.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from storage.blobs import BlobStore
from storage.db import Database, upgrade

# CI may point at another server; the default is the one every project machine runs.
PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_UNREACHABLE = "PostgreSQL not reachable on 127.0.0.1:5432 (CI must provide it)"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
DB_FIXTURES = ("db_url", "empty_db_url")


class PostgresServer:
    """Creates and drops throwaway databases on the test PostgreSQL server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        # CREATE/DROP DATABASE cannot run inside a transaction.
        self.admin: Engine = create_engine(
            admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )

    def check(self) -> None:
        """Fail the test with the agreed message when the server does not answer."""
        try:
            with self.admin.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        # Outside the handler, so that the report shows this line and no driver traceback.
        pytest.fail(f"{PG_UNREACHABLE}: {reason}", pytrace=False)

    def url_of(self, name: str) -> str:
        """Return the URL of a database on this server."""
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def create(self, prefix: str, template: str = "template0") -> str:
        """Create a database with a random name from a template; return its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def drop(self, name: str) -> None:
        """Drop a database, closing any connection a failed test left open."""
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """Return the PostgreSQL server, failing (never skipping) when it is unreachable."""
    server = PostgresServer(PG_ADMIN_URL)
    try:
        server.check()
        yield server
    finally:
        server.admin.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> Iterator[str]:
    """Return a migrated database that per-test databases are copied from (fast)."""
    name = pg_server.create("di_template")
    try:
        upgrade(pg_server.url_of(name))
        yield name
    finally:
        pg_server.drop(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a migrated SQLite file that per-test databases are copied from."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


def _postgres_database(
    request: pytest.FixtureRequest, prefix: str, migrated: bool
) -> Iterator[str]:
    """Yield the URL of a new PostgreSQL database, dropped after the test."""
    server: PostgresServer = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template") if migrated else "template0"
    name = server.create(prefix, template)
    try:
        yield server.url_of(name)
    finally:
        server.drop(name)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a fresh database at the latest schema, on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "intake.sqlite3"
        path.write_bytes(template.read_bytes())
        yield f"sqlite:///{path}"
        return
    yield from _postgres_database(request, "di", migrated=True)


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a fresh database with no tables at all, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    yield from _postgres_database(request, "di_empty", migrated=False)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """Yield a Database opened on the test's fresh database."""
    db = Database.open(db_url)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    """Return a blob store in the test's temporary directory."""
    return BlobStore(tmp_path / "blobs")


class BackendTally:
    """Counts the tests that ran on each database backend, for the terminal summary."""

    def __init__(self) -> None:
        self.backend_of: dict[str, str] = {}
        self.outcomes: dict[str, Counter[str]] = {b: Counter() for b in LABELS}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Remember which backend each collected test is parametrised with."""
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            backend = next((params[f] for f in DB_FIXTURES if f in params), None)
            if backend in LABELS:
                self.backend_of[item.nodeid] = backend

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Count a test once: by its call, or by its set-up when that did not pass."""
        backend = self.backend_of.get(report.nodeid)
        if backend is None:
            return
        if report.when == "call":
            self.outcomes[backend][report.outcome] += 1
        elif report.when == "setup" and not report.passed:
            self.outcomes[backend]["error" if report.failed else "skipped"] += 1

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print 'SQLite: N tests, PostgreSQL: M tests' with the outcomes."""
        if not self.backend_of:
            return
        parts = []
        for backend, label in LABELS.items():
            counts = self.outcomes[backend]
            ran = counts["passed"] + counts["failed"] + counts["error"]
            detail = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()) if n)
            parts.append(f"{label}: {ran} tests" + (f" ({detail})" if detail else ""))
        terminalreporter.write_sep("-", "database backends")
        terminalreporter.write_line(", ".join(parts))


def pytest_configure(config: pytest.Config) -> None:
    """Register the per-backend tally."""
    config.pluginmanager.register(BackendTally(), "database-backend-tally")
