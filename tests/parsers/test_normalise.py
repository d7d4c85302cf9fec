"""Normalisers: what an applicant writes, and the value a reviewer sees."""

from __future__ import annotations

import pytest

from config.text import fold
from config.vocabulary import NormaliserName
from parsers.normalise import NORMALISERS, normalise


@pytest.mark.parametrize(("raw", "iso"), [
    ("12/03/2026", "2026-03-12"),
    ("12.03.2026", "2026-03-12"),
    ("12-03-2026", "2026-03-12"),
    ("2026-03-12", "2026-03-12"),
    ("3/4/26", "2026-04-03"),
    ("3 mars 2026", "2026-03-03"),
    ("1er avril 2026", "2026-04-01"),
    ("12 januari 2026", "2026-01-12"),
    ("1st March 2026", "2026-03-01"),
    ("2. März 2026", "2026-03-02"),
    ("23 February 2026", "2026-02-23"),
    ("March 5, 2026", "2026-03-05"),
    ("le 17 août 2026", "2026-08-17"),
    ("Bruxelles, le 4 décembre 2025", "2025-12-04"),
    ("2026.02.24 16:42:13 +01'00'", "2026-02-24"),
])
def test_dates_become_iso(raw: str, iso: str) -> None:
    assert normalise("date", raw) == (iso, 1.0)


@pytest.mark.parametrize("raw", ["31/02/2026", "soon", "", "13 Brumaire 2026"])
def test_impossible_or_missing_dates_are_no_value(raw: str) -> None:
    assert normalise("date", raw) is None


@pytest.mark.parametrize(("raw", "email"), [
    ("Ciara.Walsh@Valvia-Cardio.ie", "ciara.walsh@valvia-cardio.ie"),
    ("Dr Jane Doe <jane.doe@hospital.be>", "jane.doe@hospital.be"),
    ("mailto:info@fagg-afmps.be", "info@fagg-afmps.be"),
])
def test_emails_are_found_and_lower_cased(raw: str, email: str) -> None:
    assert normalise("email", raw) == (email, 1.0)


def test_text_without_an_address_is_no_email() -> None:
    assert normalise("email", "see above") is None


@pytest.mark.parametrize(("raw", "phone"), [
    ("+32 2 528 40 00", "+32 2 528 40 00"),
    ("+32 (0)2 528.40.00", "+32 2 528 40 00"),
    ("0032 2/528 40 00", "+32 2 528 40 00"),
    ("Tel: 02-528-40-00", "02 528 40 00"),
    ("+353  91   555 0142", "+353 91 555 0142"),
])
def test_phones_keep_plus_digits_and_single_spaces(raw: str, phone: str) -> None:
    assert normalise("phone", raw) == (phone, 1.0)


@pytest.mark.parametrize("raw", ["12", "call me", "+32 2 +45"])
def test_too_short_or_odd_phones_are_no_value(raw: str) -> None:
    assert normalise("phone", raw) is None


@pytest.mark.parametrize(("raw", "klass"), [
    ("class IIb", "IIb"), ("klasse IIa", "IIa"), ("Classe III", "III"), ("III", "III"),
    ("Class I (sterile)", "I"), ("Is", "I"), ("IIB", "IIb"), ("Klasse 2a", "IIa"),
    ("Class C", "C"), ("classe D", "D"), ("Klasse C", "C"), ("B", "B"),
])
def test_risk_classes_in_canonical_case(raw: str, klass: str) -> None:
    assert normalise("risk_class", raw) == (klass, 1.0)


@pytest.mark.parametrize("raw", ["see IFU", "a device for children", ""])
def test_text_without_a_class_is_no_risk_class(raw: str) -> None:
    assert normalise("risk_class", raw) is None


@pytest.mark.parametrize(("raw", "regulation"), [
    ("Regulation (EU) 2017/745", "MDR"), ("MDR", "MDR"), ("règlement (UE) 2017/745", "MDR"),
    ("IVDR", "IVDR"), ("2017/746", "IVDR"), ("RDIV (dispositifs de diagnostic in vitro)", "IVDR"),
    ("Verordening (EU) 2017/746 (IVDR)", "IVDR"), ("medical device regulation", "MDR"),
])
def test_regulation_from_its_name_or_number(raw: str, regulation: str) -> None:
    assert normalise("regulation", raw) == (regulation, 1.0)


def test_an_ivdr_only_class_letter_means_ivdr_with_less_confidence() -> None:
    assert normalise("regulation", "Class C") == ("IVDR", 0.8)
    assert normalise("regulation", "Class IIb") is None


@pytest.mark.parametrize(("raw", "role"), [
    ("Manufacturer", "manufacturer"), ("fabricant", "manufacturer"),
    ("De fabrikant", "manufacturer"), ("Hersteller", "manufacturer"),
    ("Authorised representative", "authorised_representative"),
    ("mandataire", "authorised_representative"),
    ("gemachtigde", "authorised_representative"),
    ("Bevollmächtigter", "authorised_representative"),
    ("tiers mandaté", "mandated_third_party"),
    ("Third party mandated by the manufacturer", "mandated_third_party"),
    ("gemandateerde derde", "mandated_third_party"),
    ("Beauftragter Dritter", "mandated_third_party"),
    # A party acting on a mandate, a representative's symbol, an old form's abbreviation.
    ("Distributor acting under a mandate", "mandated_third_party"),
    ("Autre partie agissant sur mandat", "mandated_third_party"),
    ("Ziekenhuis die optreedt in opdracht van de fabrikant", "mandated_third_party"),
    ("EC REP", "authorised_representative"), ("Auth. rep.", "authorised_representative"),
    ("Manuf.", "manufacturer"), ("Fabr.", "manufacturer"),
])
def test_roles_in_four_languages(raw: str, role: str) -> None:
    assert normalise("role", raw) == (role, 1.0)


@pytest.mark.parametrize(("raw", "count"), [
    ("2 units", "2"), ("deux (2)", "2"), ("3 stuks", "3"), ("12", "12"),
    ("400 flacons de 10 ml", "400"), ("1 kit (96 bepalingen)", "1"),
])
def test_quantities_are_integers(raw: str, count: str) -> None:
    assert normalise("quantity", raw) == (count, 1.0)


def test_a_quantity_written_in_words_is_found_with_less_confidence() -> None:
    assert normalise("quantity", "drei Stück") == ("3", 0.9)
    assert normalise("quantity", "some") is None


@pytest.mark.parametrize(("raw", "srn"), [
    ("be-mf-000012345", "BE-MF-000012345"), ("SRN: DE-MF-000009876", "DE-MF-000009876"),
    ("IE - MF - 000021873", "IE-MF-000021873"),
])
def test_srn_upper_case(raw: str, srn: str) -> None:
    assert normalise("srn", raw) == (srn, 1.0)


def test_a_malformed_srn_is_no_value() -> None:
    assert normalise("srn", "BE-MF-12345") is None


def test_text_is_trimmed_and_collapsed_and_placeholders_are_no_value() -> None:
    assert normalise("text", "  PulmoValve \n  Junior ") == ("PulmoValve Junior", 1.0)
    assert normalise("text", "Click or tap here to enter text.") is None
    assert normalise("text", "______") is None
    assert normalise("text", "   ") is None


@pytest.mark.parametrize("raw", ["J.D.", "JD", "PAT-2026-004", "T.V.D.", "Patient 12"])
def test_patient_initials_and_pseudonyms_are_kept(raw: str) -> None:
    assert normalise("patient_reference", raw) == (raw, 1.0)


def test_a_full_patient_name_is_reduced_to_initials_with_low_confidence() -> None:
    value, confidence = normalise("patient_reference", "Jean Dupont") or ("", 1.0)
    assert value == "J.D." and confidence < 0.7


@pytest.mark.parametrize(("raw", "interval"), [
    ("from 01/04/2026 to 30/09/2026", "2026-04-01/2026-09-30"),
    ("du 15 avril 2026 au 14 octobre 2026", "2026-04-15/2026-10-14"),
    ("van 01-05-2026 tot 31-10-2026", "2026-05-01/2026-10-31"),
    ("vom 1. April bis 30. September 2026", "2026-04-01/2026-09-30"),
    ("2026-04-01/2026-09-30", "2026-04-01/2026-09-30"),
])
def test_periods_become_iso_intervals(raw: str, interval: str) -> None:
    assert normalise("period", raw) == (interval, 1.0)


@pytest.mark.parametrize("raw", ["from 30/09/2026 to 01/04/2026", "12/03/2026",
                                 "6 months or 12 months"])
def test_a_backwards_period_a_lone_date_or_two_lengths_is_no_period(raw: str) -> None:
    assert normalise("period", raw) is None


@pytest.mark.parametrize(("raw", "duration"), [
    ("6 months", "P6M"), ("up to 20 patients over 12 months", "P12M"),
    ("jusqu'à 12 patients sur 18 mois", "P18M"), ("gedurende 2 jaar", "P2Y"),
    ("für 6 Wochen", "P6W"),
])
def test_a_length_of_time_is_an_iso_duration(raw: str, duration: str) -> None:
    assert normalise("period", raw) == (duration, 1.0)


def test_a_length_of_time_is_no_count() -> None:
    assert normalise("quantity", "for 12 months, 20 patients") == ("20", 1.0)


def test_every_normaliser_name_of_the_vocabulary_has_its_function() -> None:
    # Rule files are checked against the names (config); the functions live here (parsers).
    assert set(NORMALISERS) == set(NormaliserName)
    assert normalise("quantity", "12 units") == ("12", 1.0)


def test_fold_ignores_case_accents_and_punctuation() -> None:
    assert fold("Numéro d'enregistrement unique (SRN):") == "numero d enregistrement unique srn"
    assert fold("  Bevollmächtigter  ") == "bevollmachtigter"
    assert fold("E-MAIL") == fold("e-mail") == "e mail"
