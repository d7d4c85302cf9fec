"""Triage of one message: kind, request type, checklist and acknowledgement."""

from __future__ import annotations

from tests.triage.builders import document, extraction, field, mail, profile_rules
from triage.engine import triage_message

RULES = profile_rules()


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
