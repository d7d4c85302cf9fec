"""Applying the FAMHP rules to text: labels, lines, ticked boxes, kinds and languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.extraction_rules import ExtractionRules, load_extraction_rules
from parsers.labels import (
    FileInfo,
    Findings,
    KindCues,
    Line,
    best_per_key,
    checkbox_rule,
    document_kind,
    find_label,
    guess_language,
    line_fields,
    mentions_labels,
    split_line,
    ticked_options,
    to_document,
)
from parsers.records import FieldValue, Source

FAMHP = Path(__file__).resolve().parents[2] / "config" / "profiles" / "famhp" / "extraction.toml"


@pytest.fixture(scope="module")
def rules() -> ExtractionRules:
    return load_extraction_rules(FAMHP)


def lines(text: str) -> list[Line]:
    return [Line(t, Source(filename=None, sha256=None, channel="body", line=n))
            for n, t in enumerate(text.splitlines(), start=1)]


def values(found: list[FieldValue]) -> dict[str, str]:
    return {v.key: v.value for v in best_per_key(found)}


@pytest.mark.parametrize(("printed", "key"), [
    ("Name of the device", "device_name"),
    ("NAME OF THE DEVICE:", "device_name"),
    ("3.1 Name of the device", "device_name"),
    ("b) Dénomination commerciale du dispositif", "device_name"),
    ("Numéro d'enregistrement unique (SRN) du fabricant", "manufacturer_srn"),
    ("Identificatie van de patiënt (initialen)", "patient_reference"),
    ("Begründung", "justification"),
    ("Begrundung", "justification"),
    ("E-Mail-Adresse", "contact_email"),
])
def test_labels_match_ignoring_case_accents_punctuation_numbers_hints(
        rules: ExtractionRules, printed: str, key: str) -> None:
    label = find_label(rules, printed)
    assert label is not None and label.key == key


@pytest.mark.parametrize("printed", ["Device name is printed on the label",
                                     "The patient must be informed", ""])
def test_sentences_are_not_labels(rules: ExtractionRules, printed: str) -> None:
    assert find_label(rules, printed) is None


def test_split_line_finds_label_and_value(rules: ExtractionRules) -> None:
    match = split_line(rules, "Name of the device: CardioFlow 3")
    assert match is not None
    assert (match.rule.id, match.label, match.value) == (
        "famhp.label.device_name.en.name-of-the-device", "Name of the device", "CardioFlow 3")
    alone = split_line(rules, "Risicoklasse")
    assert alone is not None and alone.value == ""
    tabbed = split_line(rules, "Modèle\tCF-200")
    assert tabbed is not None and tabbed.value == "CF-200"
    assert split_line(rules, "Time: 10:30") is None


def test_body_lines_give_values_with_their_line_numbers(rules: ExtractionRules) -> None:
    found = line_fields(rules, lines(
        "Dear colleagues,\n"
        "Device name: CardioFlow\n"
        "Risk class: klasse IIb\n"
        "E-mail: Jane.Doe@UZLeuven.be\n"
        "Date of use: 3 mars 2026\n"))
    assert values(found) == {"device_name": "CardioFlow", "risk_class": "IIb",
                             "contact_email": "jane.doe@uzleuven.be",
                             "intended_use_date": "2026-03-03"}
    device = next(v for v in found if v.key == "device_name")
    assert device.source.line == 2 and device.source.label == "Device name"
    assert device.raw == "CardioFlow" and device.rule == "famhp.label.device_name.en.device-name"


def test_a_label_alone_takes_the_line_below_and_free_text_runs_on(
        rules: ExtractionRules) -> None:
    found = line_fields(rules, lines(
        "Trade name\n"
        "FlowGuard ND\n"
        "Justification\n"
        "No CE-marked alternative exists\n"
        "for a 4.5 mm aneurysm.\n"
        "\n"
        "Kind regards"))
    assert values(found) == {
        "device_name": "FlowGuard ND",
        "justification": "No CE-marked alternative exists for a 4.5 mm aneurysm."}


def test_a_label_followed_by_another_label_has_no_value(rules: ExtractionRules) -> None:
    assert values(line_fields(rules, lines("Model\nCatalogue number: X-1"))) == {
        "device_reference": "X-1"}


def test_ticked_boxes_on_a_line(rules: ExtractionRules) -> None:
    assert ticked_options("☐ Manufacturer  ☒ Authorised representative [ ] Other") == (
        (False, "Manufacturer"), (True, "Authorised representative"), (False, "Other"))
    found = line_fields(rules, lines(
        "Capacity of the applicant: ☒ Manufacturer ☐ Authorised representative\n"
        "[x] Regulation (EU) 2017/746 (IVDR)   [ ] MDR"))
    assert values(found) == {"applicant_role": "manufacturer", "regulation": "IVDR"}
    assert [v.rule for v in found] == ["famhp.checkbox.applicant_role.manufacturer",
                                       "famhp.checkbox.regulation.ivdr"]


def test_checkbox_rules_by_label_prefix_or_name(rules: ExtractionRules) -> None:
    def value(text: str, name: str = "") -> str | None:
        rule = checkbox_rule(rules, text, name)
        return rule.value if rule else None

    assert value("Le mandataire (UE)") == "authorised_representative"
    assert value("Derde gemandateerd door de fabrikant of de gemachtigde") == \
        "mandated_third_party"
    assert value("RDM (dispositifs médicaux)") == "MDR"
    assert value("", "ApplicantRoleManufacturer") == "manufacturer"
    assert value("Something else") is None


def test_plain_text_that_looks_like_a_form(rules: ExtractionRules) -> None:
    assert mentions_labels(rules, "Title\nName of the device: X\n")
    assert mentions_labels(rules, "Model\n\nRisk class\n")
    assert not mentions_labels(rules, "Model 737-8 airplanes are affected by the rule.\n")
    assert not mentions_labels(rules, "reference a specific portion of the text\n")


def test_kind_from_file_name_phrase_or_fields(rules: ExtractionRules) -> None:
    def kind(filename: str, text: str = "", keys: frozenset[str] = frozenset()) -> str:
        return document_kind(rules, KindCues(filename, text, (), keys))[0]

    assert kind("IFU_CardioFlow_v3.pdf") == "ifu"
    assert kind("scan.pdf", "Mode d'emploi\nLire attentivement") == "ifu"
    assert kind("form.pdf", "Deel 2 - in te vullen door de behandelende arts") == "form_part2"
    assert kind("x.pdf", "", frozenset({"physician_name", "patient_reference"})) == "form_part2"
    assert kind("photo.jpg", "") == "other"
    # Highest priority wins: a Part 1 form whose name says "mandate" is still Part 1.
    assert kind("mandate.pdf", "Part 1 - to be completed by the applicant") == "form_part1"
    assert document_kind(rules, KindCues("IFU.pdf", ""))[1] == "famhp.kind.ifu"
    # A title outranks a phrase further down: a risk report that mentions the IFU.
    report = ("Risk management report (ISO 14971) - summary\n" + "Hazards analysed. " * 20
              + "All residual risks are disclosed in the instructions for use.")
    assert kind("summary.pdf", report) == "risk_analysis"


def test_language_from_labels_then_common_words(rules: ExtractionRules) -> None:
    nl = [r for r in (find_label(rules, t) for t in ("Naam van het hulpmiddel", "Model"))
          if r]
    assert guess_language(rules, nl, "") == "nl"
    french = "Le patient est suivi dans le service et la demande est urgente pour le " * 3
    assert guess_language(rules, [], french) == "fr"
    assert guess_language(rules, [], "short") is None


def test_to_document_keeps_one_value_per_key_and_stamps_the_file(
        rules: ExtractionRules) -> None:
    where = Source(filename=None, sha256=None, channel="pdf_text", page=1)
    weak = FieldValue("device_name", "Cardio", "Cardio", where, "r#1", 0.5)
    strong = FieldValue("device_name", "CardioFlow", "CardioFlow", where, "r#2", 0.9)
    document = to_document(rules, FileInfo("part1.pdf", "abc", "application/pdf", 10),
                           Findings(text="", first_text="", pages=1, fields=(weak, strong)))
    assert [(f.value, f.source.filename, f.source.sha256) for f in document.fields] == [
        ("CardioFlow", "part1.pdf", "abc")]
    assert document.kind == "form_part1" and document.kind_rule == "famhp.kind.form_part1"


def test_the_ansm_profile_reads_french_letters_with_its_own_labels() -> None:
    ansm = load_extraction_rules(FAMHP.parents[1] / "ansm" / "extraction.toml")
    found = line_fields(ansm, lines(
        "Opérateur de marché : Helix Pediatric Devices Inc.\n"
        "Nom du dispositif : Scolix MagRod\n"
        "Numéro d'anonymat : PAT-0042\n"))
    assert values(found) == {"applicant_name": "Helix Pediatric Devices Inc.",
                             "device_name": "Scolix MagRod", "patient_reference": "PAT-0042"}
    assert {v.rule.split(".")[0] for v in found} == {"ansm", "famhp"}
    kind, rule = document_kind(ansm, KindCues("lettre_du_medecin.pdf", ""))
    assert (kind, rule) == ("institution_statement", "ansm.kind.institution_statement")
