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
