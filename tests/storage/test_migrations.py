"""Migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from config.errors import StorageError
from storage.cases import create_case, next_case_ref
from storage.db import Database, StorageConflict, alembic_config, make_engine, upgrade
from storage.events import add_event
from storage.models import Base
from storage.outbox import ack_recipients_since
from tests.storage.factories import triage

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
TABLES = {
    "mailbox_ledger", "mailbox_cursor", "raw_message", "case_sequence", "case", "case_message",
    "document", "extracted_field", "checklist_item", "outgoing_message", "case_event",
    "web_user", "web_token", "web_session", "login_attempt", "web_audit", "case_assignment",
    "case_note", "case_link", "rule_version", "job_run",
}


def head_revision() -> str:
    """Return the newest revision shipped with the package."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """Return the revision the database is at."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    """Return the tables of the database."""
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_every_table_on_an_empty_database(empty_db_url: str) -> None:
    assert table_names(empty_db_url) == set()
    upgrade(empty_db_url)
    assert table_names(empty_db_url) == TABLES | {"alembic_version"}
    assert current_revision(empty_db_url) == head_revision()


def test_upgrade_twice_is_harmless(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    upgrade(empty_db_url)
    assert current_revision(empty_db_url) == head_revision()


def test_models_match_the_migrations(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    """Run the migrations up (or down) to a revision."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(db_url: str) -> None:
    migrate_to(db_url, "base", down=True)
    assert table_names(db_url) == {"alembic_version"}
    upgrade(db_url)
    assert table_names(db_url) == TABLES | {"alembic_version"}


def test_two_processes_starting_together_both_find_the_schema_ready(empty_db_url: str) -> None:
    # A poller and an outbox sender are separate processes that both migrate on start.
    code = "import sys; from storage.db import upgrade; upgrade(sys.argv[1])"
    starters = [
        subprocess.Popen([sys.executable, "-c", code, empty_db_url], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    failures = [p.stderr.read().decode() for p in starters if p.wait(60) != 0 and p.stderr]
    assert failures == []
    assert current_revision(empty_db_url) == head_revision()


def test_threads_of_one_process_may_upgrade_together(empty_db_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            upgrade(empty_db_url)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert current_revision(empty_db_url) == head_revision()


def test_replies_kept_before_their_domain_was_stored_get_it(empty_db_url: str) -> None:
    # A database from before revision 0009 keeps replies whose rate limits must still count.
    migrate_to(empty_db_url, "0008")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO outgoing_message (message_id, recipient, subject, kind, raw, state, "
                "attempts, created_at) VALUES (:m, :r, '', 'new_complete', :raw, 'sent', 1, :at)"),
                [{"m": f"ack-{n}@agency.example", "r": recipient, "raw": b"x", "at": NOW}
                 for n, recipient in enumerate([" Regulatory+rl@CardioFlow.Example ",
                                                "odd\"@\"name@Hospital.example", "nodomain"])])
    finally:
        engine.dispose()
    upgrade(empty_db_url)
    database = Database.open(empty_db_url)
    try:
        with database.session() as s:
            domains = s.execute(text("SELECT recipient_domain FROM outgoing_message ORDER BY id"))
            assert domains.scalars().all() == ["cardioflow.example", "hospital.example",
                                               "nodomain"]
            recent = ack_recipients_since(s, "CARDIOFLOW.example", NOW - timedelta(hours=1))
            assert recent == [" Regulatory+rl@CardioFlow.Example "]
    finally:
        database.dispose()


def test_case_events_are_append_only(database: Database) -> None:
    with database.session() as s:
        case = create_case(s, next_case_ref(s, "BE", 2025), triage(), "subject", None)
        add_event(s, case, "intake", "case_opened", {})
    for statement in ("UPDATE case_event SET actor = 'someone else'", "DELETE FROM case_event"):
        with pytest.raises(StorageError, match="append-only"), database.session() as s:
            s.execute(text(statement))
    with database.session() as s:
        assert s.execute(text("SELECT actor FROM case_event")).scalars().all() == ["intake"]


def test_check_constraints_guard_the_vocabularies(database: Database) -> None:
    with database.session() as s:
        create_case(s, "BE-2025-000001", triage(), "subject", None)
    with pytest.raises(StorageConflict), database.session() as s:
        s.execute(text("UPDATE \"case\" SET status = 'lost'"))


def test_a_bad_url_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="cannot use database URL"):
        upgrade("nosuchdb://somewhere/x")
