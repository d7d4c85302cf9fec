"""Acknowledgements as applicants receive them, end to end on Dovecot, aiosmtpd and the CLI.

Each test drives the real `poll --once` in a subprocess and looks at what left through the
SMTP server (template, language, threading, loop protection) and what the reviewer finds
in the database (cases, their events, the ledger).
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from storage.models import Case, CaseEvent, CaseMessage, Ledger, OutgoingMessage
from tests.intake.e2e import MESSAGES, REPO, Intake, labelled, write_settings
from tests.servers import MailboxUser, SmtpServer

FORMS = REPO / "tests" / "fixtures" / "forms"
TEMPLATES = REPO / "config" / "profiles" / "famhp" / "templates"
OURS = "derogation.meddev@fagg-afmps.be"
REF = re.compile(r"DRG-\d{4}-\d{6}")

FR_COMPLETE = "cu_fr_complete_flat"
FR_INCOMPLETE = "cu_fr_missing_part2"
NL_INCOMPLETE = "cu_nl_part2_unsigned"
FR_ENQUIRY = "enq_fr_documents"
NL_ENQUIRY = "enq_nl_documents"
FIRST_BATCH = (FR_COMPLETE, NL_INCOMPLETE, FR_ENQUIRY, NL_ENQUIRY)


# --- reading what the applicant received ---------------------------------------------------

def parse(data: bytes) -> EmailMessage:
    """Parse a message as a mail client would."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def ids(value: object) -> list[str]:
    """Return the message ids of an In-Reply-To or References value, in order."""
    return re.findall(r"<[^<>\s]+>", str(value or ""))


def plain_text(msg: EmailMessage) -> str:
    """Return the plain-text body with its line wrapping undone (what a reader takes in)."""
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return " ".join(str(body.get_content()).split())


def acks_by_parent(smtp: SmtpServer) -> dict[str, EmailMessage]:
    """Return every acknowledgement the SMTP server received, by the id it answers."""
    acks: dict[str, EmailMessage] = {}
    for mail in smtp.received:
        ack = parse(mail.data)
        parent = str(ack["In-Reply-To"]).strip()
        assert parent not in acks, f"two acknowledgements answer {parent}"
        acks[parent] = ack
    return acks


def expected(name: str) -> dict[str, object]:
    """Return the labels of a fixture message."""
    loaded: dict[str, object] = json.loads(
        (MESSAGES / f"{name}.expected.json").read_text(encoding="utf-8"))
    return loaded


def explanations(language: str) -> dict[str, str]:
    """Return the localised explanation of every checklist item (what the reply lists)."""
    strings = tomllib.loads((TEMPLATES / language / "strings.toml").read_text(encoding="utf-8"))
    return {key: " ".join(text.split()) for key, text in strings["checklist"].items()}


# --- what we send them ------------------------------------------------------------------------

def reply_to(original: EmailMessage, subject: str, body: str, *, sender: str,
             message_id: str, attachment: Path | None = None,
             extra_headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """Build what a mail client sends when someone answers ``original``."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = OURS
    msg["Subject"] = subject
    msg["Date"] = "Mon, 16 Nov 2026 14:05:00 +0100"
    msg["Message-ID"] = f"<{message_id}>"
    msg["In-Reply-To"] = str(original["Message-ID"])
    msg["References"] = " ".join([*ids(original["References"]), str(original["Message-ID"])])
    for name, value in extra_headers:
        msg[name] = value
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment.read_bytes(), maintype="application", subtype="pdf",
                           filename=attachment.name)
    return msg.as_bytes(policy=email.policy.SMTP)


def out_of_office(ack: EmailMessage) -> bytes:
    """Return the applicant's real out-of-office text, sent as an auto-reply to our ack."""
    ooo = parse(labelled("auto_ooo_fr"))
    for name in ("Subject", "In-Reply-To", "References", "Auto-Submitted"):
        del ooo[name]
    ooo["Subject"] = f"Réponse automatique : {ack['Subject']}"
    ooo["Auto-Submitted"] = "auto-replied"
    ooo["In-Reply-To"] = str(ack["Message-ID"])
    ooo["References"] = " ".join([*ids(ack["References"]), str(ack["Message-ID"])])
    return ooo.as_bytes(policy=email.policy.SMTP)


# --- fixtures and checks ----------------------------------------------------------------------

def poll(intake: Intake) -> str:
    """Run one `poll --once`, require success, and return what it printed."""
    result = intake.poll()
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def case_refs_by_message(intake: Intake) -> dict[str, str]:
    """Return the case reference each received Message-ID was filed under."""
    database = intake.database()
    with database.session() as s:
        rows = s.execute(select(CaseMessage.message_id, Case.ref)
                         .join(Case, Case.id == CaseMessage.case_id)).all()
    database.dispose()
    return {str(mid): ref for mid, ref in rows}


def assert_threaded(ack: EmailMessage, original: EmailMessage) -> None:
    """The reply threads under the applicant's message and says it is automatic."""
    assert ids(ack["In-Reply-To"]) == [str(original["Message-ID"])]
    assert ids(ack["References"]) == [*ids(original["References"]),
                                      str(original["Message-ID"])]
    assert re.fullmatch(r"<[^@<>\s]+@fagg-afmps\.be>", str(ack["Message-ID"]))
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack["From"] == OURS
    assert ack["To"].addresses[0].addr_spec == original["From"].addresses[0].addr_spec


def assert_subject(ack: EmailMessage, ref: str, label: str, original_subject: str) -> None:
    """``[REF] <label> – <the applicant's subject>``, with the reference tagged once."""
    assert ack["Subject"] == f"[{ref}] {label} – {original_subject}"
    assert len(REF.findall(str(ack["Subject"]))) == 1


def assert_missing_explained(body: str, language: str, missing: list[str],
                             present: list[str]) -> None:
    """Every missing item is explained in the applicant's words; no present one is."""
    words = explanations(language)
    for item in missing:
        assert words[item] in body, (item, body)
    for item in present:
        assert words[item] not in body, (item, body)


# --- 1 and 2: the right reply to each message; none to an out-of-office -----------------------

def test_each_message_gets_its_acknowledgement_and_an_out_of_office_gets_none(
        intake: Intake) -> None:
    originals = {name: parse(labelled(name)) for name in FIRST_BATCH}
    for name in FIRST_BATCH:
        intake.user.append("INBOX", labelled(name))

    poll(intake)

    by_name, ref_of = _acks_of(intake, originals)
    _check_new_request_acks(by_name, originals, ref_of)
    _check_enquiry_acks(by_name, originals, ref_of)

    # The Dutch applicant answers with the signed Part 2; the French one is away and her
    # mail server answers our acknowledgement.
    nl_ack = by_name[NL_INCOMPLETE]
    follow_up = reply_to(
        nl_ack, f"Re: {nl_ack['Subject']}",
        "Goedemiddag,\n\nIn bijlage het ondertekende deel 2.\n\nMet vriendelijke groeten,\n"
        "Lotte Mertens\n", sender="Lotte Mertens <lotte.mertens@jessazh.be>",
        message_id="fu-nl-1@jessazh.be", attachment=FORMS / "part2_nl_fillable.pdf")
    ooo = out_of_office(by_name[FR_COMPLETE])
    for data in (follow_up, ooo):
        intake.user.append("INBOX", data)
    sent_before = len(intake.smtp.received)

    output = poll(intake)

    assert output.count("acknowledgement queued") == 1, output
    intake.smtp.wait_for(sent_before + 1)
    acks = acks_by_parent(intake.smtp)
    assert len(intake.smtp.received) == sent_before + 1  # the out-of-office got nothing
    _check_nl_follow_up_ack(acks[str(parse(follow_up)["Message-ID"])], parse(follow_up),
                            ref_of[NL_INCOMPLETE])
    _check_out_of_office_kept(intake, parse(ooo), ref_of[FR_COMPLETE])
    assert intake.user.folder_uids("INBOX") == []
    assert len(intake.user.folder_uids("Sent")) == len(intake.smtp.received)


def test_a_french_reply_to_our_acknowledgement_is_a_follow_up(intake: Intake) -> None:
    original = parse(labelled(FR_INCOMPLETE))
    intake.user.append("INBOX", labelled(FR_INCOMPLETE))
    poll(intake)
    by_name, ref_of = _acks_of(intake, {FR_INCOMPLETE: original})
    ack, ref = by_name[FR_INCOMPLETE], ref_of[FR_INCOMPLETE]
    assert_subject(ack, ref, "Accusé de réception", str(original["Subject"]))
    assert_missing_explained(plain_text(ack), "fr", ["form_part2", "physician_signature"],
                             present=["form_part1", "applicant_role", "device_identified"])
    # She answers from her mail client: the subject keeps our label "Accusé de réception",
    # which is also what some clients call a read receipt.
    follow_up = parse(reply_to(
        ack, f"RE: {ack['Subject']}",
        "Bonjour,\n\nVeuillez trouver ci-joint la partie 2 du formulaire.\n\nCordialement,\n"
        "Amélie Fontaine\n", sender="Amélie Fontaine <a.fontaine@qualitas-eurep.be>",
        message_id="fu-fr-1@qualitas-eurep.be", attachment=FORMS / "part2_fr_fillable.pdf"))
    intake.user.append("INBOX", follow_up.as_bytes(policy=email.policy.SMTP))

    output = poll(intake)

    assert f"filed {ref} (follow_up)" in output, output
    intake.smtp.wait_for(2)
    reply = acks_by_parent(intake.smtp)[str(follow_up["Message-ID"])]
    assert_threaded(reply, follow_up)
    assert_subject(reply, ref, "Accusé de réception", str(original["Subject"]))
    body = plain_text(reply)
    assert (f"Nous accusons réception de votre message relatif à la demande {ref}. "
            f"Il a été joint au dossier.") in body
    # Part 2 arrived unsigned: only the signature is still missing.
    assert_missing_explained(body, "fr", ["physician_signature"], present=["form_part2"])


def _acks_of(intake: Intake, originals: dict[str, EmailMessage]
             ) -> tuple[dict[str, EmailMessage], dict[str, str]]:
    """Return each original's acknowledgement and case reference, checking the common parts."""
    intake.smtp.wait_for(len(originals))
    assert len(intake.smtp.received) == len(originals)
    acks = acks_by_parent(intake.smtp)
    refs = case_refs_by_message(intake)
    by_name = {name: acks[str(msg["Message-ID"])] for name, msg in originals.items()}
    ref_of = {name: refs[str(msg["Message-ID"]).strip("<>")] for name, msg in originals.items()}
    for name, ack in by_name.items():
        assert_threaded(ack, originals[name])
        assert ack["Content-Language"] == expected(name)["language"]
    return by_name, ref_of


def _check_new_request_acks(acks: dict[str, EmailMessage], originals: dict[str, EmailMessage],
                            refs: dict[str, str]) -> None:
    """A complete French request and an incomplete Dutch one."""
    fr = acks[FR_COMPLETE]
    assert_subject(fr, refs[FR_COMPLETE], "Accusé de réception",
                   str(originals[FR_COMPLETE]["Subject"]))
    body = plain_text(fr)
    assert "Nous accusons réception de votre demande d'utilisation d'un dispositif" in body
    assert f"Elle a été enregistrée sous la référence {refs[FR_COMPLETE]}." in body
    assert "a trouvé dans votre demande tous les éléments requis" in body
    assert "Type de demande (tel que nous l'avons compris) : usage compassionnel" in body
    assert "Il nous manque encore" not in body

    nl = acks[NL_INCOMPLETE]
    assert_subject(nl, refs[NL_INCOMPLETE], "Ontvangstbevestiging",
                   str(originals[NL_INCOMPLETE]["Subject"]))
    body = plain_text(nl)
    assert "Wij bevestigen de ontvangst van uw aanvraag voor het gebruik van een medisch" in body
    assert f"Dossierreferentie: {refs[NL_INCOMPLETE]}" in body
    assert "Uw aanvraag is nog niet volledig. Wij hebben nog het volgende nodig:" in body
    missing = list(expected(NL_INCOMPLETE)["missing"])  # type: ignore[call-overload]
    assert missing == ["physician_signature"]
    assert_missing_explained(body, "nl", missing,
                             present=["form_part1", "form_part2", "device_identified"])
    # The incomplete request also carries an HTML alternative.
    assert nl.get_body(preferencelist=("html",)) is not None


def _check_enquiry_acks(acks: dict[str, EmailMessage], originals: dict[str, EmailMessage],
                        refs: dict[str, str]) -> None:
    """Enquiries get the enquiry text, which points to the forms, in their language."""
    fr, nl = acks[FR_ENQUIRY], acks[NL_ENQUIRY]
    assert_subject(fr, refs[FR_ENQUIRY], "Accusé de réception",
                   str(originals[FR_ENQUIRY]["Subject"]))
    assert_subject(nl, refs[NL_ENQUIRY], "Ontvangstbevestiging",
                   str(originals[NL_ENQUIRY]["Subject"]))
    fr_body, nl_body = plain_text(fr), plain_text(nl)
    assert (f"Nous accusons réception de votre message, enregistré sous la référence "
            f"{refs[FR_ENQUIRY]}. Un membre de notre équipe vous répondra") in fr_body
    assert (f"Wij bevestigen de ontvangst van uw bericht, dat geregistreerd werd onder de "
            f"referentie {refs[NL_ENQUIRY]}. Een medewerker zal u zo snel mogelijk "
            f"antwoorden.") in nl_body
    for body in (fr_body, nl_body):
        assert "Il nous manque" not in body and "nog niet volledig" not in body


def _check_nl_follow_up_ack(ack: EmailMessage, follow_up: EmailMessage, ref: str) -> None:
    """The follow-up joins its case; the reply gives the checklist as it now stands."""
    assert_threaded(ack, follow_up)
    # The request, our acknowledgement, the follow-up.
    assert len(ids(ack["References"])) == 3
    assert_subject(ack, ref, "Ontvangstbevestiging",
                   str(parse(labelled(NL_INCOMPLETE))["Subject"]))
    body = plain_text(ack)
    assert (f"Wij bevestigen de ontvangst van uw bericht over aanvraag {ref}. "
            f"Het werd aan het dossier toegevoegd.") in body
    assert "Ontvangen documenten: - part2_nl_fillable.pdf" in body
    assert "Alle vereiste elementen van uw aanvraag zijn nu ontvangen." in body
    assert "nog niet volledig" not in body


def _check_out_of_office_kept(intake: Intake, ooo: EmailMessage, ref: str) -> None:
    """The out-of-office is kept, done on the ledger and linked to its case as automated."""
    message_id = str(ooo["Message-ID"]).strip("<>")
    database = intake.database()
    with database.session() as s:
        ledger = s.scalars(select(Ledger).where(Ledger.message_id == message_id)).one()
        linked = s.execute(select(CaseMessage.role, CaseMessage.kind, Case.ref)
                           .join(Case, Case.id == CaseMessage.case_id)
                           .where(CaseMessage.message_id == message_id)).one()
        queued = s.scalars(select(OutgoingMessage).join(Case, Case.id == OutgoingMessage.case_id)
                           .where(Case.ref == ref)).all()
    database.dispose()
    assert ledger.state == "done"
    assert tuple(linked) == ("automated", "automated", ref)
    assert [row.state for row in queued] == ["sent"]  # the original acknowledgement only


# --- 3: one sender, fifty messages, a handful of replies --------------------------------------

SPAMMER = "jan.peeters@azgroeninge.be"


def burst(count: int) -> Iterator[bytes]:
    """Yield distinct small requests and enquiries from one address within one minute."""
    for n in range(count):
        msg = EmailMessage()
        msg["From"] = f"Jan Peeters <{SPAMMER}>"
        msg["To"] = OURS
        msg["Date"] = f"Mon, 16 Nov 2026 09:12:{n % 60:02d} +0100"
        msg["Message-ID"] = f"<burst-{n}@azgroeninge.be>"
        if n % 2:
            msg["Subject"] = f"Vraag {n} over de procedure"
            msg.set_content(f"Goedendag,\n\nHoe lang duurt de behandeling van aanvraag {n}?\n")
        else:
            msg["Subject"] = f"Compassionate Use – AZ Groeninge – P.{n}."
            msg.set_content(f"Geachte,\n\nHierbij onze aanvraag voor patiënt P.{n}. "
                            "De formulieren volgen.\n")
        yield msg.as_bytes(policy=email.policy.SMTP)


def test_fifty_messages_from_one_sender_get_at_most_the_rate_limit_of_replies(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer,
        db_url: str) -> None:
    config = write_settings(tmp_path, mailbox_user, smtp_server, db_url,
                            extra="\n[replies]\nrate_limit_count = 3\n")
    intake = Intake(config, mailbox_user, smtp_server, db_url)
    for data in burst(50):
        mailbox_user.append("INBOX", data)

    output = poll(intake)

    assert "50 filed, 0 kept without a case, 0 duplicate, 0 failed" in output, output
    smtp_server.wait_for(3)
    to_sender = [m for m in smtp_server.received if SPAMMER in m.rcpt_tos]
    assert len(to_sender) == 3 == len(smtp_server.received)
    assert mailbox_user.folder_uids("INBOX") == []
    assert len(mailbox_user.folder_uids("Processed")) == 50
    database = intake.database()
    with database.session() as s:
        cases = s.scalars(select(Case)).all()
        suppressed = s.scalars(select(CaseEvent).where(
            CaseEvent.action == "acknowledgement_suppressed")).all()
        outbox = Counter(s.scalars(select(OutgoingMessage.state)))
    database.dispose()
    assert len(cases) == 50
    assert outbox == Counter(sent=3)
    assert len({e.case_id for e in suppressed}) == len(suppressed) == 47
    for event in suppressed:
        assert event.detail["flag"] == "rate_limited"
        assert str(event.detail["reason"]).startswith("rate limit: 3 acknowledgements")
