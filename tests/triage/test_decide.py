"""Request type, regulation and urgency, each with the rules that decided it."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.triage.builders import document, field, profile_rules
from triage.decide import decide_regulation, decide_request_type, decide_urgency
from triage.nlp import find_cues

RULES = profile_rules()
ANSM = profile_rules("ansm")
SENT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_request_forms_make_a_compassionate_use_request() -> None:
    docs = [document("form_part1", "part1.pdf"), document("form_part2", "part2.pdf")]
    decision = decide_request_type(RULES, (), docs, {})
    assert decision.value == "compassionate_use"
    assert "request_type.cu-forms: part1.pdf is form_part1 (+5 compassionate_use)" in \
        decision.reasons


def test_the_national_form_makes_a_national_derogation() -> None:
    decision = decide_request_type(RULES, (), [document("national_form", "form.pdf")], {})
    assert decision.value == "national_derogation"


def test_words_in_dutch_decide_the_request_type() -> None:
    hits = find_cues("Aanvraag voor gebruik in schrijnende gevallen", "nl", RULES, "subject")
    decision = decide_request_type(RULES, hits, (), {})
    assert decision.value == "compassionate_use"
    assert any(r.startswith("request_type.cu-words-nl: 'schrijnende gevallen' in subject")
               for r in decision.reasons)


def test_a_request_without_cues_takes_the_profile_default() -> None:
    decision = decide_request_type(RULES, (), (), {})
    assert decision.value == "national_derogation"
    assert decision.reasons == ("no cue: default national_derogation",)


def test_ansm_tells_global_from_individual_derogations() -> None:
    text = "Demande de dérogation globale pour tout patient répondant aux critères."
    decision = decide_request_type(ANSM, find_cues(text, "fr", ANSM, "body"), (), {})
    assert decision.value == "global_derogation"
    individual = decide_request_type(ANSM, (), (), {"patient_reference": field(
        "patient_reference", "J.D.")})
    assert individual.value == "individual_derogation"


def test_the_regulation_field_decides() -> None:
    decision = decide_regulation(RULES, (), {"regulation": field("regulation", "IVDR")})
    assert decision.value == "IVDR"
    assert decision.reasons[0].startswith("regulation.field: regulation = IVDR (part1.pdf")


def test_a_risk_class_letter_means_ivdr() -> None:
    decision = decide_regulation(RULES, (), {"risk_class": field("risk_class", "C")})
    assert decision.value == "IVDR"
    assert decision.reasons[0].startswith("regulation.risk_class: risk class C")


def test_words_decide_the_regulation_whatever_the_tokeniser() -> None:
    for lang, text in [("en", "under Regulation (EU) 2017/746"), ("nl", "een in-vitro test"),
                       ("de", "nach Verordnung 2017/745.")]:
        decision = decide_regulation(RULES, find_cues(text, lang, RULES, "body"), {})
        expected = "MDR" if "745" in text else "IVDR"
        assert decision.value == expected, (text, decision)


def test_conflicting_words_leave_the_regulation_open() -> None:
    hits = find_cues("MDR or IVDR?", "en", RULES, "body")
    decision = decide_regulation(RULES, hits, {})
    assert decision.value is None
    assert decision.reasons[-1] == "cues conflict"


def test_a_planned_use_within_the_threshold_is_urgent() -> None:
    fields = {"intended_use_date": field("intended_use_date", "2026-03-10")}
    decision = decide_urgency(RULES, (), fields, SENT)
    assert decision.value == "yes"
    assert decision.reasons[0].startswith("urgency.date: intended_use_date 2026-03-10 is 8 "
                                          "days after the message (threshold 14 days")


def test_a_planned_use_beyond_the_threshold_is_not_urgent() -> None:
    fields = {"intended_use_date": field("intended_use_date", "2026-04-30")}
    decision = decide_urgency(RULES, (), fields, SENT)
    assert decision.value == "no"
    assert "59 days after" in decision.reasons[0]


def test_urgency_words_in_each_language() -> None:
    for lang, text in [("en", "URGENT: life-threatening condition"),
                       ("fr", "Le pronostic vital est engagé"), ("nl", "Spoedaanvraag"),
                       ("de", "Lebensbedrohlicher Zustand")]:
        decision = decide_urgency(RULES, find_cues(text, lang, RULES, "subject"), {}, SENT)
        assert decision.value == "yes", text


def test_a_negated_urgency_word_is_not_urgent() -> None:
    hits = find_cues("This request is not urgent.", "en", RULES, "body")
    decision = decide_urgency(RULES, hits, {}, SENT)
    assert decision.value == "no"
    assert decision.reasons == ("urgency.not-urgent: 'not urgent' in body (negation)",)
