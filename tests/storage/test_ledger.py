"""The ledger records each mailbox message once, keeps its bytes, and finds its twins."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from config.errors import StorageError
from storage.blobs import BlobStore
from storage.db import Database
from storage.ledger import (
    cursor_get,
    cursor_set,
    ledger_get,
    ledger_in_state,
    ledger_note_attempt,
    ledger_note_clash,
    ledger_raw,
    ledger_record,
    ledger_same_message,
    ledger_set_state,
    ledger_unfinished,
)
from storage.models import Ledger, RawMessageRow
from tests.storage.factories import MAILBOX, eml, raw

FIRST = eml("req-1@hospital.example")
SECOND = eml("req-2@hospital.example", subject="Compassionate Use – AZ Delta – K.L.")


def count(database: Database, model: type[Ledger] | type[RawMessageRow]) -> int:
    """Return the number of rows of a table."""
    with database.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_record_keeps_the_bytes_and_a_received_row(database: Database, blobs: BlobStore) -> None:
    message = raw(7, FIRST)
    with database.session() as s:
        row = ledger_record(s, message, "<req-1@hospital.example>", blobs)
    assert (row.state, row.attempts, row.message_id) == ("received", 0, "req-1@hospital.example")
    assert row.received_at == message.received_at
    assert blobs.get(message.sha256) == FIRST
    with database.session() as s:
        assert ledger_raw(s, row, blobs) == FIRST
        stored = s.get(RawMessageRow, message.sha256)
        assert stored is not None
        assert (stored.stored_in, stored.size, stored.data) == ("file", len(FIRST), None)


def test_record_is_idempotent(database: Database, blobs: BlobStore) -> None:
    with database.session() as s:
        first = ledger_record(s, raw(7, FIRST), "req-1@hospital.example", blobs)
        ledger_set_state(s, first, "done", outcome="request BE-2025-000001")
    with database.session() as s:
        again = ledger_record(s, raw(7, FIRST), "req-1@hospital.example", blobs)
    assert again.id == first.id
    assert again.state == "done"  # returned unchanged
    assert count(database, Ledger) == 1


def test_the_same_bytes_in_two_places_share_one_stored_copy(
    database: Database, blobs: BlobStore
) -> None:
    with database.session() as s:
        ledger_record(s, raw(7, FIRST), None, blobs)
        ledger_record(s, raw(3, FIRST, folder="Archive"), None, blobs)
    assert count(database, Ledger) == 2
    assert count(database, RawMessageRow) == 1


def test_without_a_blob_store_the_bytes_stay_in_the_database(database: Database) -> None:
    with database.session() as s:
        row = ledger_record(s, raw(7, FIRST), None, None)
    with database.session() as s:
        assert ledger_raw(s, row, None) == FIRST


def test_a_lying_hash_is_refused(database: Database, blobs: BlobStore) -> None:
    honest = raw(7, FIRST)
    forged = type(honest)(key=honest.key, data=SECOND, received_at=honest.received_at,
                          sha256=honest.sha256)
    with pytest.raises(StorageError, match="does not match"), database.session() as s:
        ledger_record(s, forged, None, blobs)


def test_a_message_kept_as_it_was_fetched_is_recorded_from_the_blob_store(
        database: Database, blobs: BlobStore) -> None:
    # A large message is written to the blob store during the fetch; only its header block
    # travels on.
    sha = blobs.put(FIRST)
    head = FIRST[:FIRST.index(b"\n\n") + 2]
    kept = replace(raw(7, head), sha256=sha, stored_size=len(FIRST))
    with database.session() as s:
        row = ledger_record(s, kept, "req-1@hospital.example", blobs)
    with database.session() as s:
        assert ledger_raw(s, row, blobs) == FIRST
        stored = s.get(RawMessageRow, sha)
        assert stored is not None and (stored.size, stored.stored_in) == (len(FIRST), "file")


def test_a_message_said_to_be_kept_but_not_in_the_blob_store_is_refused(
        database: Database, blobs: BlobStore) -> None:
    kept = replace(raw(7, b"From: a@b\n\n"), sha256="ab" * 32, stored_size=1000)
    with pytest.raises(StorageError, match="not here"), database.session() as s:
        ledger_record(s, kept, None, blobs)
    assert count(database, Ledger) == 0


def test_uids_above_two_to_the_31_fit(database: Database, blobs: BlobStore) -> None:
    message = raw(4_294_967_295, FIRST, uidvalidity=4_294_967_294)
    with database.session() as s:
        ledger_record(s, message, None, blobs)
    with database.session() as s:
        row = ledger_get(s, message.key)
        assert row is not None and (row.uid, row.uidvalidity) == (4_294_967_295, 4_294_967_294)


def test_concurrent_pollers_record_a_message_once(database: Database, blobs: BlobStore) -> None:
    ids: list[int] = []
    barrier = threading.Barrier(4)

    def poll() -> None:
        barrier.wait()
        with database.session() as s:
            ids.append(ledger_record(s, raw(7, FIRST), "req-1@hospital.example", blobs).id)

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 4 and len(set(ids)) == 1
    assert count(database, Ledger) == 1


def test_twin_by_message_id_once_the_first_is_filed(database: Database, blobs: BlobStore) -> None:
    with database.session() as s:
        first = ledger_record(s, raw(7, FIRST), "req-1@hospital.example", blobs)
        # Same Message-ID, other bytes (a copy re-sent through another relay) and other uid.
        copy = ledger_record(s, raw(8, FIRST + b"\n"), "req-1@hospital.example", blobs)
        assert ledger_same_message(s, copy.message_id, copy.sha256, copy.id, blobs) == (None, None)
        ledger_set_state(s, first, "filed", outcome="request BE-2025-000001")
        twin, _ = ledger_same_message(s, copy.message_id, copy.sha256, copy.id, blobs)
        assert twin is not None and twin.id == first.id
        assert ledger_same_message(s, first.message_id, first.sha256, first.id) == (None, None)


def test_another_sender_reusing_a_message_id_is_another_message(
        database: Database, blobs: BlobStore) -> None:
    forged = eml("req-1@hospital.example", sender="mallory@evil.example",
                 body="Replace the physician.")
    with database.session() as s:
        first = ledger_record(s, raw(7, FIRST), "req-1@hospital.example", blobs)
        ledger_set_state(s, first, "filed", outcome="request BE-2025-000001")
        other = ledger_record(s, raw(8, forged), "req-1@hospital.example", blobs)
        twin, clash = ledger_same_message(s, other.message_id, other.sha256, other.id, blobs)
        assert twin is None and clash is not None and clash.id == first.id
        noted = ledger_note_clash(s, ledger_set_state(s, other, "filed", outcome="request X"),
                                  clash)
        assert noted.outcome == (f"request X; Message-ID also on ledger row {first.id} "
                                 "(another sender and content: filed on its own)")


def test_twin_by_content_when_there_is_no_message_id(database: Database, blobs: BlobStore) -> None:
    bare = eml(None)
    with database.session() as s:
        first = ledger_record(s, raw(7, bare), None, blobs)
        ledger_set_state(s, first, "done")
        after_reset = ledger_record(s, raw(1, bare, uidvalidity=2), None, blobs)
        twin, _ = ledger_same_message(s, None, after_reset.sha256, after_reset.id)
        assert twin is not None and twin.id == first.id
        other = ledger_record(s, raw(2, eml(None, body="Another letter."), uidvalidity=2),
                              None, blobs)
        assert ledger_same_message(s, None, other.sha256, other.id) == (None, None)


def test_failed_or_ignored_rows_are_not_twins(database: Database, blobs: BlobStore) -> None:
    with database.session() as s:
        first = ledger_record(s, raw(7, FIRST), "req-1@hospital.example", blobs)
        ledger_set_state(s, first, "failed", error="pdf: broken")
        copy = ledger_record(s, raw(8, FIRST), "req-1@hospital.example", blobs)
        assert ledger_same_message(s, copy.message_id, copy.sha256, copy.id) == (None, None)


def test_unfinished_work_is_listed_oldest_first(database: Database, blobs: BlobStore) -> None:
    with database.session() as s:
        rows = [ledger_record(s, raw(uid, eml(f"m{uid}@x.example")), f"m{uid}@x.example", blobs)
                for uid in (1, 2, 3, 4, 5)]
        ledger_set_state(s, rows[1], "filed", case_id=None, outcome="request")
        ledger_set_state(s, rows[2], "done")
        ledger_set_state(s, rows[3], "failed", error="boom")
        ledger_set_state(s, rows[4], "attention", error="moved")
    with database.session() as s:
        # Failed but not yet moved to Needs-attention is unfinished too; moved is final.
        assert [r.uid for r in ledger_unfinished(s, MAILBOX)] == [1, 2, 4]
        assert ledger_unfinished(s, "other@mailbox.example") == []
        failed = ledger_in_state(s, "failed")
        assert [(r.uid, r.error) for r in failed] == [(4, "boom")]


def test_set_state_on_a_stale_copy_keeps_committed_work(
    database: Database, blobs: BlobStore
) -> None:
    with database.session() as s:
        stale = ledger_record(s, raw(7, FIRST), "req-1@hospital.example", blobs)
    with database.session() as s:  # another step files it
        fresh = ledger_get(s, raw(7, FIRST).key)
        assert fresh is not None
        ledger_set_state(s, fresh, "filed", outcome="request BE-2025-000001")
    with database.session() as s:  # a later step still holds the first copy
        ledger_set_state(s, s.merge(stale), "done")
    with database.session() as s:
        row = ledger_get(s, raw(7, FIRST).key)
        assert row is not None
        assert (row.state, row.outcome) == ("done", "request BE-2025-000001")


def test_unknown_states_are_refused(database: Database, blobs: BlobStore) -> None:
    with pytest.raises(StorageError, match="unknown ledger state"), database.session() as s:
        row = ledger_record(s, raw(7, FIRST), None, blobs)
        ledger_set_state(s, row, "lost")


def test_attempts_are_counted_even_from_a_stale_copy(database: Database, blobs: BlobStore) -> None:
    with database.session() as s:
        row = ledger_record(s, raw(7, FIRST), None, blobs)
    for expected in (1, 2, 3):
        with database.session() as s:
            assert ledger_note_attempt(s, row) == expected


def test_cursor_rises_and_never_falls(database: Database) -> None:
    with database.session() as s:
        assert cursor_get(s, MAILBOX, "INBOX") is None
        cursor_set(s, MAILBOX, "INBOX", 17, 10)
        cursor_set(s, MAILBOX, "INBOX", 17, 12)
        cursor_set(s, MAILBOX, "INBOX", 17, 11)  # a late retry must not rewind the mark
    with database.session() as s:
        assert cursor_get(s, MAILBOX, "INBOX") == (17, 12)
        assert cursor_get(s, MAILBOX, "Archive") is None


def test_a_new_uidvalidity_resets_the_cursor(database: Database) -> None:
    with database.session() as s:
        cursor_set(s, MAILBOX, "INBOX", 17, 500)
    with database.session() as s:
        cursor_set(s, MAILBOX, "INBOX", 18, 3)
    with database.session() as s:
        assert cursor_get(s, MAILBOX, "INBOX") == (18, 3)
        cursor_set(s, MAILBOX, "Archive", 1, 9)
        assert cursor_get(s, MAILBOX, "INBOX") == (18, 3)
        assert cursor_get(s, MAILBOX, "Archive") == (1, 9)
