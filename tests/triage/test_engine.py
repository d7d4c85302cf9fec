"""A case is re-checked over all its messages as follow-ups bring what was missing."""

from __future__ import annotations

from tests.triage.builders import document, extraction, field, mail, profile_rules, signature
from triage.engine import best_fields, retriage_case, triage_message
from triage.threading import ThreadHints

RULES = profile_rules()
SUBJECT = "Compassionate Use – UZ Leuven – J.D."


def test_a_follow_up_completes_its_case() -> None:
    part1 = document("form_part1", "part1.pdf", (
        field("applicant_role", "mandated_third_party"), field("device_name", "CardioFlow"),
        field("device_reference", "CF-200"), field("regulation", "MDR")))
    request = triage_message(mail(SUBJECT, "Please find attached our request."),
                             extraction(part1), RULES, "famhp")
    assert request.missing == ("form_part2", "physician_signature", "mandate_proof",
                               "justification")

    part2 = document("form_part2", "part2.pdf", (
        field("justification", "No alternative.", "part2.pdf"),),
        signatures=(signature("part2.pdf", True),))
    follow_up = triage_message(
        mail("Re: [DRG-2026-000123] Part 2 and mandate", "Here are the missing documents."),
        extraction(part2, document("mandate", "mandate.pdf")), RULES, "famhp",
        ThreadHints("DRG-2026-000123", True, None, "compassionate_use"))
    assert follow_up.kind == "follow_up"
    assert follow_up.case_ref == "DRG-2026-000123"
    assert follow_up.request_type.value == "compassionate_use"
    assert follow_up.request_type.reasons == ("request type of case DRG-2026-000123",)

    case = retriage_case([request, follow_up], SUBJECT, RULES)
    assert case.request_type == "compassionate_use"
    assert case.regulation.value == "MDR"
    assert case.missing == ()
    assert {i.id: i.evidence for i in case.checklist}["mandate_proof"] == "mandate.pdf"


def test_the_best_value_per_field_is_the_most_confident_then_the_first() -> None:
    body = field("device_name", "Cardio flow", None, confidence=0.8)
    form = field("device_name", "CardioFlow", "part1.pdf", confidence=0.95)
    other = field("device_name", "CardioFlow X", "part2.pdf", confidence=0.95)
    empty = field("device_model", "  ", "part1.pdf", confidence=0.99)
    chosen = best_fields([body, form, other, empty])
    assert chosen == {"device_name": form}


def test_an_enquiry_gets_no_request_type_and_no_checklist() -> None:
    result = triage_message(mail("Question", "Could you tell me which documents are needed?"),
                            extraction(), RULES, "famhp")
    assert result.kind == "enquiry"
    assert result.request_type.value is None
    assert result.checklist == ()
    assert result.would_acknowledge is True


def test_other_messages_are_not_acknowledged() -> None:
    result = triage_message(mail("Thanks", "Thank you, have a nice day."), extraction(),
                            RULES, "famhp")
    assert result.kind == "other"
    assert result.would_acknowledge is False
    assert result.acknowledge_reasons == ("other messages are not acknowledged "
                                          "(acknowledge.kinds)",)


def test_the_ansm_profile_files_a_global_derogation_with_its_own_checklist() -> None:
    ansm = profile_rules("ansm")
    form = document("national_form", "demande.pdf", (
        field("manufacturer_name", "Helix SAS", "demande.pdf"),
        field("device_name", "GlauDrain", "demande.pdf"),
        field("device_model", "GD-2", "demande.pdf"),
        field("regulation", "MDR", "demande.pdf"),
        field("intended_purpose", "Glaucome réfractaire", "demande.pdf"),
        field("quantity", "40", "demande.pdf"),
        field("justification", "Aucune alternative.", "demande.pdf")))
    parsed = mail("Demande de dérogation globale – GlauDrain",
                  "Madame, Monsieur, nous sollicitons une dérogation globale pour tout patient "
                  "répondant aux critères décrits dans la demande ci-jointe.")
    result = triage_message(parsed, extraction(form), ansm, "ansm")
    assert result.kind == "new_request"
    assert result.language.value == "fr"
    assert result.request_type.value == "global_derogation"
    assert result.missing == ("validity_period", "safety_performance_data")
