"""End to end on real servers: Dovecot → `poll --once` → database → SMTP server → folders."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from storage.models import Case, CaseMessage, Document, Ledger
from tests.intake.e2e import (
    Intake,
    acknowledged_parents,
    big_pdf,
    broken_message,
    message,
    sample_messages,
    write_settings,
)
from tests.servers import MailboxUser, SmtpServer


def test_a_batch_is_filed_acknowledged_and_moved(intake: Intake) -> None:
    samples = sample_messages()
    plain = message("Question about the procedure", "Hello,\n\nHow long does a decision take?\n",
                    message_id="no-attachment@azgroeninge.be")
    huge = message("Compassionate Use – AZ Groeninge – K.M.",
                   "Please find the clinical evaluation annex attached.\n",
                   message_id="twenty-mb@azgroeninge.be",
                   attachments=(("clinical-annex.pdf", big_pdf(20), "application/pdf"),))
    for data in [*samples[:2], plain, broken_message(), huge, *samples[2:]]:
        intake.user.append("INBOX", data)

    result = intake.poll()

    # The broken message is reported and the exit status says a message needs a person.
    assert result.returncode == 3, result.stderr
    assert "needs attention" in result.stdout
    assert intake.user.folder_uids("INBOX") == []
    assert len(intake.user.folder_uids("Needs-attention")) == 1
    assert len(intake.user.folder_uids("Processed")) == len(samples) + 2
    database = intake.database()
    with database.session() as s:
        cases = {c.ref: c for c in s.scalars(select(Case))}
        failed = s.scalars(select(Ledger).where(Ledger.state == "attention")).all()
        annex = s.scalars(select(Document).where(Document.filename == "clinical-annex.pdf")).one()
        assert annex.size > 20 * 1024 * 1024
        plain_links = s.scalars(select(CaseMessage).where(
            CaseMessage.message_id == "no-attachment@azgroeninge.be")).all()
    database.dispose()
    assert len(failed) == 1 and "parse failed" in (failed[0].error or "")
    assert len(plain_links) == 1
    # Six samples: four cases (one is an out-of-office, one follows up another) + 2 more.
    assert len(cases) == 6
    assert sorted(cases)[0] == "DRG-2026-000001"
    # Every acknowledgement reached the SMTP server once, with its case reference.
    received = intake.smtp.wait_for(6)
    assert all(count == 1 for count in acknowledged_parents(intake.smtp).values())
    subjects = [m.data.split(b"\nSubject: ", 1)[1][:40] for m in received]
    assert all(s.startswith(b"[DRG-2026-") for s in subjects), subjects
    # A copy of each went to the Sent folder.
    assert len(intake.user.folder_uids("Sent")) == len(received)


def test_a_second_poll_files_nothing_new(intake: Intake) -> None:
    for data in sample_messages():
        intake.user.append("INBOX", data)
    first = intake.poll()
    assert first.returncode == 0, first.stderr
    sent = len(intake.smtp.received)

    second = intake.poll()

    assert second.returncode == 0, second.stderr
    assert "0 filed, 0 kept without a case, 0 duplicate, 0 failed" in second.stdout
    assert len(intake.smtp.received) == sent
    database = intake.database()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Ledger)) == len(sample_messages())
    database.dispose()


def test_the_same_message_delivered_twice_is_filed_once(intake: Intake) -> None:
    data = sample_messages()[0]
    intake.user.append("INBOX", data)
    assert intake.poll().returncode == 0
    intake.user.append("INBOX", data)  # the applicant's server delivered it again

    result = intake.poll()

    assert "1 duplicate" in result.stdout, result.stdout
    assert len(intake.smtp.received) == 1
    assert len(intake.user.folder_uids("Processed")) == 2
    database = intake.database()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1
    database.dispose()


def test_a_uidvalidity_change_refiles_nothing(tmp_path: Path, mailbox_user: MailboxUser,
                                             smtp_server: SmtpServer, db_url: str) -> None:
    config = write_settings(tmp_path, mailbox_user, smtp_server, db_url, folder="Requests")
    intake = Intake(config, mailbox_user, smtp_server, db_url)
    samples = sample_messages()[:2]
    for data in samples:
        mailbox_user.append("Requests", data)
    assert intake.poll().returncode == 0
    before = mailbox_user.uidvalidity("Requests")
    # The folder is rebuilt and the same messages come back with the same UIDs 1 and 2.
    mailbox_user.delete_folder("Requests")
    for data in samples:
        mailbox_user.append("Requests", data)
    assert mailbox_user.uidvalidity("Requests") != before

    result = intake.poll()

    assert result.returncode == 0, result.stderr
    assert "0 filed, 0 kept without a case, 2 duplicate, 0 failed" in result.stdout
    assert len(smtp_server.received) == 2
    assert mailbox_user.folder_uids("Requests") == []
