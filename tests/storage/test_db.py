"""One session block is one transaction; foreign errors leave storage as StorageError."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text

from config.errors import StorageError
from storage.cases import case_by_ref, create_case, list_cases
from storage.db import Database, StorageConflict, default_sqlite_url, normalise_url, upgrade
from storage.events import add_event
from storage.models import Case, CaseEvent
from tests.storage.factories import triage


def test_a_block_commits_on_success(database: Database) -> None:
    with database.session() as s:
        create_case(s, "BE-2025-000001", triage(), "subject", None)
    with database.session() as s:
        assert [c.ref for c in list_cases(s)] == ["BE-2025-000001"]


def test_a_block_rolls_back_everything_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as s:
        create_case(s, "BE-2025-000001", triage(), "subject", None)
        raise RuntimeError("parser crashed half-way")
    with database.session() as s:
        assert list_cases(s) == []


def test_a_uniqueness_violation_is_a_storage_conflict_and_rolls_back(database: Database) -> None:
    with database.session() as s:
        create_case(s, "BE-2025-000001", triage(), "subject", None)
    with pytest.raises(StorageConflict) as caught, database.session() as s:
        create_case(s, "BE-2025-000002", triage(), "kept only if all succeeds", None)
        create_case(s, "BE-2025-000001", triage(), "same ref again", None)
    assert caught.value.__cause__ is not None  # raised `from` the driver's error
    with database.session() as s:
        assert [c.ref for c in list_cases(s)] == ["BE-2025-000001"]


def test_foreign_keys_are_enforced(database: Database) -> None:
    with pytest.raises(StorageConflict), database.session() as s:
        s.add(CaseEvent(case_id=4242, actor="intake", action="orphan", detail={}))


def test_objects_stay_readable_after_the_block(database: Database) -> None:
    with database.session() as s:
        case = create_case(s, "BE-2025-000001", triage(), "subject", "Jane@Hospital.example")
    assert (case.ref, case.applicant_email, case.status) == (
        "BE-2025-000001", "jane@hospital.example", "incomplete")


def test_timestamps_come_back_aware_in_utc(database: Database) -> None:
    brussels = timezone(timedelta(hours=1))
    with database.session() as s:
        case = create_case(s, "BE-2025-000001", triage(), "subject", None)
        case.created_at = datetime(2025, 1, 6, 10, 0, tzinfo=brussels)
        case.updated_at = datetime(2025, 1, 6, 9, 0)  # naive: taken as UTC
    with database.session() as s:
        stored = case_by_ref(s, "BE-2025-000001")
        assert stored is not None
        assert stored.created_at == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
        assert stored.created_at.tzinfo == UTC
        assert stored.updated_at == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
        earlier = s.scalars(
            select(Case.ref).where(Case.created_at < datetime(2025, 1, 6, 9, 30, tzinfo=UTC))
        ).all()
        assert earlier == ["BE-2025-000001"]


def test_events_keep_json_details(database: Database) -> None:
    with database.session() as s:
        case = create_case(s, "BE-2025-000001", triage(), "subject", None)
        add_event(s, case, "intake", "message_filed",
                  {"documents": ["part1.pdf"], "at": datetime(2025, 1, 6, tzinfo=UTC), "n": 2})
    with database.session() as s:
        event = s.scalars(select(CaseEvent)).one()
        assert event.detail == {"documents": ["part1.pdf"], "at": "2025-01-06 00:00:00+00:00",
                                "n": 2}


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path / "data")
    assert url == f"sqlite:///{tmp_path / 'data' / 'intake.sqlite3'}"
    upgrade(url)
    database = Database.open(url)
    try:
        with database.session() as s:
            assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert s.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    finally:
        database.dispose()


def test_postgres_urls_use_psycopg_3() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_an_unreachable_database_is_a_storage_error(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite3'}")
    try:
        with pytest.raises(StorageError, match="unable to open"), database.session() as s:
            list_cases(s)
    finally:
        database.dispose()


# --- passing faults ----------------------------------------------------------------------------

def full_sqlite(tmp_path: Path) -> tuple[Database, list[int]]:
    """A migrated SQLite database whose connections may not grow the file (a full disk).

    ``limit[0]`` is the page limit applied to each new connection; 0 lifts it.
    """
    url = f"sqlite:///{tmp_path / 'full.sqlite3'}"
    upgrade(url)
    database = Database.open(url)
    limit = [0]

    def cap(dbapi_connection: object, _record: object) -> None:
        if limit[0]:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute(f"PRAGMA max_page_count = {limit[0]}")
            cursor.close()

    from sqlalchemy import event

    event.listen(database.engine, "connect", cap)
    with database.engine.connect() as connection:
        limit[0] = int(connection.exec_driver_sql("PRAGMA page_count").scalar() or 0)
    database.engine.dispose()  # new connections get the cap
    return database, limit


def add_big_case(database: Database, ref: str) -> None:
    """File a case with a subject large enough to need new pages."""
    with database.session() as s:
        create_case(s, ref, triage(), "x" * 200_000, None)


def test_a_full_disk_is_a_passing_fault_and_the_retry_succeeds(tmp_path: Path) -> None:
    from config.errors import StorageUnavailable
    from storage.db import retry_transient

    database, limit = full_sqlite(tmp_path)
    tries: list[int] = []

    def file_case() -> None:
        tries.append(1)
        if len(tries) == 2:  # room is made on the disk while the intake waits
            limit[0] = 0
            database.engine.dispose()
        add_big_case(database, "BE-2025-000001")

    with pytest.raises(StorageUnavailable, match="database or disk is full"):
        add_big_case(database, "BE-2025-000001")
    retry_transient(file_case, "filing", delays=(0.01, 0.01, 0.01))
    with database.session() as s:
        assert [c.ref for c in list_cases(s)] == ["BE-2025-000001"]
    assert len(tries) == 2
    database.dispose()


def test_a_disk_that_stays_full_stops_with_storage_unavailable(tmp_path: Path) -> None:
    from config.errors import StorageUnavailable
    from storage.db import retry_transient

    database, _limit = full_sqlite(tmp_path)
    tries: list[int] = []

    def file_case() -> None:
        tries.append(1)
        add_big_case(database, "BE-2025-000001")

    with pytest.raises(StorageUnavailable):
        retry_transient(file_case, "filing", delays=(0.01, 0.02))
    assert len(tries) == 3  # the first try and one after each wait
    with database.session() as s:
        assert list_cases(s) == []  # nothing half-written
    database.dispose()


def test_an_ordinary_database_error_is_not_a_passing_fault(database: Database) -> None:
    from config.errors import StorageUnavailable

    with pytest.raises(StorageError) as caught, database.session() as s:
        s.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(caught.value, StorageUnavailable)
