"""A case over time, on real servers: a request missing Part 2, then a reply carrying it."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from storage.cases import case_by_ref, case_checklist
from storage.events import case_events
from storage.messages import case_messages
from tests.intake.e2e import Intake, labelled, write_settings
from tests.servers import MailboxUser, SmtpServer


def part2_from(fixture: str) -> tuple[str, bytes]:
    """Return the (file name, bytes) of the PDF a labelled follow-up carries."""
    parsed = email.message_from_bytes(labelled(fixture), policy=email.policy.default)
    for part in parsed.walk():
        if part.get_filename() and part.get_content_type() == "application/pdf":
            return part.get_filename() or "part2.pdf", part.get_payload(decode=True) or b""
    raise AssertionError(f"{fixture} carries no PDF")


def reply_to(ack: bytes, sender: str, attachment: tuple[str, bytes]) -> bytes:
    """Build the applicant's reply to our acknowledgement, as a mail client threads it."""
    ours = email.message_from_bytes(ack, policy=email.policy.default)
    reply = EmailMessage()
    reply["From"] = f"Dr. Bart Janssens <{sender}>"
    reply["To"] = "derogation.meddev@fagg-afmps.be"
    reply["Subject"] = f"RE: {ours['Subject']}"
    reply["Date"] = "Fri, 20 Mar 2026 08:14:00 +0100"
    reply["Message-ID"] = "<reply-with-part2@zna.be>"
    reply["In-Reply-To"] = ours["Message-ID"]
    reply["References"] = f"{ours['References']} {ours['Message-ID']}"
    reply.set_content("Dear colleagues,\n\nPlease find the signed Part 2 attached.\n\n"
                      "Dr. Bart Janssens\n")
    name, data = attachment
    reply.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return reply.as_bytes(policy=email.policy.SMTP)


def test_a_reply_with_part2_completes_the_case_and_the_log_tells_the_story(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer, db_url: str) -> None:
    intake = Intake(write_settings(tmp_path, mailbox_user, smtp_server, db_url),
                    mailbox_user, smtp_server, db_url)
    mailbox_user.append("INBOX", labelled("cu_en_missing_part2_bare"))
    assert intake.poll().returncode == 0
    ack = smtp_server.wait_for(1)[0]
    assert b"form_part2" not in ack.data  # the applicant reads an explanation, not an id
    mailbox_user.append("INBOX", reply_to(ack.data, "bart.janssens@zna.be",
                                          part2_from("fu_en_signed_part2_completes")))

    result = intake.poll()

    assert result.returncode == 0, result.stderr
    assert "(follow_up)" in result.stdout and "missing nothing" in result.stdout
    database = intake.database()
    with database.session() as s:
        from storage.models import Case

        refs = list(s.scalars(select(Case.ref)))
        assert len(refs) == 1
        case = case_by_ref(s, refs[0])
        assert case is not None and case.status == "complete"
        roles = [m.role for m in case_messages(s, case)]
        checklist = {c.item_id: c.status for c in case_checklist(s, case)}
        story = [(e.action, e.detail) for e in case_events(s, case)]
    database.dispose()
    assert roles == ["request", "follow_up"]
    assert checklist["form_part2"] == "present"
    assert checklist["physician_signature"] == "present"
    actions = [a for a, _ in story]
    assert actions[:4] == ["case_opened", "message_filed", "checklist_evaluated",
                           "acknowledgement_queued"]
    first = dict(story)["checklist_evaluated"]
    assert {"form_part2", "physician_signature"} <= set(first["missing"])
    changes = {(d["item"], d["from"], d["to"]) for a, d in story if a == "checklist_changed"}
    assert ("form_part2", "missing", "present") in changes
    assert ("physician_signature", "missing", "present") in changes
    assert actions.count("message_filed") == 2
    assert actions[-1] == "acknowledgement_queued"
    # The second acknowledgement stays in the thread with a single reference tag.
    follow_ack = smtp_server.wait_for(2)[1]
    subject = email.message_from_bytes(follow_ack.data, policy=email.policy.default)["Subject"]
    assert subject.count(f"[{refs[0]}]") == 1
