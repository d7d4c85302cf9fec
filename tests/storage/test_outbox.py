"""The outbox hands each reply over at most once, with retries, holds and crash recovery."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from config.errors import StorageError
from storage.cases import create_case
from storage.db import Database, StorageConflict
from storage.models import Case, OutgoingMessage
from storage.outbox import (
    ack_recipients_since,
    outbox_add,
    outbox_due,
    outbox_in_state,
    outbox_list,
    outbox_mark_failed,
    outbox_mark_retry,
    outbox_mark_sending,
    outbox_mark_sent,
    outbox_mark_uncertain,
    outbox_release,
    outbox_suppress,
)
from tests.storage.factories import APPLICANT, triage

NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
ACK = b"From: derogation.meddev@fagg-afmps.be\r\nSubject: BE-2025-000001\r\n\r\nReceived.\r\n"


def queue(database: Database, n: int = 1, *, held: bool = False, at: datetime = NOW,
          recipient: str = APPLICANT) -> OutgoingMessage:
    """Queue the acknowledgement number n of a fresh case."""
    with database.session() as s:
        case = create_case(s, f"BE-2025-{n:06d}", triage(), "subject", APPLICANT)
        return outbox_add(s, case=case, case_message=None, message_id=f"<ack-{n}@famhp.example>",
                          recipient=recipient, subject=f"BE-2025-{n:06d}",
                          kind="ack_incomplete", raw=ACK, held=held, now=at)


def test_a_queued_reply_is_due_at_once(database: Database) -> None:
    msg = queue(database)
    assert (msg.state, msg.attempts, msg.message_id) == ("pending", 0, "ack-1@famhp.example")
    with database.session() as s:
        due = outbox_due(s, NOW)
    assert [(m.message_id, m.raw) for m in due] == [("ack-1@famhp.example", ACK)]


def test_adding_the_same_message_id_twice_queues_it_once(database: Database) -> None:
    first = queue(database)
    with database.session() as s:
        case = s.get(Case, first.case_id)
        again = outbox_add(s, case=case, case_message=None, message_id="ack-1@famhp.example",
                           recipient=APPLICANT, subject="x", kind="ack", raw=b"other", held=False)
    assert again.id == first.id
    with database.session() as s:
        assert len(outbox_list(s)) == 1


def test_a_message_id_is_required(database: Database) -> None:
    with pytest.raises(StorageError, match="needs a Message-ID"), database.session() as s:
        outbox_add(s, case=None, case_message=None, message_id="<>", recipient=APPLICANT,
                   subject="x", kind="ack", raw=ACK, held=False)


def test_sending_then_sent(database: Database) -> None:
    msg = queue(database)
    with database.session() as s:
        outbox_mark_sending(s, msg, now=NOW)
    with database.session() as s:
        assert outbox_due(s, NOW) == []  # a claimed reply is nobody else's
    with database.session() as s:  # a new transaction, a copy from the earlier one
        sent = outbox_mark_sent(s, msg, "250 2.0.0 Ok: queued as 4F2C1", now=NOW)
    assert (sent.state, sent.attempts, sent.smtp_reply, sent.sent_at) == (
        "sent", 1, "250 2.0.0 Ok: queued as 4F2C1", NOW)


def test_a_temporary_failure_is_retried_later(database: Database) -> None:
    msg = queue(database)
    later = NOW + timedelta(minutes=5)
    with database.session() as s:
        outbox_mark_sending(s, msg)
        outbox_mark_retry(s, msg, "451 4.7.1 try again later", later)
    with database.session() as s:
        assert outbox_due(s, NOW + timedelta(minutes=4)) == []
        due = outbox_due(s, later)
    assert [(m.state, m.attempts, m.last_error) for m in due] == [
        ("pending", 1, "451 4.7.1 try again later")]


def test_a_permanent_failure_gives_up(database: Database) -> None:
    msg = queue(database)
    with database.session() as s:
        outbox_mark_sending(s, msg)
        outbox_mark_failed(s, msg, "550 5.1.1 no such user")
    with database.session() as s:
        assert [m.last_error for m in outbox_in_state(s, "failed")] == ["550 5.1.1 no such user"]
        assert outbox_due(s, NOW + timedelta(days=1)) == []


def test_a_reply_interrupted_while_sending_becomes_uncertain(database: Database) -> None:
    msg = queue(database)
    with database.session() as s:
        outbox_mark_sending(s, msg)
    # The sender dies here. On restart:
    with database.session() as s:
        for stuck in outbox_in_state(s, "sending"):
            outbox_mark_uncertain(s, stuck, "interrupted during hand-over")
    with database.session() as s:
        assert outbox_due(s, NOW + timedelta(days=1)) == []
        assert [m.message_id for m in outbox_in_state(s, "uncertain")] == ["ack-1@famhp.example"]


def test_a_reply_is_never_claimed_twice(database: Database) -> None:
    msg = queue(database)
    with database.session() as s:
        outbox_mark_sending(s, msg)
    with pytest.raises(StorageConflict, match="cannot claim"), database.session() as s:
        outbox_mark_sending(s, msg)  # a stale copy still says "pending"
    with pytest.raises(StorageConflict), database.session() as s:
        outbox_release(s, msg)


def test_held_replies_wait_for_a_person(database: Database) -> None:
    held = queue(database, 1, held=True)
    dropped = queue(database, 2, held=True)
    with database.session() as s:
        assert outbox_due(s, NOW + timedelta(days=1)) == []
        outbox_release(s, held, now=NOW)
        outbox_suppress(s, dropped, "reviewer: not needed")
    with database.session() as s:
        assert [m.message_id for m in outbox_due(s, NOW)] == ["ack-1@famhp.example"]
        assert [m.last_error for m in outbox_in_state(s, "suppressed")] == ["reviewer: not needed"]
    with pytest.raises(StorageConflict), database.session() as s:
        outbox_release(s, dropped)


def test_due_replies_come_earliest_first_and_can_be_limited(database: Database) -> None:
    queue(database, 1, at=NOW)
    queue(database, 2, at=NOW - timedelta(minutes=10))
    queue(database, 3, at=NOW + timedelta(minutes=10))
    with database.session() as s:
        assert [m.message_id for m in outbox_due(s, NOW)] == [
            "ack-2@famhp.example", "ack-1@famhp.example"]
        assert len(outbox_due(s, NOW, limit=1)) == 1


def test_two_senders_never_send_the_same_reply(database: Database) -> None:
    for n in range(1, 21):
        queue(database, n)
    claimed: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def sender() -> None:
        barrier.wait()
        try:
            while True:
                with database.session() as s:
                    due = outbox_due(s, NOW, limit=1)
                    if not due:
                        return
                    claimed.append(outbox_mark_sending(s, due[0]).message_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(claimed) == sorted(f"ack-{n}@famhp.example" for n in range(1, 21))


def test_rate_limit_counts_recent_replies_to_a_recipient(database: Database) -> None:
    queue(database, 1, at=NOW - timedelta(hours=2))
    queue(database, 2, at=NOW - timedelta(minutes=30), recipient="Regulatory@CardioFlow.example")
    suppressed = queue(database, 3, at=NOW - timedelta(minutes=10), held=True)
    queue(database, 4, at=NOW - timedelta(minutes=5), recipient="someone@other.example")
    with database.session() as s:
        outbox_suppress(s, suppressed, "rate limit")
    with database.session() as s:
        recent = ack_recipients_since(s, "cardioflow.example", NOW - timedelta(hours=1))
        assert [r.lower() for r in recent] == [APPLICANT.lower()]
        every = ack_recipients_since(s, "CardioFlow.example", NOW - timedelta(hours=3))
        assert sorted(r.lower() for r in every) == [APPLICANT.lower()] * 2
        assert ack_recipients_since(s, "x.example", NOW - timedelta(hours=3)) == []
