"""Acknowledgements as the applicant's mail client receives them: headers, thread, words."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from config.templates import Strings, TemplateSet, load_templates, sample_contexts
from intake.replies.compose import (
    MAX_REFERENCES,
    OutgoingMail,
    choose_template,
    compose_acknowledgement,
    reply_context,
    reply_subject,
)
from parsers.records import FieldValue, ParsedMessage, Source
from triage.records import ChecklistItem, Decision, TriageResult

PROFILES = Path(__file__).resolve().parents[3] / "config" / "profiles"
REF = "DRG-2025-000123"
OURS = "derogation.meddev@fagg-afmps.be"
DOMAIN = "fagg-afmps.be"
NOW = datetime(2025, 3, 4, 10, 30, tzinfo=timezone(timedelta(hours=1)))
FAMHP_ITEMS = (
    "form_part1", "form_part2", "physician_signature", "applicant_role", "mandate_proof",
    "device_identified", "regulation_stated", "patient_reference", "justification",
    "subject_convention", "ifu", "clinical_data", "risk_analysis", "national_form", "scope",
    "ce_marking_plan", "institution_statement",
)

INCOMPLETE = (
    ChecklistItem("form_part1", "required", "present", "part1.pdf"),
    ChecklistItem("form_part2", "required", "missing", "no Part 2 found"),
    ChecklistItem("physician_signature", "required", "missing", "no Part 2 found"),
    ChecklistItem("mandate_proof", "required", "unclear", "mandate.pdf is encrypted"),
    ChecklistItem("patient_reference", "required", "present", "part1.pdf p.1"),
    ChecklistItem("ifu", "advisory", "missing", ""),
    ChecklistItem("clinical_data", "advisory", "present", "study.pdf"),
)
COMPLETE = tuple(replace(i, status="present") for i in INCOMPLETE)


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return load_templates(PROFILES / "famhp", checklist_ids=FAMHP_ITEMS,
                          request_types=("compassionate_use", "national_derogation"))


def message(**overrides: Any) -> ParsedMessage:
    """A compassionate-use request from a hospital pharmacist."""
    base: dict[str, Any] = {
        "message_id": "CAF1234.5678@mail.uzleuven.be",
        "in_reply_to": (),
        "references": (),
        "sender": "an.peeters@uzleuven.be",
        "sender_name": "An Peeters",
        "reply_to": None,
        "return_path": "an.peeters@uzleuven.be",
        "to": (OURS,),
        "cc": (),
        "subject": "Compassionate Use – UZ Leuven – J.D.",
        "date": NOW,
        "headers": (),
        "content_type": "multipart/mixed",
        "body_text": "Geachte, in bijlage vindt u onze aanvraag.",
        "body_html": None,
        "attachments": (),
    }
    return ParsedMessage(**{**base, **overrides})


def field(key: str, value: str) -> FieldValue:
    return FieldValue(key, value, value, Source("part1.pdf", "0" * 64, "acroform"),
                      f"famhp.label.{key}#0", 0.9)


def triage(**overrides: Any) -> TriageResult:
    base: dict[str, Any] = {
        "kind": "new_request",
        "kind_reasons": ("request-nl",),
        "language": Decision("nl"),
        "authority": "famhp",
        "request_type": Decision("compassionate_use"),
        "regulation": Decision("MDR"),
        "urgent": Decision("no"),
        "case_ref": None,
        "fields": {"device_name": field("device_name", "CardioFlow 3"),
                   "patient_reference": field("patient_reference", "J.D."),
                   "physician_name": field("physician_name", "Dr. Marc Wouters")},
        "all_fields": (),
        "documents": (),
        "checklist": INCOMPLETE,
        "would_acknowledge": True,
    }
    return TriageResult(**{**base, **overrides})


def compose(templates: TemplateSet, parsed: ParsedMessage | None = None,
            result: TriageResult | None = None, **overrides: Any) -> OutgoingMail:
    result = result or triage()
    args: dict[str, Any] = {
        "case_ref": REF,
        "template": choose_template(result, case_known=False),
        "documents_received": ["Part1_CardioFlow.pdf", "mandate.pdf"],
        "checklist": result.checklist,
        "templates": templates,
        "our_address": OURS,
        "our_domain": DOMAIN,
        "now": NOW,
    }
    return compose_acknowledgement(parsed or message(), result, **{**args, **overrides})


def parse(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def plain_body(mail: EmailMessage) -> str:
    """The plain-text body as read, with line breaks as spaces (paragraphs are wrapped)."""
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return " ".join(str(part.get_content()).split())


def test_dutch_request_gets_a_dutch_acknowledgement(templates: TemplateSet) -> None:
    out = compose(templates)
    mail = parse(out.raw)
    body = plain_body(mail)
    assert out.template == "new_incomplete"
    assert out.language == "nl"
    assert mail["Content-Language"] == "nl"
    assert mail["Subject"] == f"[{REF}] Ontvangstbevestiging – Compassionate Use – UZ Leuven – J.D."
    assert out.subject == mail["Subject"]
    assert f"Dossierreferentie: {REF}" in body
    assert 'gebruik in schrijnende gevallen ("compassionate use")' in body
    assert "deel 2 van het formulier, ingevuld door de behandelende arts" in body
    assert "de handtekening van de behandelende arts op deel 2 van het formulier" in body
    assert "het bewijs van het mandaat" in body and "konden het niet lezen" in body
    assert "de gebruiksaanwijzing van het hulpmiddel" in body  # advisory remark
    assert "klinische gegevens" not in body  # present advisory items are not mentioned
    assert "Part1_CardioFlow.pdf" in body and "mandate.pdf" in body
    assert "CardioFlow 3" in body
    assert "geen vergoeding" in body and OURS in body


def test_french_request_gets_french_explanations(templates: TemplateSet) -> None:
    out = compose(templates, result=triage(language=Decision("fr")))
    body = plain_body(parse(out.raw))
    assert out.language == "fr"
    assert "Accusé de réception" in out.subject
    assert "la partie 2 du formulaire, complétée par le médecin traitant" in body
    assert "la preuve du mandat (le contrat conclu avec le fabricant" in body
    assert "usage compassionnel" in body


def test_undetermined_language_is_answered_in_english(templates: TemplateSet) -> None:
    out = compose(templates, result=triage(language=Decision(None)))
    body = plain_body(parse(out.raw))
    assert out.language == "en"
    assert "Part 2 of the form, completed by the treating physician" in body


def test_complete_request(templates: TemplateSet) -> None:
    result = triage(checklist=COMPLETE, language=Decision("de"))
    out = compose(templates, result=result)
    body = plain_body(parse(out.raw))
    assert out.template == "new_complete"
    assert "alle erforderlichen Angaben und Unterlagen gefunden" in body
    assert "fehlen noch" not in body
    assert parse(out.raw).get_content_type() == "text/plain"  # no HTML shipped for it


def test_incomplete_request_carries_an_html_alternative(templates: TemplateSet) -> None:
    mail = parse(compose(templates).raw)
    assert mail.get_content_type() == "multipart/alternative"
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    assert "deel 2 van het formulier" in str(html.get_content())
    assert mail["Content-Language"] == "nl"


def test_no_patient_data_beyond_the_reference(templates: TemplateSet) -> None:
    out = compose(templates)
    text = parse(out.raw).as_string()
    assert "Dr. Marc Wouters" not in text
    assert "Marc Wouters" not in plain_body(parse(out.raw))


def test_headers_of_an_automatic_reply(templates: TemplateSet) -> None:
    out = compose(templates)
    mail = parse(out.raw)
    assert mail["From"] == OURS
    assert mail["To"] == "An Peeters <an.peeters@uzleuven.be>"
    assert out.recipient == "an.peeters@uzleuven.be"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["Date"].datetime == NOW
    assert mail["Message-ID"] == f"<{out.message_id}>"
    assert out.message_id.startswith(f"{REF}.") and out.message_id.endswith(f"@{DOMAIN}")
    assert b"\r\n" in out.raw and b"\n" not in out.raw.replace(b"\r\n", b"")


def test_message_ids_are_unique(templates: TemplateSet) -> None:
    assert compose(templates).message_id != compose(templates).message_id


def test_threading_headers(templates: TemplateSet) -> None:
    parsed = message(message_id="third@uzleuven.be",
                     in_reply_to=("<second@fagg-afmps.be>",),
                     references=("first@uzleuven.be", "second@fagg-afmps.be"))
    mail = parse(compose(templates, parsed).raw)
    assert mail["In-Reply-To"] == "<third@uzleuven.be>"
    assert mail["References"].split() == [
        "<first@uzleuven.be>", "<second@fagg-afmps.be>", "<third@uzleuven.be>"]


def test_references_from_in_reply_to_when_the_parent_has_none(templates: TemplateSet) -> None:
    parsed = message(message_id="b@x.be", in_reply_to=("a@x.be",), references=())
    mail = parse(compose(templates, parsed).raw)
    assert mail["References"].split() == ["<a@x.be>", "<b@x.be>"]


def test_no_thread_headers_without_a_parent_id(templates: TemplateSet) -> None:
    mail = parse(compose(templates, message(message_id=None)).raw)
    assert mail["In-Reply-To"] is None
    assert mail["References"] is None


def test_long_thread_keeps_the_root_and_the_latest(templates: TemplateSet) -> None:
    earlier = tuple(f"msg{n:02d}@uzleuven.be" for n in range(30))
    out = compose(templates, message(message_id="last@uzleuven.be", references=earlier))
    mail = parse(out.raw)
    ids = mail["References"].split()
    assert len(ids) == MAX_REFERENCES
    assert ids[0] == "<msg00@uzleuven.be>"
    assert ids[-2:] == ["<msg29@uzleuven.be>", "<last@uzleuven.be>"]
    header_lines = out.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 78 for line in header_lines)


def test_long_message_id_is_kept_intact(templates: TemplateSet) -> None:
    long_id = "AM0PR07MB" + "A1B2C3D4" * 12 + "@AM0PR07MB1234.eurprd07.prod.outlook.com"
    out = compose(templates, message(message_id=long_id, references=("root@x.be",)))
    mail = parse(out.raw)
    assert mail["In-Reply-To"] == f"<{long_id}>"
    assert mail["References"].split() == ["<root@x.be>", f"<{long_id}>"]
    assert b"=?" not in out.raw.split(b"\r\nReferences:", 1)[1].split(b"\r\nAuto-", 1)[0]


def test_unsafe_message_ids_are_not_repeated(templates: TemplateSet) -> None:
    parsed = message(message_id="ok@x.be",
                     references=("bad id@x.be", "evil@x.be>\r\nBcc: victim@x.be", "fine@x.be"))
    mail = parse(compose(templates, parsed).raw)
    assert mail["References"].split() == ["<fine@x.be>", "<ok@x.be>"]
    assert mail["Bcc"] is None


def test_reply_goes_to_the_author_not_to_reply_to(templates: TemplateSet) -> None:
    parsed = message(reply_to="Someone Else <victim@elsewhere.example>")
    out = compose(templates, parsed)
    mail = parse(out.raw)
    assert out.recipient == "an.peeters@uzleuven.be"
    assert mail["To"].addresses[0].addr_spec == "an.peeters@uzleuven.be"
    assert "victim@elsewhere.example" not in out.raw.decode("ascii", "replace")


def test_reply_goes_to_reply_to_when_a_setting_says_so(templates: TemplateSet) -> None:
    parsed = message(reply_to="Regulatory Affairs <ra@cardioflow.example>")
    out = compose(templates, parsed, use_reply_to=True)
    assert out.recipient == "ra@cardioflow.example"
    assert parse(out.raw)["To"] == "ra@cardioflow.example"


def test_a_reply_repeats_little_of_the_message_and_no_link(templates: TemplateSet) -> None:
    subject = "Compassionate use – see https://evil.example/login now " + "x" * 200
    device = field("device_name", "Go to www.evil.example to claim " + "y" * 100)
    names = [f"file{n}.pdf" for n in range(25)]
    out = compose(templates, message(subject=subject),
                  result=triage(fields={"device_name": device}), documents_received=names)
    mail = parse(out.raw)
    body = plain_body(mail)
    assert "evil.example" not in str(mail["Subject"]) and "evil.example" not in body
    assert len(str(mail["Subject"]).split(" – ", 1)[1]) <= 120
    assert "[link removed]" in str(mail["Subject"])
    assert re.findall(r"file\d+\.pdf", body) == names[:10]
    assert "… (+15)" in body
    assert "y" * 61 not in body


def test_no_reply_to_a_null_return_path(templates: TemplateSet) -> None:
    with pytest.raises(ValueError, match="no usable recipient"):
        compose(templates, message(return_path=""))


def test_no_reply_without_a_sender(templates: TemplateSet) -> None:
    with pytest.raises(ValueError, match="no usable recipient"):
        compose(templates, message(sender=None, reply_to=None))


def test_naive_time_is_refused(templates: TemplateSet) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compose(templates, now=datetime(2025, 3, 4, 10, 30))


def test_tag_appears_once_after_three_rounds(templates: TemplateSet) -> None:
    first = compose(templates)
    subject = first.subject
    for prefix in ("Re: ", "RE: AW: ", "Antw: Fwd: TR: "):
        subject = compose(templates, message(subject=prefix + subject)).subject
    assert subject == first.subject
    assert subject.count(f"[{REF}]") == 1
    assert subject.count("Ontvangstbevestiging") == 1
    assert f"[{REF}] [{REF}]" not in subject


def test_reply_in_another_language_replaces_our_label(templates: TemplateSet) -> None:
    first = compose(templates)  # Dutch
    again = compose(templates, message(subject="Re: " + first.subject),
                    result=triage(language=Decision("fr")))
    assert again.subject == f"[{REF}] Accusé de réception – Compassionate Use – UZ Leuven – J.D."


def test_subject_keeps_other_references_and_the_applicants_words() -> None:
    labels = frozenset({"Acknowledgement of receipt"})
    subject = reply_subject(REF, "Acknowledgement of receipt",
                            f"RE: answers for [{REF.lower()}] and [DRG-2024-000001]", labels)
    assert subject == f"[{REF}] Acknowledgement of receipt – answers for and [DRG-2024-000001]"


def test_empty_subject() -> None:
    assert reply_subject(REF, "Eingangsbestätigung", "  Re:  ", frozenset()) == \
        f"[{REF}] Eingangsbestätigung"


def test_header_injection_through_the_subject_is_impossible(templates: TemplateSet) -> None:
    evil = "Compassionate Use\r\nBcc: victim@example.com\r\n\r\nInjected body\x00\x1b[31m"
    out = compose(templates, message(subject=evil, sender_name="An\nCc: x@example.com"))
    mail = parse(out.raw)
    assert sorted(mail.keys()) == sorted([
        "From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
        "Auto-Submitted", "X-Auto-Response-Suppress", "MIME-Version", "Content-Type",
        "Content-Language"])
    assert mail["Bcc"] is None and mail["Cc"] is None
    assert mail["Subject"] == (f"[{REF}] Ontvangstbevestiging – Compassionate Use "
                               "Bcc: [link removed] Injected body[31m")
    assert "\x00" not in mail["Subject"] and "\x1b" not in mail["Subject"]
    assert mail["To"].addresses[0].addr_spec == "an.peeters@uzleuven.be"
    assert "Injected body" not in plain_body(mail)


def test_non_ascii_subject_is_encoded_and_decodes_back(templates: TemplateSet) -> None:
    original = "Demande d'usage compassionnel – Hôpital Érasme – Ü.Ö."
    out = compose(templates, message(subject=original), result=triage(language=Decision("fr")))
    headers = out.raw.split(b"\r\n\r\n", 1)[0]
    headers.decode("ascii")  # every header is 7-bit on the wire
    assert b"=?utf-8?" in headers
    assert parse(out.raw)["Subject"] == f"[{REF}] Accusé de réception – {original}"


def test_follow_up_to_a_known_case(templates: TemplateSet) -> None:
    result = triage(kind="follow_up", case_ref=REF, language=Decision("en"),
                    checklist=COMPLETE)
    template = choose_template(result, case_known=True)
    out = compose(templates, message(subject=f"RE: [{REF}] Acknowledgement of receipt – "
                                             "Compassionate Use – UZ Leuven – J.D."),
                  result, template=template, documents_received=["Part2_signed.pdf"])
    body = plain_body(parse(out.raw))
    assert template == "follow_up"
    assert "added to the case file" in body
    assert "Part2_signed.pdf" in body
    assert "Every required item of your request has now been received" in body
    assert out.subject.count(f"[{REF}]") == 1


def test_message_citing_an_unknown_reference(templates: TemplateSet) -> None:
    result = triage(kind="follow_up", case_ref="DRG-2024-999999", language=Decision("de"))
    template = choose_template(result, case_known=False)
    out = compose(templates, result=result, template=template)
    body = plain_body(parse(out.raw))
    assert template == "unknown_ref"
    # Whether a reference names a case is never told to the sender: not even repeated.
    assert "DRG-2024-999999" not in body
    assert f"unter dem Aktenzeichen {REF} registriert" in body


def test_enquiry(templates: TemplateSet) -> None:
    result = triage(kind="enquiry", checklist=(), request_type=Decision(None),
                    language=Decision("fr"))
    template = choose_template(result, case_known=False)
    out = compose(templates, result=result, template=template, documents_received=[])
    body = plain_body(parse(out.raw))
    assert template == "enquiry"
    assert "Un membre de notre équipe vous répondra" in body
    assert REF in body


@pytest.mark.parametrize(("kind", "case_ref", "known", "checklist", "expected"), [
    ("new_request", None, False, INCOMPLETE, "new_incomplete"),
    ("new_request", None, False, COMPLETE, "new_complete"),
    ("new_request", None, False, (), "new_incomplete"),
    ("new_request", REF, True, INCOMPLETE, "follow_up"),
    ("new_request", REF, False, INCOMPLETE, "unknown_ref"),
    ("follow_up", REF, True, INCOMPLETE, "follow_up"),
    ("follow_up", None, True, INCOMPLETE, "follow_up"),
    ("follow_up", None, False, INCOMPLETE, "unknown_ref"),
    ("enquiry", None, False, (), "enquiry"),
    ("enquiry", REF, True, (), "follow_up"),
    ("enquiry", "DRG-2020-000001", False, (), "unknown_ref"),
    ("other", None, False, (), "enquiry"),
])
def test_choose_template(kind: str, case_ref: str | None, known: bool,
                         checklist: tuple[ChecklistItem, ...], expected: str) -> None:
    result = triage(kind=kind, case_ref=case_ref, checklist=checklist)
    assert choose_template(result, case_known=known) == expected


def test_automated_messages_have_no_template() -> None:
    with pytest.raises(ValueError, match="never acknowledged"):
        choose_template(triage(kind="automated"), case_known=False)


def test_templates_are_checked_at_load_with_the_context_replies_give() -> None:
    # The load-time smoke render must use exactly the keys a real reply provides.
    strings = Strings("Acknowledgement of receipt", {"compassionate_use": "compassionate use"},
                      {"form_part2": "Part 2"})
    given = reply_context(message(), triage(), case_ref=REF, documents=[], checklist=INCOMPLETE,
                          contact_address=OURS, now=NOW)
    assert {frozenset(c) for c in sample_contexts(strings)} == {frozenset(given)}
