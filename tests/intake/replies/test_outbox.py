"""The outbox end to end: outages, refusals, a kill mid-hand-over and hold mode.

Every test drives the real command line (`poll --once`, `outbox send`, `outbox list`) in a
subprocess against Dovecot, aiosmtpd and both databases, and checks what the applicant
received (each acknowledgement at most once) and what an operator sees in `outbox list`.
"""

from __future__ import annotations

import email
import email.policy
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from config.errors import StorageError
from intake.replies.outbox import cancel_outgoing, release_held, release_outgoing, sender_lock
from storage.db import Database, StorageConflict
from storage.models import Case, CaseEvent, OutgoingMessage
from tests.intake.e2e import Intake, labelled, write_settings
from tests.servers import MailboxUser, SmtpServer

# Small messages (no attachments to read) keep each poll short.
BATCH = ("enq_nl_documents", "enq_fr_documents", "enq_en_timeline_fee")
DECISIONS = ("acknowledgement_released", "acknowledgement_cancelled")


def make_intake(tmp_path: Path, user: MailboxUser, smtp: SmtpServer, db_url: str,
                replies: str) -> Intake:
    """The application with these [replies] settings, for this test's servers and database."""
    config = write_settings(tmp_path, user, smtp, db_url, extra=f"\n[replies]\n{replies}\n")
    return Intake(config, user, smtp, db_url)


def run_ok(intake: Intake, *args: str) -> str:
    """Run a command, require exit status 0, and return what it printed."""
    result = intake.run(*args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def deliver(intake: Intake, names: tuple[str, ...]) -> None:
    """Put labelled messages in the mailbox's INBOX."""
    for name in names:
        intake.user.append("INBOX", labelled(name))


def outbox_rows(intake: Intake) -> list[OutgoingMessage]:
    """Return the outbox as the database holds it, oldest first."""
    database = intake.database()
    with database.session() as s:
        rows = list(s.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id)))
    database.dispose()
    return rows


def listed(intake: Intake) -> dict[int, list[str]]:
    """Return `outbox list` as the operator reads it: row id -> the words of its lines.

    A row's next attempt and full last error stand on an indented line below it.
    """
    lines = run_ok(intake, "outbox", "list").splitlines()
    assert lines[0].split()[:3] == ["id", "state", "attempts"], lines
    shown: dict[int, list[str]] = {}
    for line in lines[1:]:
        if line.startswith("    "):
            shown[list(shown)[-1]] += line.split()
        else:
            shown[int(line.split()[0])] = line.split()
    return shown


def received_ids(smtp: SmtpServer) -> Counter[str]:
    """Count the messages the SMTP server accepted, by Message-ID."""
    return Counter(
        str(email.message_from_bytes(m.data, policy=email.policy.default)["Message-ID"])
        .strip("<>") for m in smtp.received)


def wait_until_due(intake: Intake, timeout: float = 60.0) -> None:
    """Wait until every pending row's next attempt is due (the retry base is one second)."""
    deadline = time.monotonic() + timeout
    while any(r.next_attempt_at is not None and r.next_attempt_at > datetime.now(UTC)
              for r in outbox_rows(intake) if r.state == "pending"):
        assert time.monotonic() < deadline, "retries never became due"
        time.sleep(0.2)


# --- 4: the relay is down; intake goes on; each acknowledgement leaves once later -------------

def test_with_the_relay_down_cases_are_filed_and_each_ack_leaves_once_when_it_is_back(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer,
        db_url: str) -> None:
    intake = make_intake(tmp_path, mailbox_user, smtp_server, db_url, "retry_base_seconds = 1")
    deliver(intake, BATCH)
    smtp_server.stop()

    output = run_ok(intake, "poll", "--once")

    assert "3 filed" in output and "outbox: 0 sent, 3 to retry" in output, output
    assert mailbox_user.folder_uids("INBOX") == []
    assert len(mailbox_user.folder_uids("Processed")) == 3
    database = intake.database()
    with database.session() as s:
        assert len(s.scalars(select(Case)).all()) == 3
    database.dispose()
    rows = outbox_rows(intake)
    # Each tried once its case was filed, and again at the end of the cycle if its retry
    # (a second later here) was due by then.
    assert [r.state for r in rows] == ["pending"] * 3
    assert all(r.attempts in (1, 2) for r in rows)
    for row in rows:
        assert "unavailable" in (row.last_error or "")
        assert row.next_attempt_at is not None and row.next_attempt_at > row.created_at

    smtp_server.start()
    wait_until_due(intake)
    # While another process holds the sender's lock, a second sender stays away.
    database = intake.database()
    with sender_lock(database, tmp_path / "data") as held:
        assert held
        assert "another process is sending; skipped" in run_ok(intake, "outbox", "send")
    database.dispose()
    assert smtp_server.received == []
    output = run_ok(intake, "outbox", "send")

    assert "outbox: 3 sent, 0 to retry, 0 failed, 0 uncertain" in output, output
    smtp_server.wait_for(3)
    assert received_ids(smtp_server) == Counter({r.message_id: 1 for r in rows})
    # Sent rows are never due again: no later pass can send them a second time.
    assert [(r.state, r.attempts) for r in outbox_rows(intake)] == [
        ("sent", r.attempts + 1) for r in rows]
    assert len(mailbox_user.folder_uids("Sent")) == 3


# --- 5: killed between the relay's acceptance and the database update -------------------------

def test_killed_after_the_relay_accepted_the_ack_is_not_sent_again(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer,
        db_url: str) -> None:
    intake = make_intake(tmp_path, mailbox_user, smtp_server, db_url, "")
    deliver(intake, BATCH[:2])
    assert "2 filed" in run_ok(intake, "poll", "--once", "--no-send")

    killed = intake.run("outbox", "send", failpoints="after_send:1")

    assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)
    smtp_server.wait_for(1)
    interrupted, waiting = outbox_rows(intake)
    assert (interrupted.state, waiting.state) == ("sending", "pending")
    assert received_ids(smtp_server) == Counter({interrupted.message_id: 1})

    restart = run_ok(intake, "outbox", "send")

    assert "outbox: 1 sent, 0 to retry, 0 failed, 1 uncertain" in restart, restart
    smtp_server.wait_for(2)
    # The interrupted one did not go a second time; the other one went once.
    assert received_ids(smtp_server) == Counter({interrupted.message_id: 1,
                                                 waiting.message_id: 1})
    interrupted, waiting = outbox_rows(intake)
    assert (interrupted.state, waiting.state) == ("uncertain", "sent")
    assert "interrupted during hand-over" in (interrupted.last_error or "")
    shown = listed(intake)
    assert shown[interrupted.id][1] == "uncertain"
    assert shown[waiting.id][1] == "sent"
    assert mailbox_user.folder_uids("INBOX") == []


# --- 6: a permanent refusal fails the row; a temporary one is tried again later ---------------

def test_a_temporary_refusal_is_retried_and_a_permanent_one_fails_the_ack(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer,
        db_url: str) -> None:
    intake = make_intake(tmp_path, mailbox_user, smtp_server, db_url, "retry_base_seconds = 1")
    deliver(intake, BATCH[:1])
    smtp_server.answer(data="451 4.3.0 try again later")

    output = run_ok(intake, "poll", "--once")

    assert "outbox: 0 sent, 1 to retry, 0 failed, 0 uncertain" in output, output
    [row] = outbox_rows(intake)
    assert (row.state, row.attempts) == ("pending", 1)
    assert "451 4.3.0 try again later" in (row.last_error or "")
    assert row.next_attempt_at is not None and row.next_attempt_at > row.created_at

    wait_until_due(intake)
    smtp_server.answer(data="550 5.1.1 mailbox unavailable")
    retried = run_ok(intake, "outbox", "send")

    assert "outbox: 0 sent, 0 to retry, 1 failed, 0 uncertain" in retried, retried
    [row] = outbox_rows(intake)
    assert (row.state, row.attempts, row.next_attempt_at) == ("failed", 2, None)
    assert "550 5.1.1 mailbox unavailable" in (row.last_error or "")
    shown = " ".join(listed(intake)[row.id])
    assert shown.startswith(f"{row.id} failed 2 ")
    assert "550 5.1.1" in shown
    assert smtp_server.received == []  # refused both times: nothing reached the applicant


# --- 7: hold mode -----------------------------------------------------------------------------

def test_in_hold_mode_acks_are_composed_and_kept_until_a_person_releases_them(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer,
        db_url: str) -> None:
    intake = make_intake(tmp_path, mailbox_user, smtp_server, db_url, "hold = true")
    deliver(intake, BATCH[:2])

    output = run_ok(intake, "poll", "--once")

    assert output.count("acknowledgement held") == 2, output
    assert "outbox: 0 sent" in output
    rows = outbox_rows(intake)
    assert [r.state for r in rows] == ["held", "held"]
    for row, name in zip(rows, BATCH, strict=False):
        composed = email.message_from_bytes(row.raw, policy=email.policy.default)
        original = email.message_from_bytes(labelled(name), policy=email.policy.default)
        assert composed["In-Reply-To"] == original["Message-ID"]
        assert composed["Subject"] == row.subject
        assert row.subject.endswith(str(original["Subject"]))
    shown = listed(intake)
    assert [shown[r.id][1] for r in rows] == ["held", "held"]
    assert smtp_server.received == []

    database = intake.database()
    try:
        _person_decides(database, rows)
    finally:
        database.dispose()
    sent = run_ok(intake, "outbox", "send")

    assert "outbox: 1 sent" in sent, sent
    [mail] = smtp_server.wait_for(1)
    released, cancelled = outbox_rows(intake)
    assert mail.data == released.raw  # exactly what was composed and stored
    assert (released.state, cancelled.state) == ("sent", "suppressed")


def _person_decides(database: Database, rows: list[OutgoingMessage]) -> None:
    """A reviewer releases the first held acknowledgement and cancels the second."""
    keep, drop = rows
    cancel_outgoing(database, [drop.id], actor="a.reviewer", note="answered by phone")
    [released] = release_held(database, actor="a.reviewer", note="hold mode over")
    assert (released.id, released.state) == (keep.id, "pending")
    with pytest.raises(StorageConflict, match="suppressed: cannot release"):
        release_outgoing(database, [drop.id], actor="a.reviewer")
    with pytest.raises(StorageError, match="no outgoing message 999"):
        release_outgoing(database, [999], actor="a.reviewer")
    with database.session() as s:
        events = [(e.action, e.actor, e.detail["from"], e.detail["to"]) for e in s.scalars(
            select(CaseEvent).where(CaseEvent.action.in_(DECISIONS))
            .order_by(CaseEvent.id))]
    assert ("acknowledgement_cancelled", "a.reviewer", "held", "suppressed") in events
    assert ("acknowledgement_released", "a.reviewer", "held", "pending") in events
