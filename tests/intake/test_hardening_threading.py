"""Case hijack, disclosure and the open reflector, end to end on Dovecot, SMTP and both databases.

Anyone may write to the mailbox and case references are sequential. A stranger who cites a
case, or forges an In-Reply-To, must not be merged into it, must not learn whether it exists,
and must not read its content; an acknowledgement goes to the author of the message (never an
unverified Reply-To), at most a few times per address however it is +tagged, and repeats no
link and little text of the message.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

from sqlalchemy import select

from storage.cases import case_by_ref
from storage.fields import current_fields
from storage.messages import case_messages
from storage.models import Case, Ledger
from tests.intake.e2e import REPO, Intake, labelled
from tests.intake.test_follow_up import part2_from

REF = re.compile(r"DRG-\d{4}-\d{6}")
PART1 = (REPO / "tests" / "fixtures" / "forms" / "part1_en_fillable.pdf").read_bytes()


def mail(sender: str, subject: str, body: str, message_id: str, *,
         attachments: tuple[tuple[str, bytes], ...] = (),
         headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """Build a message as a mail client would."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "derogation.meddev@fagg-afmps.be"
    msg["Subject"] = subject
    msg["Date"] = "Wed, 18 Nov 2026 09:00:00 +0100"
    msg["Message-ID"] = f"<{message_id}>"
    for name, value in headers:
        msg[name] = value
    msg.set_content(body)
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes(policy=email.policy.SMTP)


def acks_to(intake: Intake, address: str) -> list[EmailMessage]:
    """Return the acknowledgements the SMTP server received for an address."""
    found = []
    for received in intake.smtp.received:
        if address in received.rcpt_tos:
            parsed = email.message_from_bytes(received.data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
    return found


def text_of(ack: EmailMessage) -> str:
    """Return an acknowledgement's subject and plain text with every reference blanked."""
    body = ack.get_body(preferencelist=("plain",))
    assert body is not None
    return REF.sub("REF", f"{ack['Subject']}\n{body.get_content()}")


def test_strangers_citing_a_case_are_filed_apart_and_learn_nothing(intake: Intake) -> None:
    intake.user.append("INBOX", labelled("cu_en_missing_part2_bare"))
    assert intake.poll().returncode == 0
    first = intake.smtp.wait_for(1)[0]
    case_ref = REF.findall(email.message_from_bytes(first.data)["Subject"])[0]
    applicant_id = "<" + str(email.message_from_bytes(labelled("cu_en_missing_part2_bare"))
                             ["Message-ID"]).strip("<> ") + ">"
    part2 = part2_from("fu_en_signed_part2_completes")
    intake.user.append("INBOX", mail("Mallory <mallory@evil.example>", f"[{case_ref}] Part 2",
                                     "Please find Part 2 attached.", "m1@evil.example",
                                     attachments=(part2,)))
    intake.user.append("INBOX", mail("Eve <eve@evil.example>", "[DRG-2026-999999] Part 2",
                                     "Please find Part 2 attached.", "e1@evil.example",
                                     attachments=(part2,)))
    intake.user.append("INBOX", mail("Trudy <trudy@evil.example>", "RE: FlowGuard ND",
                                     "More documents.", "t1@evil.example",
                                     headers=(("In-Reply-To", applicant_id),)))
    # The applicant's own new request that mentions the first case in its body: a link.
    intake.user.append("INBOX", mail("Dr. Lena Hartmann <l.hartmann@neurovasc-dynamics.de>",
                                     "New compassionate use request",
                                     f"A second patient; our earlier request is {case_ref}.",
                                     "new2@neurovasc-dynamics.de",
                                     attachments=(("Part1_second.pdf", PART1),)))

    result = intake.poll()

    assert result.returncode == 0, result.stderr
    intake.smtp.wait_for(5)
    database = intake.database()
    with database.session() as s:
        case = case_by_ref(s, case_ref)
        assert case is not None
        assert [m.role for m in case_messages(s, case)] == ["request"]
        assert case.status == "incomplete"
        device = current_fields(s, case)["device_name"].value
        others = {c.ref: c for c in s.scalars(select(Case).where(Case.ref != case_ref))}
        flags = {c.applicant_email: c.triage.get("flags") for c in others.values()}
        reasons = {c.applicant_email: " ".join(c.triage.get("kind_reasons") or [])
                   for c in others.values()}
    database.dispose()
    assert device == "FlowGuard ND"  # not replaced by the second request's device
    assert flags == {"mallory@evil.example": ["unknown_case_ref", "sender_not_on_case"],
                     "eve@evil.example": ["unknown_case_ref"],
                     "trudy@evil.example": ["unknown_case_ref", "sender_not_on_case"],
                     "l.hartmann@neurovasc-dynamics.de": ["linked_case"]}
    assert f"cites {case_ref}, sender not on that case" in reasons["mallory@evil.example"]
    assert f"mentions {case_ref} in the body" in reasons["l.hartmann@neurovasc-dynamics.de"]
    (mallory,) = acks_to(intake, "mallory@evil.example")
    (eve,) = acks_to(intake, "eve@evil.example")
    # Citing a real case or a made-up one reads the same, and tells nothing of the case.
    assert text_of(mallory) == text_of(eve)
    body = mallory.get_body(preferencelist=("plain",))
    assert body is not None
    assert case_ref not in body.get_content() and "Hartmann" not in body.get_content()


def test_the_acknowledgement_is_no_reflector(intake: Intake) -> None:
    url_subject = ("Question on derogations – details at https://evil.example/win?x=1 "
                   + "padding " * 30)
    intake.user.append("INBOX", mail("An <an@hospital.example>", url_subject,
                                     "Which documents do we need for a national derogation?",
                                     "q0@hospital.example",
                                     headers=(("Reply-To", "victim@third-party.example"),)))
    names = tuple((f"annex-{n:02d}.pdf", PART1[:200] + bytes([n])) for n in range(25))
    intake.user.append("INBOX", mail("Bob <bob@hospital.example>", "Which documents?",
                                     "Is it possible to send the annexes separately?",
                                     "q1@hospital.example", attachments=names))
    for n in range(7):
        intake.user.append("INBOX", mail(f"Victim <Victim+{n}@target.example>", f"Question {n}",
                                         "Which documents do we need?", f"v{n}@x.example"))

    result = intake.poll()

    assert result.returncode == 0, result.stderr
    intake.smtp.wait_for(7)
    assert acks_to(intake, "victim@third-party.example") == []
    (to_author,) = acks_to(intake, "an@hospital.example")
    shown = text_of(to_author)
    assert "evil.example" not in shown and "padding " * 16 not in shown
    assert len(str(to_author["Subject"])) < 200
    (listing,) = acks_to(intake, "bob@hospital.example")
    assert re.findall(r"annex-\d\d\.pdf", text_of(listing)) == [n for n, _ in names[:10]]
    assert "(+15)" in text_of(listing)
    tagged = [r for r in intake.smtp.received if r.rcpt_tos[0].lower().endswith("@target.example")]
    assert len(tagged) == 5  # replies.rate_limit_count, however the address is +tagged


def test_a_reused_message_id_from_another_sender_is_filed(intake: Intake) -> None:
    intake.user.append("INBOX", mail("An <an@hospital.example>", "Which documents?",
                                     "Which documents do we need?", "same-id@hospital.example"))
    assert intake.poll().returncode == 0
    intake.user.append("INBOX", mail("Mallory <mallory@evil.example>", "Another question",
                                     "Is it possible to apply by post?",
                                     "same-id@hospital.example"))
    # A true copy (same sender, re-sent through another relay: other bytes) stays a duplicate.
    intake.user.append("INBOX", mail("An <an@hospital.example>", "Which documents?",
                                     "Which documents do we need?", "same-id@hospital.example",
                                     headers=(("Received", "from relay2.example by mx"),)))

    result = intake.poll()

    assert result.returncode == 0, result.stderr
    assert "1 filed, 0 kept without a case, 1 duplicate" in result.stdout
    intake.smtp.wait_for(2)
    assert len(acks_to(intake, "mallory@evil.example")) == 1
    database = intake.database()
    with database.session() as s:
        outcomes = [r.outcome or "" for r in s.scalars(select(Ledger).order_by(Ledger.id))]
        cases = len(list(s.scalars(select(Case))))
    database.dispose()
    assert cases == 2
    assert "Message-ID also on ledger row" in outcomes[1]
    assert outcomes[2].startswith("same message as ledger row")
