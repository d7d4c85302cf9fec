"""Crash safety, tested: the intake process is SIGKILLed at several points of a batch."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from intake.failpoints import DIR_ENV
from parsers.headers import raw_message_id
from storage.models import CaseMessage, Ledger, OutgoingMessage
from tests.intake.e2e import Intake, acknowledged_parents, labelled, sample_messages, write_settings
from tests.intake.test_run import SAFETY_NET_SECONDS, wait_until
from tests.servers import MailboxUser, SmtpServer

# Where the process dies, run after run (each run resumes what the previous one left):
# after keeping a message, after filing one (case committed, mailbox untouched), again
# after filing, between the SMTP server's acceptance of an acknowledgement and the database
# update, and after moving a group of filed messages (ledger not yet final). Filed messages
# are moved in groups at the end of a cycle here (the batch is smaller than a group), so the
# move comes last: each run before it leaves filed, unmoved messages for it.
CRASHES = ("after_record:2", "after_file:1", "after_file:3", "after_send:2", "after_move:1")


def processes_using(config: Path) -> list[int]:
    """Return the ids of live processes whose command line names this settings file."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(config).encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_killed_at_any_point_every_message_has_one_case_and_one_reply_at_most(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer, db_url: str) -> None:
    intake = Intake(write_settings(tmp_path, mailbox_user, smtp_server, db_url),
                    mailbox_user, smtp_server, db_url)
    batch = [*sample_messages(), labelled("cu_en_complete_manufacturer"),
             labelled("enq_nl_documents"), labelled("nd_fr_complete_ivdr")]
    for data in batch:
        mailbox_user.append("INBOX", data)

    for crash in CRASHES:
        result = intake.poll(failpoints=crash)
        assert result.returncode == -signal.SIGKILL, (crash, result.stdout, result.stderr)
        # The extraction workers die with the intake process: nothing is left running.
        assert processes_using(intake.config) == [], crash
    final = intake.poll()

    assert final.returncode == 0, final.stderr
    assert mailbox_user.folder_uids("INBOX") == []
    assert len(mailbox_user.folder_uids("Processed")) == len(batch)
    database = intake.database()
    with database.session() as s:
        states = Counter(s.scalars(select(Ledger.state)))
        filed = Counter(m for m in s.scalars(select(CaseMessage.message_id)))
        outbox = Counter(s.scalars(select(OutgoingMessage.state)))
    database.dispose()
    assert set(states) == {"done"} and states["done"] == len(batch)
    # Each message is in exactly one case once (the out-of-office is kept but not filed).
    assert all(count == 1 for count in filed.values()), filed
    assert len(filed) == len(batch) - 1
    # No message was acknowledged twice; the one killed mid-handover is left for a person.
    # Acknowledgements leave while the intake goes on (intake.replies.sender), so a kill
    # elsewhere may catch another in its hand-over: it too is left uncertain, never resent.
    assert all(count == 1 for count in acknowledged_parents(smtp_server).values())
    assert outbox["uncertain"] >= 1
    assert set(outbox) <= {"sent", "uncertain"}
    assert outbox["sent"] <= len(smtp_server.received) - 1
    assert len(smtp_server.received) <= outbox["sent"] + outbox["uncertain"]


def test_killed_while_a_backlog_is_filed_together_nothing_of_the_group_is_kept(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer, db_url: str) -> None:
    """Messages already prepared are filed in one transaction: a kill before it commits
    leaves every one of them to be filed again, once, by the next cycle."""
    config = write_settings(tmp_path, mailbox_user, smtp_server, db_url,
                            extra="[extraction]\nworkers = 2\n")
    intake = Intake(config, mailbox_user, smtp_server, db_url)
    batch = [labelled("cu_en_complete_manufacturer"), labelled("enq_nl_documents"),
             labelled("nd_fr_complete_ivdr")]
    for data in batch:
        mailbox_user.append("INBOX", data)
    ids = [raw_message_id(m) or "" for m in batch]
    first, third = ids[0], ids[2]
    # The first message's worker waits; the other worker prepares the second, then starts
    # the third and waits there. Let go of the first: the first two are ready together.
    process = intake.start(
        "poll", "--once", extra_env={DIR_ENV: str(tmp_path)},
        failpoints=f"prepare/{first}:1=pause,prepare/{third}:1=pause,filing_together:2")
    try:
        held = tmp_path / f"prepare_{first}.paused"
        wait_until(lambda: held.exists() and (tmp_path / f"prepare_{third}.paused").exists(),
                   "the second message prepared while the first waits")
        held.unlink()
        output, _ = process.communicate(timeout=SAFETY_NET_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # Killed after filing the second message of the group, before the group's commit.
    assert process.returncode == -signal.SIGKILL, output
    assert processes_using(config) == []
    database = intake.database()
    with database.session() as s:
        assert list(s.scalars(select(CaseMessage.message_id))) == []
        assert Counter(s.scalars(select(Ledger.state))) == Counter({"received": 3})
    assert smtp_server.received == []

    final = intake.poll()

    assert final.returncode == 0, final.stderr
    assert mailbox_user.folder_uids("INBOX") == []
    assert len(mailbox_user.folder_uids("Processed")) == len(batch)
    with database.session() as s:
        filed = Counter(s.scalars(select(CaseMessage.message_id)))
        states = Counter(s.scalars(select(Ledger.state)))
    database.dispose()
    assert states == Counter({"done": 3})
    assert filed == Counter(ids)  # each message in one case, once
    smtp_server.wait_for(len(batch), timeout=SAFETY_NET_SECONDS)
    assert acknowledged_parents(smtp_server) == Counter(f"<{i}>" for i in ids)
