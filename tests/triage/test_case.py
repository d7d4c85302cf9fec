"""The state of a case from its messages and reviewers: which value stands, what sticks."""

from __future__ import annotations

from config.vocabulary import CaseStatus, MessageRole
from parsers.records import ExtractedDocument, FieldValue
from tests.triage.builders import document, extraction, field, mail, profile_rules, signature
from triage.case import (
    CaseState,
    MessageFacts,
    ReviewerDecision,
    case_state,
    facts_of,
    message_fields,
)
from triage.engine import triage_message
from triage.kind import ThreadHints
from triage.records import Decision

RULES = profile_rules()
SUBJECT = "Compassionate Use – UZ Leuven – J.D."
CU = "compassionate_use"


def facts(*values: FieldValue, role: MessageRole = MessageRole.FOLLOW_UP,
          documents: tuple[ExtractedDocument, ...] = (), request_type: str | None = None,
          regulation: str | None = None, language: str | None = "en",
          urgent: tuple[str, ...] = ()) -> MessageFacts:
    """What one message says (a follow-up unless told otherwise)."""
    return MessageFacts(
        role=role, subject=SUBJECT, request_type=Decision(request_type, ("cue",)),
        regulation=Decision(regulation, ("cue",)), language=Decision(language, ("lingua",)),
        urgent=Decision("yes" if urgent else "no", urgent), fields=message_fields(values),
        documents=documents)


def request(*values: FieldValue, **more: object) -> MessageFacts:
    """The message that opens a compassionate-use case."""
    return facts(*values, role=MessageRole.REQUEST, request_type=CU, **more)  # type: ignore[arg-type]


def state(*messages: MessageFacts, corrections: tuple[FieldValue, ...] = (),
          decision: ReviewerDecision | None = None) -> CaseState:
    """The case's state."""
    return case_state(messages, corrections, decision, RULES)


def complete_request() -> MessageFacts:
    """A request that lacks nothing required."""
    part1 = document("form_part1", "part1.pdf")
    part2 = document("form_part2", "part2.pdf", signatures=(signature("part2.pdf", True),))
    return request(field("applicant_role", "manufacturer"), field("device_name", "CardioFlow"),
                   field("device_model", "CF-2"), field("regulation", "MDR"),
                   field("patient_reference", "J.D."), field("justification", "No alternative."),
                   documents=(part1, part2))


# --- which value stands -------------------------------------------------------------------


def test_the_newest_confident_value_stands_and_the_older_one_is_a_disagreement() -> None:
    case = state(request(field("quantity", "2", confidence=0.95)),
                 facts(field("quantity", "3", "part1-v2.pdf", confidence=0.85)))
    quantity = case.fields["quantity"]
    assert quantity.value.value == "3"
    assert quantity.message == 1
    assert [v.value for v in quantity.disagreements] == ["2"]
    assert not quantity.corrected


def test_a_newer_guess_does_not_replace_a_confident_value_but_is_shown() -> None:
    case = state(request(field("device_name", "CardioFlow", confidence=0.95)),
                 facts(field("device_name", "Cardio flow", None, confidence=0.6)))
    assert case.values["device_name"].value == "CardioFlow"
    assert case.fields["device_name"].message == 0
    assert [v.value for v in case.fields["device_name"].disagreements] == ["Cardio flow"]


def test_when_no_message_is_confident_the_most_confident_guess_stands() -> None:
    case = state(request(field("patient_reference", "J.D.", confidence=0.65)),
                 facts(field("patient_reference", "JD", confidence=0.5)))
    assert case.values["patient_reference"].value == "J.D."


def test_three_messages_the_last_statement_stands_and_each_other_value_is_listed_once() -> None:
    case = state(request(field("device_model", "CF-1")),
                 facts(field("device_model", "CF-2")),
                 facts(field("device_model", "CF-1"), field("device_name", "CardioFlow")))
    model = case.fields["device_model"]
    # The third message states CF-1 again: it stands, from that message.
    assert (model.value.value, model.message) == ("CF-1", 2)
    assert [v.value for v in model.disagreements] == ["CF-2"]
    assert case.values["device_name"].value == "CardioFlow"
    assert case.fields["device_name"].disagreements == ()


def test_a_message_states_its_most_confident_candidate_the_first_on_a_tie() -> None:
    body = field("device_name", "Cardio flow", None, confidence=0.8)
    form = field("device_name", "CardioFlow", "part1.pdf", confidence=0.95)
    other = field("device_name", "CardioFlow X", "part2.pdf", confidence=0.95)
    empty = field("device_model", "  ", "part1.pdf", confidence=0.99)
    assert message_fields([body, form, other, empty]) == {"device_name": form}


def test_a_reviewer_correction_stands_over_any_later_message() -> None:
    corrected = FieldValue("device_name", "CardioFlow Pro", "CardioFlow Pro",
                           field("device_name", "x").source, "reviewer", 1.0)
    case = state(request(field("device_name", "CardioFlow")),
                 facts(field("device_name", "CardioFlow 2")), corrections=(corrected,))
    name = case.fields["device_name"]
    assert name.value == corrected and name.corrected
    assert name.extracted is not None and name.extracted.value == "CardioFlow 2"
    assert [v.value for v in name.disagreements] == ["CardioFlow 2", "CardioFlow"]


def test_a_reviewer_may_give_a_value_no_message_states() -> None:
    given = FieldValue("udi_di", "0541234", "0541234", field("udi_di", "x").source, "reviewer",
                       1.0)
    case = state(request(), corrections=(given,))
    assert case.values == {"udi_di": given}
    assert case.fields["udi_di"].extracted is None


# --- what sticks --------------------------------------------------------------------------


def test_request_type_and_language_stick_regulation_follows_the_newest_word() -> None:
    case = state(request(language="nl", regulation="MDR"),
                 facts(request_type="national_derogation", language="fr", regulation="IVDR"),
                 facts(language=None))
    assert case.request_type.value == CU
    assert case.language.value == "nl"
    assert case.regulation.value == "IVDR"


def test_the_regulation_field_that_stands_decides_the_regulation() -> None:
    case = state(request(field("regulation", "MDR")), facts(regulation="IVDR"),
                 facts(field("regulation", "IVDR"), field("risk_class", "C")))
    assert case.regulation.value == "IVDR"
    assert case.regulation.reasons[0] == "from the case's fields"
    corrected = FieldValue("regulation", "MDR", "MDR", field("regulation", "x").source,
                           "reviewer", 1.0)
    again = state(request(field("regulation", "IVDR")), corrections=(corrected,))
    assert again.regulation.value == "MDR"


def test_urgency_sticks_with_every_reason() -> None:
    case = state(request(urgent=("body: 'urgent'",)), facts(),
                 facts(urgent=("urgency.date: within 3 days",)))
    assert case.urgent == Decision("yes", ("body: 'urgent'", "urgency.date: within 3 days"))
    assert state(request(), facts()).urgent.value == "no"


def test_auto_replies_and_duplicates_decide_nothing() -> None:
    bounce = facts(field("device_name", "MAILER-DAEMON"), role=MessageRole.AUTOMATED,
                   urgent=("subject: 'urgent'",), documents=(document("mandate", "m.pdf"),))
    again = facts(field("device_name", "Other"), role=MessageRole.DUPLICATE)
    alone = state(request(field("device_name", "CardioFlow")))
    case = state(request(field("device_name", "CardioFlow")), bounce, again)
    assert case == alone


# --- checklist, missing and status --------------------------------------------------------


def test_a_follow_up_completes_its_case() -> None:
    part1 = document("form_part1", "part1.pdf", (
        field("applicant_role", "mandated_third_party"), field("device_name", "CardioFlow"),
        field("device_reference", "CF-200"), field("regulation", "MDR")))
    first = triage_message(mail(SUBJECT, "Please find attached our request."),
                           extraction(part1), RULES, "famhp")
    opened = state(facts_of(first, MessageRole.REQUEST, SUBJECT))
    assert opened.missing == ("form_part2", "physician_signature", "mandate_proof",
                              "justification")
    assert opened.status == CaseStatus.INCOMPLETE

    part2 = document("form_part2", "part2.pdf", (
        field("justification", "No alternative.", "part2.pdf"),),
        signatures=(signature("part2.pdf", True),))
    second = triage_message(
        mail("Re: [DRG-2026-000123] Part 2 and mandate", "Here are the missing documents."),
        extraction(part2, document("mandate", "mandate.pdf")), RULES, "famhp",
        ThreadHints("DRG-2026-000123", True, None, CU))
    case = state(facts_of(first, MessageRole.REQUEST, SUBJECT),
                 facts_of(second, MessageRole.FOLLOW_UP, second.case_ref or ""))
    assert (case.request_type.value, case.regulation.value) == (CU, "MDR")
    assert case.missing == () and case.complete
    assert case.status == CaseStatus.COMPLETE and case.status_reason == "nothing missing"
    assert {i.id: i.evidence for i in case.checklist}["mandate_proof"] == "mandate.pdf"


def test_a_reviewers_incomplete_with_a_reason_sticks_over_a_complete_checklist() -> None:
    decision = ReviewerDecision(CaseStatus.INCOMPLETE, "alice", "Part 2 signed by a nurse")
    case = state(complete_request(), facts(field("quantity", "2")), decision=decision)
    assert case.missing == ()
    assert case.status == CaseStatus.INCOMPLETE
    assert case.status_reason == "decided by alice: Part 2 signed by a nurse"
    assert state(complete_request()).status == CaseStatus.COMPLETE


def test_a_granted_case_stays_granted_when_a_follow_up_lacks_something() -> None:
    decision = ReviewerDecision(CaseStatus.GRANTED, "bob", "authorised for one patient")
    unreadable = document("other", "scan.pdf", error="encrypted")
    case = state(complete_request(), facts(documents=(unreadable,)), decision=decision)
    assert case.status == CaseStatus.GRANTED


def test_an_enquiry_stays_an_enquiry_without_a_checklist() -> None:
    case = state(facts(role=MessageRole.ENQUIRY), facts())
    assert (case.checklist, case.status) == ((), CaseStatus.ENQUIRY)
    assert state(facts(role=MessageRole.OTHER)).status == CaseStatus.INCOMPLETE
