"""Queries for the few rows in a passing state read them by index, even once SQLite knows
that nearly every row is in a final state (after ANALYZE or PRAGMA optimize)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from storage.db import Database
from storage.ledger import ledger_unfinished
from storage.models import Ledger, OutgoingMessage, RawMessageRow
from storage.monitoring import oldest_unfiled_seconds
from storage.outbox import ack_recipients_since, outbox_add, outbox_in_state

ROWS = 3000
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def busy(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A SQLite database whose outbox and ledger hold thousands of finished rows, analysed."""
    path = tmp_path / "intake.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    database = Database.open(f"sqlite:///{path}")
    with database.session() as s:
        s.execute(insert(OutgoingMessage), [
            {"message_id": f"ack-{n}@agency.example", "recipient": f"a{n}@h.example",
             "recipient_domain": "h.example", "kind": "acknowledgement", "raw": b"x" * 2000,
             "created_at": NOW, "state": "sent" if n else "sending"} for n in range(ROWS)])
        s.execute(insert(RawMessageRow), [
            {"sha256": f"{n:064x}", "size": 100, "stored_in": "file"} for n in range(ROWS)])
        s.execute(insert(Ledger), [
            {"mailbox": "famhp", "folder": "INBOX", "uidvalidity": 1, "uid": n + 1,
             "sha256": f"{n:064x}", "received_at": NOW, "state": "done" if n else "received"}
            for n in range(ROWS)])
        s.connection().exec_driver_sql("ANALYZE")
    yield database
    database.dispose()


def plans_of(database: Database, query: Callable[[Session], Any]) -> list[str]:
    """Run a query function and return SQLite's plan of each SELECT it sent."""
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", keep)
    try:
        with database.session() as s:
            query(s)
    finally:
        event.remove(database.engine, "before_cursor_execute", keep)
    with database.engine.connect() as conn:
        return [" / ".join(str(row[-1]) for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", parameters)) for statement, parameters in sent]


@pytest.mark.parametrize("query", [
    lambda s: outbox_in_state(s, "sending"),
    lambda s: ledger_unfinished(s, "famhp"),
    lambda s: oldest_unfiled_seconds(s, NOW),
], ids=["outbox sending", "ledger unfinished", "oldest unfiled"])
def test_rows_in_a_passing_state_are_found_by_index(busy: Database,
                                                    query: Callable[[Session], Any]) -> None:
    [plan] = plans_of(busy, query)
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
    assert "SCAN" not in plan.replace("SCAN CONSTANT", ""), plan


def test_the_passing_rows_are_still_all_found(busy: Database) -> None:
    with busy.session() as s:
        assert [m.message_id for m in outbox_in_state(s, "sending")] == ["ack-0@agency.example"]
        assert [row.uid for row in ledger_unfinished(s, "famhp")] == [1]
        assert len(outbox_in_state(s, "sent")) == ROWS - 1


def test_the_rate_limits_read_the_recent_replies_of_one_domain_only(busy: Database) -> None:
    # A backlog queues thousands of acknowledgements within the hour; each new one's rate
    # limits must not read them all again (7 ms a message at 10,000 when they did).
    with busy.session() as s:
        outbox_add(s, case=None, case_message=None, message_id="ack-x@agency.example",
                   recipient=" Someone+tag@Other.Example", subject="", kind="new_complete",
                   raw=b"x", held=False, now=NOW)
    since = NOW - timedelta(hours=1)
    [plan] = plans_of(busy, lambda s: ack_recipients_since(s, "other.EXAMPLE", since))
    assert "recipient_domain=?" in plan and "created_at>?" in plan, plan
    with busy.session() as s:
        assert ack_recipients_since(s, "other.EXAMPLE", since) == ["Someone+tag@Other.Example"]
        assert len(ack_recipients_since(s, "h.example", since)) == ROWS
