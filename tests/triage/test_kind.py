"""Message kinds: automated, follow-up, new request, enquiry, other."""

from __future__ import annotations

from parsers.records import ExtractedDocument, FieldValue
from tests.triage.builders import document, extraction, field, mail, profile_rules
from triage.engine import triage_message
from triage.kind import thread_hints
from triage.threading import ThreadHints

RULES = profile_rules()


def kind_of(subject: str, body: str, *docs: ExtractedDocument,
            hints: ThreadHints | None = None, extra: str = "",
            body_fields: tuple[FieldValue, ...] = ()) -> tuple[str, tuple[str, ...],
                                                               tuple[str, ...]]:
    """Triage a message and return its kind, kind reasons and flags."""
    parsed = mail(subject, body, extra=extra)
    result = triage_message(parsed, extraction(*docs, body_fields=body_fields), RULES, "famhp",
                            hints)
    return result.kind, result.kind_reasons, result.flags


def test_automated_comes_first_even_with_a_case_reference() -> None:
    kind, reasons, _ = kind_of("Automatic reply: [DRG-2026-000123]", "I am out of the office.")
    assert kind == "automated"
    assert reasons[0].startswith("automated.out-of-office-subject-en")


def test_a_known_case_reference_makes_a_follow_up() -> None:
    kind, reasons, _ = kind_of("Re: [DRG-2026-000123] documents", "Here is Part 2.",
                               hints=ThreadHints("DRG-2026-000123", True))
    assert kind == "follow_up"
    assert reasons == ("cites case reference DRG-2026-000123 (known case)",)


def test_an_unknown_case_reference_makes_a_flagged_new_request() -> None:
    kind, reasons, flags = kind_of("Re: [DRG-2026-999999] documents", "Here is Part 1.",
                                   document("form_part1", "part1.pdf"),
                                   hints=ThreadHints("DRG-2026-999999", False))
    assert kind == "new_request"
    assert flags == ("unknown_case_ref",)
    assert reasons[0] == ("cites DRG-2026-999999, which names no known case "
                          "(kind.unknown_case_ref_kind)")


def test_a_reply_to_a_message_of_a_case_is_a_follow_up() -> None:
    kind, reasons, _ = kind_of("Re: your acknowledgement", "Attached the mandate.",
                               extra="In-Reply-To: <ack-1@fagg-afmps.be>",
                               hints=ThreadHints(thread_case="DRG-2026-000007"))
    assert kind == "follow_up"
    assert reasons == ("replies to a message of case DRG-2026-000007",)


def test_a_reply_to_an_unknown_message_is_judged_on_its_content() -> None:
    kind, _, _ = kind_of("Re: question", "Could you tell us which documents are needed?",
                         extra="In-Reply-To: <elsewhere@example.org>", hints=ThreadHints())
    assert kind == "enquiry"


def test_request_forms_make_a_new_request() -> None:
    kind, reasons, _ = kind_of("Compassionate Use – UZ Leuven – J.D.", "See attached.",
                               document("form_part1", "part1.pdf"))
    assert kind == "new_request"
    assert reasons == ("kind.request_documents: part1.pdf is form_part1",)


def test_enough_request_fields_in_the_body_make_a_new_request() -> None:
    fields = (field("device_name", "CardioFlow", None), field("device_model", "CF-2", None),
              field("patient_reference", "J.D.", None))
    kind, reasons, _ = kind_of("Device", "Device name: CardioFlow ...", body_fields=fields)
    assert kind == "new_request"
    assert reasons[0].startswith("kind.request_fields: 3 request fields given")


def test_request_words_make_a_new_request() -> None:
    kind, _, _ = kind_of("Derogation", "We hereby request a derogation for the FlowGuard "
                                       "device.")
    assert kind == "new_request"


def test_questions_without_request_evidence_make_an_enquiry() -> None:
    for subject, body in [
        ("Question", "Could you tell me which documents are needed for a derogation?"),
        ("Question", "Pourriez-vous m'indiquer quels documents sont nécessaires ?"),
        ("Vraag", "Is het mogelijk om de aanvraag in het Engels in te dienen?"),
        ("Frage", "Ist es möglich, den Antrag auf Englisch einzureichen? Welche Unterlagen?"),
    ]:
        kind, _, _ = kind_of(subject, body)
        assert kind == "enquiry", body


def test_neither_request_nor_question_is_other() -> None:
    kind, reasons, _ = kind_of("Thanks", "Thank you, have a nice day.")
    assert kind == "other"
    assert reasons == ("no request form, request fields, request or question words",)


def test_thread_hints_are_built_from_the_callers_lookups() -> None:
    parsed = mail("Re: [DRG-2026-000123] Part 2", "Here it is.",
                  extra="In-Reply-To: <ack-9@fagg-afmps.be>")
    hints = thread_hints(parsed, RULES, {"DRG-2026-000123"},
                         {"ack-9@fagg-afmps.be": "DRG-2026-000123"},
                         {"DRG-2026-000123": "compassionate_use"})
    assert hints == ThreadHints("DRG-2026-000123", True, "DRG-2026-000123", "compassionate_use")
    unknown = thread_hints(parsed, RULES, set(), {})
    assert unknown == ThreadHints("DRG-2026-000123", False, None, None)
