"""The applicant's language is detected among EN, FR, NL and DE, with a default."""

from __future__ import annotations

import pytest

from triage.language import detect_language

BODIES = {
    "en": "Dear colleagues, please find attached our request for the use of the device for "
          "a patient of our hospital.",
    "fr": "Madame, Monsieur, veuillez trouver ci-joint notre demande d'utilisation du "
          "dispositif pour une patiente de notre hôpital.",
    "nl": "Geachte, in bijlage vindt u onze aanvraag voor het gebruik van het hulpmiddel "
          "voor een patiënt van ons ziekenhuis.",
    "de": "Sehr geehrte Damen und Herren, anbei erhalten Sie unseren Antrag auf Verwendung "
          "des Produkts für einen Patienten unseres Krankenhauses.",
}


@pytest.mark.parametrize("lang", sorted(BODIES))
def test_each_office_language_is_recognised(lang: str) -> None:
    decision = detect_language([BODIES[lang]])
    assert decision.value == lang
    assert decision.reasons[-1].startswith(f"total: {lang}")


def test_nothing_to_read_gives_english_with_the_reason() -> None:
    decision = detect_language(["", "  ", "12/03"])
    assert decision.value == "en"
    assert decision.reasons == ("no text decides: default en",)


def test_the_weighted_body_outweighs_a_form_in_another_language() -> None:
    form = ("Formulaire de demande. Nom du dispositif. Fabricant. Adresse. Justification "
            "médicale. Date de signature. Nom du médecin traitant. " * 3)
    decision = detect_language([BODIES["nl"], "Aanvraag", form], [4.0, 1.0, 1.5],
                               ["body", "subject", "form.pdf"])
    assert decision.value == "nl"
    assert decision.reasons[0].startswith("body: nl")
    assert decision.reasons[1].startswith("form.pdf: fr")
    assert not any(r.startswith("subject") for r in decision.reasons)  # one word: no vote


@pytest.mark.parametrize("text", ["Hello", "Re: Test", "Wow, thanks", "Bonjour"])
def test_a_few_words_alone_do_not_decide(text: str) -> None:
    decision = detect_language([text, text], [4.0, 1.0], ["body", "subject"])
    assert decision.value == "en"
    assert decision.reasons == ("no text decides: default en",)


def test_a_form_decides_when_the_body_is_empty() -> None:
    decision = detect_language(["", BODIES["de"]], [4.0, 1.0])
    assert decision.value == "de"
