"""Automated-mail words in real requests, and an out-of-office with a logo, end to end.

Words that auto-replies use ("CE-markering afwezig", "patient on holiday") are ordinary words
in this mailbox: beside a request form they must not keep a request without a case. A
header-less out-of-office whose signature shows an inline logo stays automated: no
acknowledgement, no urgency, no change to what the case waits for. Every message kept
without a case is listed in the digest with the reason.
"""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

from sqlalchemy import select

from storage.models import Case, CaseMessage, Ledger
from tests.intake.e2e import REPO, Intake, labelled

FORMS = REPO / "tests" / "fixtures" / "forms"
PART1 = (FORMS / "part1_nl_fillable.pdf").read_bytes()
LOGO = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def request_with_form(subject: str, message_id: str, sender: str) -> bytes:
    """A Dutch request whose subject holds words an auto-reply also uses."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "derogation.meddev@fagg-afmps.be"
    msg["Subject"] = subject
    msg["Date"] = "Tue, 17 Nov 2026 10:00:00 +0100"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content("Geachte,\n\nIn bijlage vindt u onze aanvraag (deel 1).\n\nAn Claes\n")
    msg.add_attachment(PART1, maintype="application", subtype="pdf",
                       filename="Deel1_aanvraag.pdf")
    return msg.as_bytes(policy=email.policy.SMTP)


def out_of_office_with_logo(in_reply_to: str | None) -> bytes:
    """An Outlook out-of-office without any automatic header, its signature logo inline."""
    msg = EmailMessage()
    msg["From"] = "Camille Arnaud <c.arnaud@oculix-surgical.fr>"
    msg["To"] = "derogation.meddev@fagg-afmps.be"
    msg["Subject"] = "Absence"
    msg["Date"] = "Tue, 17 Nov 2026 10:05:00 +0100"
    msg["Message-ID"] = "<ooo-logo-1@oculix-surgical.fr>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    text = ("Bonjour,\n\nJe suis absente du bureau jusqu'au 30 novembre. En cas d'urgence, "
            "veuillez contacter le secrétariat.\n\nCamille Arnaud\n")
    msg.set_content(text)
    msg.add_alternative("<p>Je suis absente du bureau jusqu'au 30 novembre. En cas "
                        "d'urgence, veuillez contacter le secr&eacute;tariat.</p>"
                        "<p><img src=\"cid:image001.png@01DB3A\"></p>", subtype="html")
    msg.get_payload()[1].add_related(LOGO, maintype="image", subtype="png",
                                     cid="<image001.png@01DB3A>", filename="image001.png",
                                     disposition="inline")
    return msg.as_bytes(policy=email.policy.SMTP)


def test_requests_with_automated_words_are_filed_and_acknowledged(intake: Intake) -> None:
    subjects = ["CE-markering afwezig – aanvraag", "Patient on holiday abroad – request",
                "Dispositif non délivré en Belgique", "Delivery delay – derogation request",
                "Undeliverable stent: request"]
    for n, subject in enumerate(subjects):
        # One sender each: the same form twice from one sender is a duplicate submission.
        intake.user.append("INBOX", request_with_form(subject, f"words-{n}@azsintjan.be",
                                                      f"applicant{n}@azsintjan.be"))

    result = intake.poll()

    assert result.returncode == 0, result.stderr
    assert "5 filed, 0 kept without a case" in result.stdout
    acks = intake.smtp.wait_for(5)
    assert len(acks) == 5
    with intake.database().session() as s:
        assert len(list(s.scalars(select(Case)))) == 5


def test_an_out_of_office_with_a_logo_is_not_acknowledged_and_the_digest_says_why(
        intake: Intake) -> None:
    intake.user.append("INBOX", labelled("cu_fr_missing_part2"))
    assert intake.poll().returncode == 0
    ack = intake.smtp.wait_for(1)[0]
    ack_id = email.message_from_bytes(ack.data, policy=email.policy.default)["Message-ID"]
    intake.user.append("INBOX", out_of_office_with_logo(str(ack_id)))
    intake.user.append("INBOX", out_of_office_with_logo(None).replace(
        b"ooo-logo-1@", b"ooo-logo-2@"))

    result = intake.poll()

    assert result.returncode == 0, result.stderr
    assert len(intake.smtp.received) == 1  # no acknowledgement of either out-of-office
    database = intake.database()
    with database.session() as s:
        case = s.scalars(select(Case)).one()
        assert not case.urgent and case.status == "incomplete"
        roles = [m.role for m in s.scalars(select(CaseMessage).order_by(CaseMessage.id))]
        kept = s.scalars(select(Ledger).where(Ledger.case_id.is_(None))).one()
        assert kept.outcome is not None and kept.outcome.startswith("automated: not filed")
    database.dispose()
    assert roles == ["request", "automated"]
    digest = intake.run("report", "digest", "--text")
    assert digest.returncode == 0, digest.stderr
    kept_part = digest.stdout.split("KEPT WITHOUT A CASE")[1]
    assert "(1)" in kept_part and "c.arnaud@oculix-surgical.fr" in kept_part
    assert "automated.out-of-office-body-fr" in kept_part
    # The case still waits for the applicant: the out-of-office is not an answer.
    assert case.ref in digest.stdout.split("WAITING FOR THE APPLICANT")[1].split("NEEDS")[0]
