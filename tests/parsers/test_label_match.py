"""Printed labels matched by their words (parsers/label_match.py) and files cut into parts."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from config.extraction_rules import ExtractionRules, load_extraction_rules
from parsers.label_match import close_labels
from parsers.labels import (
    derived_values,
    label_value,
    match_label,
    split_line,
    stated_regulation,
    stated_role,
)
from parsers.parts import Segment, split_parts
from parsers.records import Source

FAMHP = Path(__file__).resolve().parents[2] / "config" / "profiles" / "famhp" / "extraction.toml"


@cache
def rules() -> ExtractionRules:
    return load_extraction_rules(FAMHP)


def test_a_close_wording_is_read_with_a_score_below_one() -> None:
    hit = match_label(rules(), "Name of applicant organisation")
    assert hit is not None and hit.rule.key == "applicant_name"
    plural = match_label(rules(), "Initials of patient")
    assert plural is not None and plural.rule.key == "patient_reference"
    compound = match_label(rules(), "Telefoonnr.")  # telefoon + nr, nr standing for number
    assert compound is not None and compound.rule.key == "contact_phone"
    loose = match_label(rules(), "Treating physician e-mail")
    assert loose is not None and loose.rule.key == "physician_email" and 0 < loose.score < 1


def test_an_abbreviation_counts_as_its_synonym() -> None:
    match = split_line(rules(), "Catalogue no.: PF-HF20N")
    assert match is not None and match.rule.key == "device_reference"
    assert match.value == "PF-HF20N"


def test_a_bracketed_hint_decides_between_two_fields() -> None:
    hit = match_label(rules(), "E-mail (physician)")
    assert hit is not None and hit.rule.key == "physician_email"


def test_a_weak_or_tied_label_is_left_to_its_value_and_is_a_near_miss() -> None:
    printed = "Applicant category"
    hit = match_label(rules(), printed)
    assert hit is not None and not hit.decided
    assert {c.key for c in close_labels(rules(), printed)} >= {"applicant_name", "applicant_role"}
    source = Source(filename=None, sha256=None, channel="body")
    for value, expected in (("Manufacturer", ("applicant_role", "manufacturer")),
                            ("Valvia Cardio Ltd", None)):
        match = split_line(rules(), f"{printed}: {value}")
        assert match is not None
        found = label_value(rules(), match, match.value, source, 0.85)
        assert (found.key, found.value) == expected if found else expected is None


def test_a_telling_value_goes_to_the_close_field_that_takes_it() -> None:
    # A phone number under a label read as the contact's name is the contact's phone.
    match = split_line(rules(), "Téléphone de la personne de contact: +32 2 555 01 42")
    assert match is not None
    found = label_value(rules(), match, match.value,
                        Source(filename=None, sha256=None, channel="body"), 0.85)
    assert found is not None and (found.key, found.value) == ("contact_phone", "+32 2 555 01 42")


def test_a_value_is_not_taken_for_a_label() -> None:
    assert match_label(rules(), "Perfusia Medical Srl") is None
    assert split_line(rules(), "Klasse C") is not None  # a label word with a value after it
    assert match_label(rules(), "Organisation") is None  # one word must be a whole label


def test_words_of_other_languages_count_as_their_synonyms() -> None:
    # A Dutch form that mixes in its own words, read through the synonyms' groups.
    hit = match_label(rules(), "Productnaam")  # product + naam: device + name
    assert hit is not None and hit.rule.key == "device_name"
    hit = match_label(rules(), "Interlocuteur")
    assert hit is not None and hit.rule.key == "contact_name"


def test_a_head_word_of_another_field_outweighs_a_qualifier() -> None:
    # 'legal' fits "Legal manufacturer" (the name) but 'address' is what the label asks.
    hit = match_label(rules(), "Adresse du fabricant légal")
    assert hit is not None and hit.rule.key == "manufacturer_address" and hit.decided


def test_a_file_with_both_parts_and_a_mandate_is_cut_into_three() -> None:
    pages = [Segment("PART 1 - Information on the applicant\nApplicant: X", 1, 1),
             Segment("Device name: Y", 2, 2),
             Segment("Part 2: to be filled in by the treating physician\nPatient: J.D.", 3, 3),
             Segment("Mandate agreement\nBetween X and Z.", 4, 4)]
    parts = split_parts(rules(), pages)
    assert [(p.kind, p.where) for p in parts] == [
        ("form_part1", "pages 1-2"), ("form_part2", "pages 3-3"), ("mandate", "pages 4-4")]
    assert parts[1].holds_page(3) and not parts[1].holds_page(2)


def test_a_label_asking_for_two_fields_gives_both_from_a_combined_answer() -> None:
    match = split_line(rules(), "Number of patients and period covered: "
                                "up to 20 patients over 12 months")
    assert match is not None and not match.decided
    found = label_value(rules(), match, match.value,
                        Source(filename=None, sha256=None, channel="body"), 0.85)
    assert found is not None
    both = {v.key: v.value for v in [found, *derived_values(rules(), [found])]}
    assert both == {"quantity": "20", "period": "P12M"}


def test_a_regulation_named_in_the_form_text_is_read_when_no_label_gave_it() -> None:
    text = "Wettelijk kader volgens de aanvrager\nMDR (EU) 2017/745\nRisicoklasse IIb"
    (value,) = stated_regulation(rules(), text)
    assert (value.key, value.value, value.source.line) == ("regulation", "MDR", 2)
    # A title naming both, or lines that disagree, state nothing.
    assert stated_regulation(rules(), "Art. 59 MDR / Art. 54 IVDR\nApplicant: X") == []
    assert stated_regulation(rules(), "MDR 2017/745\nIVDR") == []


def test_a_role_after_a_label_no_rule_knows_is_read_when_nothing_else_gave_it() -> None:
    (value,) = stated_role(rules(), "Applicant company: Valvia Cardio Ltd\n"
                                    "Acting for this request as: Authorised representative (EU)")
    assert (value.key, value.value, value.source.line) == (
        "applicant_role", "authorised_representative", 2)
    # A company's name holding a role word, a label alone, two roles: nothing.
    assert stated_role(rules(), "Applicant: Valvia Cardio Ltd (manufacturer)") == []
    assert stated_role(rules(), "Fabricant\nOculix Surgical SAS") == []
    assert stated_role(rules(), "Acting as: Manufacturer\nOr as: Mandated third party") == []
