"""Printed labels matched by their words (parsers/label_match.py) and files cut into parts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from config.extraction_rules import ExtractionRules, load_extraction_rules
from parsers.label_match import close_labels, ends_open, index_of, printed_words
from parsers.labels import (
    Line,
    derived_values,
    field_line,
    label_value,
    line_fields,
    match_label,
    run_on_label,
    signature_label,
    split_line,
    stated_regulation,
    stated_role,
    value_of_label,
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
    loose = match_label(rules(), "E-mail of the prescribing physician")
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
    # A value no typed field reads goes to the one free-text field among them.
    for value, expected in (("Manufacturer", ("applicant_role", "manufacturer")),
                            ("Valvia Cardio Ltd", ("applicant_name", "Valvia Cardio Ltd"))):
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


def test_an_answer_naming_a_mandate_or_a_table_row_opens_no_part() -> None:
    pages = [Segment("PARTIE 1 - Informations sur le demandeur\n"
                     "Rôle du demandeur: Tiers mandaté\nRole of applicant\tMandated third party",
                     1, 1),
             Segment("PARTIE 2 - Déclaration du médecin traitant\nPatient: J.D.", 2, 2)]
    parts = split_parts(rules(), pages, lambda line: field_line(rules(), line))
    assert [p.kind for p in parts] == ["form_part1", "form_part2"]


def test_a_label_cut_on_a_preposition_goes_on_below() -> None:
    assert ends_open("Adresse e-mail du") and ends_open("Name of the")
    assert not ends_open("Adresse e-mail du médecin")


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


def test_a_phrase_stands_for_its_word_and_a_town_is_no_label_word() -> None:
    # 'raison sociale' is a company's name; the closing formula names a town.
    assert best_key("Raison sociale du fabricant") == "manufacturer_name"
    assert best_key("Fait à Liège, le") == "signature_date"
    assert best_key("Opgemaakt te Sint-Niklaas op") == "signature_date"


def test_a_colon_inside_brackets_does_not_end_the_label() -> None:
    match = split_line(rules(), "Regulatory status (CE marking: yes/no): Not CE marked")
    assert match is not None and match.rule.key == "regulatory_status"
    assert match.value == "Not CE marked"


def test_a_weak_sentence_or_letterhead_is_no_label() -> None:
    for printed in ("Universitair Ziekenhuis Antwerpen", "The patient must be informed",
                    "Device name is printed on the label"):
        assert match_label(rules(), printed) is None, printed


def best_key(printed: str) -> str | None:
    """The field a printed label is read as, when decided."""
    hit = match_label(rules(), printed)
    return hit.rule.key if hit is not None and hit.decided else None


def test_a_compound_keeps_the_half_the_labels_know() -> None:
    # 'Fabrikantgegevens': 'gegevens' is no label word, 'fabrikant' is the manufacturer.
    assert "manufacturer" in printed_words(index_of(rules()), "Fabrikantgegevens")


def test_a_label_run_into_its_value_is_cut_where_the_value_starts() -> None:
    assert run_on_label(rules(), ["Number", "of", "items", "requested", "16", "units"]) == 4
    assert run_on_label(rules(), ["Legal", "manufacturer", "(name)", "NeuroVasc", "Dynamics"]) == 3
    assert run_on_label(rules(), ["Name", "of", "the", "device", "Model"]) is None


def test_a_question_is_read_by_its_question_word() -> None:
    for printed, key in (("How many devices do you need?", "quantity"),
                         ("Wanneer zal het hulpmiddel worden gebruikt", "intended_use_date"),
                         ("Pourquoi ce dispositif est-il nécessaire", "justification")):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == key, printed


def test_the_noun_before_a_relative_clause_is_the_label() -> None:
    hit = match_label(rules(), "Hospital / institution where the device will be used")
    assert hit is not None and hit.rule.key == "hospital_name" and hit.decided
    # A text its whole words decide is read whole: the date of use, not its head 'Date'.
    whole = match_label(rules(), "Date on which the device will be used")
    assert whole is not None and whole.rule.key == "intended_use_date"


def test_a_lettered_question_number_is_no_label_word() -> None:
    for printed in ("B.1 Treating physician", "Q3 - Treating physician", "C2) Treating physician"):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == "physician_name" and hit.score == 1.0, printed


def test_a_compound_whose_last_half_lost_its_ending_is_still_split() -> None:
    hit = match_label(rules(), "Patiëntcode")
    assert hit is not None and hit.rule.key == "patient_reference"


def test_a_label_is_not_cut_inside_its_bracketed_hint() -> None:
    match = split_line(rules(), "Regelgevend kader (MDR of IVDR) Verordening (EU) 2017/745")
    assert match is None or match.value != "IVDR) Verordening (EU) 2017/745"
    words = ["Regelgevend", "kader", "(MDR", "of", "IVDR)", "Verordening"]
    assert run_on_label(rules(), words) != 4


def test_an_abbreviation_is_read_as_the_word_it_starts() -> None:
    for printed, key in (("Manuf. addr.", "manufacturer_address"), ("Naam hulpm.", "device_name"),
                         ("Contactpers.", "contact_name"), ("Risicokl.: Klasse C", "risk_class")):
        match = split_line(rules(), printed)
        assert match is not None and match.rule.key == key, printed
    # One that starts words of several meanings is read each way; its other words decide.
    hit = match_label(rules(), "Reg. status")
    assert hit is not None and hit.rule.key == "regulatory_status"


def test_a_form_s_instructions_do_not_hide_its_label() -> None:
    match = split_line(rules(), "Please indicate in which capacity your organisation submits "
                                "this request: Manufacturer")
    assert match is not None and match.rule.key == "applicant_role"
    assert match.value == "Manufacturer"


def test_a_relative_clause_never_turns_a_label_into_a_bare_word_of_its_head() -> None:
    hit = match_label(rules(), "Gelieve de datum te vermelden waarop het hulpmiddel naar "
                               "verwachting zal worden gebruikt")
    assert hit is None or hit.rule.key == "intended_use_date"


@pytest.mark.parametrize("first, second", [
    # A title that names its part before a colon or a comma opens it.
    ("Request for compassionate use of a device without CE marking - Part 1: information on "
     "the applicant and the device\nApplicant: X",
     "Compassionate use of a device without CE marking - Part 2, to be completed and signed "
     "by the treating physician\nPatient: J.D."),
    # A title wrapped over the line that names its part is that part: the article number in
    # it says nothing of the part ('art. 59' is compassionate use and national derogation).
    ("FAMHP / AFMPS / FAGG\nUsage compassionnel d'un dispositif non marqué CE (art. 59 MDR) - "
     "volet demandeur\n(partie 1)\nRequérant: X",
     "Usage compassionnel d'un dispositif non marqué CE (art. 59 MDR) - volet médecin "
     "traitant\n(partie 2)\nPatient: J.D."),
    # A part's number wrapped inside its bracket onto the next line opens the part too.
    ("Compassionate use of a non-CE-marked device - applicant's section (Part\n1)\n"
     "Applicant: X",
     "Compassionate use of a non-CE-marked device - treating physician's declaration (Part\n"
     "2)\nPatient: J.D."),
])
def test_a_title_that_names_its_part_opens_it(first: str, second: str) -> None:
    pages = [Segment(first, 1, 1), Segment(second, 2, 2)]
    parts = split_parts(rules(), pages, lambda line: field_line(rules(), line))
    assert [p.kind for p in parts] == ["form_part1", "form_part2"]


def test_a_label_ending_on_the_preposition_of_a_date_asks_for_a_date() -> None:
    for printed in ("Utilisation prévue le", "Gebruik gepland op"):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == "intended_use_date", printed


def test_an_abbreviation_of_two_meanings_is_settled_by_the_rest_of_the_label() -> None:
    match = split_line(rules(), "Règl. (MDR/IVDR): MDR 2017/745")
    assert match is not None and match.rule.key == "regulation" and match.value == "MDR 2017/745"


def test_a_signature_line_with_a_stamp_or_an_abbreviation_is_a_signature_line() -> None:
    for printed in ("Signature et cachet du médecin", "Handtekening en stempel van de arts",
                    "Handt. arts", "Physician's signature (and stamp)"):
        assert signature_label(rules(), printed), printed
    assert not signature_label(rules(), "Date de signature")
    # A word or two more saying whose signature it is; never a word of another field.
    for printed in ("Signature of the physician responsible for the treatment (mandatory)",
                    "Signature (attending physician) and hospital stamp",
                    "Handtekening en ziekenhuisstempel - behandelend arts (*)"):
        assert signature_label(rules(), printed), printed
    assert not signature_label(rules(), "Place and date of signature")
    # The noun before a relative clause; both halves of a label in two languages.
    assert signature_label(rules(), "Handtekening van de arts die de behandeling uitvoert")
    assert signature_label(rules(), "Signature du médecin responsable du traitement / "
                                    "Handtekening van de arts verantwoordelijk voor de behandeling")
    assert not signature_label(rules(), "Signature / Date")


def test_a_label_tied_between_two_fields_is_no_value_of_the_label_before_it() -> None:
    # 'Demandeur (personne morale) | Type de demandeur' is a row of two labels (the
    # applicant's name and role), not a label and its value.
    name = split_line(rules(), "Demandeur (personne morale)")
    assert not value_of_label(rules(), name, "Type de demandeur")


def test_a_weak_label_is_settled_by_a_value_that_names_its_field() -> None:
    match = split_line(rules(), "Health structure of use")
    assert match is not None and not match.decided
    source = Source(filename=None, sha256=None, channel="body")
    found = label_value(rules(), match, "Hôpital Erasme", source, 0.85)
    assert found is not None and (found.key, found.value) == ("hospital_name", "Hôpital Erasme")
    # ... and not by a free text that names nothing: that stays a near miss.
    assert label_value(rules(), match, "Twelve weeks", source, 0.85) is None


def test_an_abbreviated_signature_line_of_two_meanings_is_a_signature_line() -> None:
    assert signature_label(rules(), "Sign. méd.:")


def test_a_value_that_starts_with_its_field_s_word_is_not_cut_as_a_run_on_label() -> None:
    words = ["Regulation", "(EU)", "2017/745", "-", "medical", "devices"]
    assert run_on_label(rules(), words) is None


def test_a_count_starts_a_value_not_a_label_run_into_it() -> None:
    # The period after 'sur une période de' was cut off as if the count were a label.
    words = ["33", "dispositifs", "sur", "une", "période", "de", "24", "mois"]
    assert run_on_label(rules(), words) is None


def test_a_label_printed_in_two_languages_is_one_label() -> None:
    for printed, key in (("Nombre d'exemplaires / Aantal exemplaren", "quantity"),
                         ("Clinic / hospital", "hospital_name")):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == key and hit.decided, printed


def test_a_mandatory_mark_tells_no_field() -> None:
    plain = match_label(rules(), "Contact person")
    for printed in ("Contact person (mandatory)", "Personne de contact (obligatoire)",
                    "Contactpersoon (verplicht)"):
        hit = match_label(rules(), printed)
        assert hit is not None and plain is not None, printed
        assert hit.rule.key == "contact_name" and hit.decided and hit.score >= 0.9, printed


def test_a_hint_whose_bracket_closes_on_the_next_line_is_still_a_hint() -> None:
    hit = match_label(rules(), "Applicant is the (manufacturer / AR /")
    assert hit is not None and hit.rule.key in ("applicant_name", "applicant_role")
    assert "applicant_role" in {hit.rule.key, *(o.key for o in hit.others)}


def test_a_line_inside_a_free_text_that_names_its_field_is_the_texts_own() -> None:
    # 'Expected benefit: ...' is a justification's label, but inside a justification it is
    # a sentence of the answer: the answer runs on over it and is not cut to its tail.
    lines = [Line(text, Source(filename=None, sha256=None, channel="body", line=number))
             for number, text in enumerate((
                 "Medical justification:",
                 "No CE-marked device of this size exists.",
                 "Expected benefit: avoiding open surgery.",
                 "", "Patient initials: J.D."), start=1)]
    found = {v.key: v.value for v in line_fields(rules(), lines)}
    assert found["justification"] == ("No CE-marked device of this size exists. "
                                      "Expected benefit: avoiding open surgery.")
    assert found["patient_reference"] == "J.D."


def test_a_label_that_lists_the_answers_asks_for_their_field() -> None:
    for printed, key in (
            ("Tick what you are - manufacturer, authorised rep or mandated party",
             "applicant_role"),
            ("Le dispositif relève-t-il du MDR ou de l'IVDR", "regulation"),
            ("Product falls within the scope of (MDR / IVDR)", "regulation")):
        match = split_line(rules(), printed)
        assert match is not None and match.rule.key == key and match.decided, printed
    # A title that cites both regulations lists no answers.
    for title in ("National derogation request - non CE marked device (Art. 59 MDR / Art. 54 "
                  "IVDR)",
                  "Demande d'autorisation d'un dispositif non marqué CE sur le territoire belge "
                  "(art 59 MDR / art 54 IVDR)"):
        match = split_line(rules(), title)
        assert match is None or match.rule.key != "regulation", title


def test_a_why_question_asks_for_the_justification_whatever_else_it_says() -> None:
    for printed in ("Why is this device needed rather than an approved one",
                    "Waarom is dit hulpmiddel nodig in plaats van een goedgekeurd hulpmiddel",
                    "Leg uit waarom een hulpmiddel met CE-markering niet kan"):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == "justification" and hit.decided, printed
    # 'When' asks for a date, but which one the rest of the label says.
    when = match_label(rules(), "When will the device be used")
    assert when is not None and when.rule.key == "intended_use_date"


def test_what_a_label_is_done_for_is_no_part_of_it() -> None:
    for printed in ("Grounds for the request in the interest of public health or patient safety",
                    "Grond van de aanvraag in het belang van de volksgezondheid"):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == "justification" and hit.decided, printed


def test_two_fields_asked_together_are_both_asked() -> None:
    for printed in ("Number of units / patients and duration",
                    "Extent of exceptional use (units and time frame)"):
        hit = match_label(rules(), printed)
        assert hit is not None and not hit.decided, printed
        assert {hit.rule.key, *(o.key for o in hit.others)} >= {"quantity", "period"}, printed
    # A slash parts alternatives, not fields.
    alone = match_label(rules(), "Number of units / patients")
    assert alone is not None and alone.rule.key == "quantity"


def test_a_count_in_a_table_cell_is_a_value_not_a_numbered_label() -> None:
    assert split_line(rules(), "3 unités") is None
    assert split_line(rules(), "3 Units") is not None  # a numbered label has a capital


def test_what_a_label_is_the_subject_of_or_an_instruction_tells_no_field() -> None:
    for printed, key in (("Nom du produit faisant l'objet de la demande", "device_name"),
                         ("Tell us the name of the device", "device_name"),
                         ("Tell us who makes the device", "manufacturer_name"),
                         ("Gemaakt door (bedrijf)", "manufacturer_name")):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == key and hit.decided, printed


def test_who_set_what_a_label_asks_for_is_no_part_of_it() -> None:
    for printed in ("Door de fabrikant bepaalde risicoklasse",
                    "Risk class as determined by the manufacturer",
                    "Classe de risque déterminée par le fabricant",
                    "Vom Hersteller festgelegte Risikoklasse"):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == "risk_class" and hit.decided, printed
    # Without a participle the manufacturer stays what the label asks about.
    address = match_label(rules(), "Address of the manufacturer")
    assert address is not None and address.rule.key == "manufacturer_address"


def test_a_relative_clause_after_a_preposition_leaves_its_noun() -> None:
    hit = match_label(rules(), "Qualité en laquelle le titulaire agit")
    assert hit is not None and hit.rule.key == "applicant_role" and hit.decided


def test_the_answers_alone_are_a_label_of_the_field_they_answer() -> None:
    for printed in ("MDR or IVDR", "MDR / IVDR"):
        found = split_line(rules(), printed)
        assert found is not None and found.rule.key == "regulation", printed


def test_an_article_is_the_device_and_its_number_the_reference() -> None:
    for printed, key in (("Article / nom du produit", "device_name"),
                         ("N° d'article (REF)", "device_reference"),
                         ("Code article / REF", "device_reference"),
                         ("Artikelnummer", "device_reference")):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == key, printed


def test_an_answer_citing_one_regulation_by_number_is_no_label() -> None:
    for printed in ("art. 59 Verordening 2017/745 (MDR)", "art. 59 du règlement 2017/745 (MDR)"):
        assert split_line(rules(), printed) is None, printed
    # A label citing both is a label.
    both = split_line(rules(), "Toepasselijke EU-wetgeving (Verordening (EU) 2017/745 of 2017/746)")
    assert both is not None and both.rule.key == "regulation"


def test_a_question_about_the_period_of_use_asks_for_the_period() -> None:
    for printed, key in (("Sur quelle période les dispositifs seront-ils utilisés", "period"),
                         ("Règlement au titre duquel la dérogation est demandée", "regulation")):
        hit = split_line(rules(), printed)
        assert hit is not None and hit.rule.key == key, printed


def test_an_asking_verb_first_asks_for_its_field() -> None:
    for printed, key in (("Justifiez le recours à un dispositif non marqué CE", "justification"),
                         ("Type designation of the device", "device_model"),
                         ("Manufacturer's order number (REF)", "device_reference"),
                         ("Manufacturer within the meaning of the Regulation (name)",
                          "manufacturer_name"),
                         ("A quoi sert le dispositif", "intended_purpose")):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == key, printed


def test_two_typed_fields_parted_by_a_slash_or_a_comma_are_both_asked() -> None:
    for printed in ("Scope (units / duration)", "How many devices, over what period?",
                    "Étendue de la demande / Omvang van de aanvraag (unités et durée / "
                    "eenheden en duur)"):
        hit = match_label(rules(), printed)
        assert hit is not None and not hit.decided, printed
        assert {hit.rule.key, *(o.key for o in hit.others)} == {"quantity", "period"}, printed
    # Two free texts parted by a slash are alternatives: a name and a model are not asked
    # together.
    both = match_label(rules(), "Device name / model")
    assert both is None or both.rule.key in {"device_name", "device_model"}


def test_a_one_word_half_shares_the_other_halfs_noun() -> None:
    hit = split_line(rules(), "Start / end date")
    assert hit is not None and hit.rule.key == "period"


def test_the_applicants_relation_to_the_manufacturer_is_its_role() -> None:
    for printed in ("Relatie tot de wettelijke fabrikant", "Lien avec le fabricant légal",
                    "Relationship to the manufacturer"):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == "applicant_role" and hit.decided, printed


def test_patients_in_the_plural_are_counted_one_patient_is_referred_to() -> None:
    for printed, key in (("Number of patients", "quantity"), ("Aantal patiënten", "quantity"),
                         ("Number of devices needed for the patient(s)", "quantity"),
                         ("Patient number", "patient_reference"),
                         ("Patiëntnummer (geanonimiseerd)", "patient_reference"),
                         ("N° d'anonymat du patient", "patient_reference"),
                         ("Referentienummer patiënt (geen naam)", "patient_reference")):
        hit = match_label(rules(), printed)
        assert hit is not None and hit.rule.key == key, printed


# Reads a printed label and one Word form; prints the rules that read them and the near misses.
_READ_IN_A_PROCESS = """
import json, sys
from pathlib import Path
from config.extraction_rules import load_extraction_rules
from parsers.extract import file_to_document
from parsers.labels import match_label
form, rules = Path(sys.argv[1]), load_extraction_rules(Path(sys.argv[2]))
hit = match_label(rules, "SRN number of the manufacturer")
document = file_to_document(form.name, form.read_bytes(), rules)
print(json.dumps({"label": hit and hit.rule.id, "near_misses": list(document.near_misses),
                  "fields": [[f.key, f.value, f.rule] for f in document.fields]}))
"""


def _read_with_hash_seed(seed: str) -> dict[str, object]:
    root = Path(__file__).resolve().parents[2]
    form = root.parent / "shared" / "corpus" / "docx" / "docx2python_checked_boxes.docx"
    done = subprocess.run([sys.executable, "-c", _READ_IN_A_PROCESS, str(form), str(FAMHP)],
                          cwd=root, env={**os.environ, "PYTHONHASHSEED": seed},
                          capture_output=True, text=True, check=True, timeout=60)
    read: dict[str, object] = json.loads(done.stdout)
    return read


def test_same_rules_whatever_the_hash_seed() -> None:
    # Labels of one field that score alike ('SRN number of the manufacturer': "Manufacturer's
    # SRN" or "Manufacturer SRN") are settled by the rule file's order, not by a set's order,
    # which differs between worker processes.
    first = _read_with_hash_seed("0")
    assert first["label"] == "famhp.label.manufacturer_srn.en.manufacturer-s-srn"
    assert _read_with_hash_seed("1") == first
    assert _read_with_hash_seed("2") == first
