"""The shipped acknowledgement templates, rendered as an applicant would read them."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from config.errors import ConfigError
from config.templates import LANGUAGES, TEMPLATE_NAMES, TemplateSet, load_templates

PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles"

# domain.md: the FAMHP checklist item ids (a contract).
FAMHP_ITEMS = (
    "form_part1", "form_part2", "physician_signature", "applicant_role", "mandate_proof",
    "device_identified", "regulation_stated", "patient_reference", "justification",
    "subject_convention", "ifu", "clinical_data", "risk_analysis", "national_form", "scope",
    "ce_marking_plan", "institution_statement",
)
ANSM_ITEMS = (
    *FAMHP_ITEMS, "request_form", "ce_marking_commitment", "professional_letter",
    "safety_performance_data",
    "no_alternative", "patient_criteria", "validity_period", "manufacturer_identified",
    "informed_consent", "labelling",
)
FAMHP_TYPES = ("compassionate_use", "national_derogation")
ANSM_TYPES = ("individual_derogation", "global_derogation")

# What a reader sees in each language: the greeting, the request type and two explanations.
FAMHP_WORDS = {
    "en": ("Dear Sir or Madam", "compassionate use", "Acknowledgement of receipt",
           "Part 2 of the form, completed by the treating physician",
           "the patient's initials or pseudonym — never the full name"),
    "fr": ("Madame, Monsieur", "usage compassionnel", "Accusé de réception",
           "la partie 2 du formulaire, complétée par le médecin traitant",
           "les initiales ou le pseudonyme du patient — jamais son nom complet"),
    "nl": ("Geachte mevrouw, geachte heer", "gebruik in schrijnende gevallen",
           "Ontvangstbevestiging", "deel 2 van het formulier, ingevuld door de behandelende arts",
           "de initialen of het pseudoniem van de patiënt — nooit de volledige naam"),
    "de": ("Sehr geehrte Damen und Herren", "Compassionate Use", "Eingangsbestätigung",
           "Teil 2 des Formulars, von der behandelnden Ärztin oder dem behandelnden Arzt",
           "Initialen oder Pseudonym der Patientin bzw. des Patienten"),
}
ANSM_WORDS = {
    "en": ("Dear Sir or Madam", "individual derogation", "Acknowledgement of receipt",
           "a letter from the health professional(s)", "France only"),
    "fr": ("Madame, Monsieur", "dérogation individuelle", "Accusé de réception",
           "un courrier du ou des professionnels de santé", "en France"),
}


def context(**overrides: Any) -> dict[str, Any]:
    """An incomplete compassionate-use request as the reply composer would describe it."""
    base: dict[str, Any] = {
        "case_ref": "DRG-2025-000123",
        "request_type": "compassionate_use",
        "regulation": "MDR",
        "device_name": "CardioFlow 3",
        "documents": ["Part1_CardioFlow.pdf", "mandat-signé.pdf"],
        "missing": [{"id": "form_part2", "status": "missing"},
                    {"id": "patient_reference", "status": "missing"}],
        "advisory": [{"id": "ifu", "status": "missing"}],
        "contact_address": "derogation.meddev@fagg-afmps.be",
        "original_subject": "Compassionate Use – UZ Leuven – J.D.",
        "received_on": date(2025, 3, 4),
    }
    return {**base, **overrides}


@pytest.fixture(scope="module")
def famhp() -> TemplateSet:
    return load_templates(PROFILES / "famhp", checklist_ids=FAMHP_ITEMS,
                          request_types=FAMHP_TYPES)


@pytest.fixture(scope="module")
def ansm() -> TemplateSet:
    return load_templates(PROFILES / "ansm", checklist_ids=ANSM_ITEMS, request_types=ANSM_TYPES)


@pytest.fixture
def famhp_copy(tmp_path: Path) -> Path:
    """A writable copy of the FAMHP profile's templates, to break on purpose."""
    shutil.copytree(PROFILES / "famhp" / "templates", tmp_path / "templates")
    return tmp_path


def load_copy(root: Path) -> TemplateSet:
    return load_templates(root, checklist_ids=FAMHP_ITEMS, request_types=FAMHP_TYPES)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_famhp_template_speaks_the_applicants_language(
        famhp: TemplateSet, name: str, language: str) -> None:
    ctx = context()
    rendered = famhp.render(name, language, ctx)
    greeting, type_name, label, part2, patient = FAMHP_WORDS[language]
    assert rendered.language == language
    assert rendered.subject_label == label
    assert rendered.text.startswith(greeting)
    assert "DRG-2025-000123" in rendered.text
    assert "derogation.meddev@fagg-afmps.be" in rendered.text
    if name in ("new_incomplete", "follow_up"):
        assert type_name in rendered.text
        assert part2 in rendered.text
        assert patient in rendered.text
    if name != "enquiry" or ctx["documents"]:
        assert "Part1_CardioFlow.pdf" in rendered.text
        assert "mandat-signé.pdf" in rendered.text
    assert "{{" not in rendered.text and "{%" not in rendered.text


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_ansm_template_renders(ansm: TemplateSet, name: str, language: str) -> None:
    ctx = context(request_type="individual_derogation", contact_address="dm@ansm.example",
                  missing=[{"id": "professional_letter", "status": "missing"}])
    rendered = ansm.render(name, language, ctx)
    greeting, type_name, label, letter, territory = ANSM_WORDS[language]
    assert rendered.language == language
    assert rendered.subject_label == label
    assert rendered.text.startswith(greeting)
    assert "DRG-2025-000123" in rendered.text
    assert "ANSM" in rendered.text and "FAMHP" not in rendered.text
    if name in ("new_incomplete", "follow_up"):
        assert type_name in rendered.text
        assert letter in rendered.text
        assert territory in rendered.text


@pytest.mark.parametrize("language", ["nl", "de"])
def test_ansm_answers_dutch_and_german_in_english(ansm: TemplateSet, language: str) -> None:
    rendered = ansm.render("new_incomplete", language,
                           context(request_type="global_derogation", missing=[]))
    assert rendered.language == "en"
    assert rendered.text.startswith("Dear Sir or Madam")
    assert "global derogation" in rendered.text


def test_complete_request_says_so_and_lists_no_missing_item(famhp: TemplateSet) -> None:
    rendered = famhp.render("new_complete", "fr", context(missing=[]))
    assert "tous les éléments" in rendered.text
    assert "pas encore complète" not in rendered.text
    assert "la notice d'utilisation du dispositif" in rendered.text  # the advisory remark


def test_unreadable_document_is_explained(famhp: TemplateSet) -> None:
    ctx = context(missing=[{"id": "form_part2", "status": "unclear"}])
    text = famhp.render("new_incomplete", "nl", ctx).text
    assert "deel 2 van het formulier" in text
    assert "konden het niet lezen" in text


def test_unknown_request_type_asks_which_one(famhp: TemplateSet) -> None:
    text = famhp.render("new_incomplete", "de", context(request_type=None, missing=[])).text
    assert "Art des Antrags: nicht bestimmt" in text


def test_follow_up_completing_a_request(famhp: TemplateSet) -> None:
    text = famhp.render("follow_up", "en", context(missing=[], advisory=[])).text
    assert "Every required item of your request has now been received" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_html_alternative_is_escaped_and_plain_text_is_not(
        famhp: TemplateSet, language: str) -> None:
    rendered = famhp.render("new_incomplete", language,
                            context(documents=["a<b>&c.pdf"], device_name="<script>x</script>"))
    assert rendered.html is not None
    assert "a&lt;b&gt;&amp;c.pdf" in rendered.html
    assert "<script>" not in rendered.html
    assert "a<b>&c.pdf" in rendered.text
    assert FAMHP_WORDS[language][3] in rendered.html


def test_no_html_where_none_is_shipped(famhp: TemplateSet) -> None:
    assert famhp.render("enquiry", "en", context()).html is None


def test_subject_labels_of_every_language(famhp: TemplateSet) -> None:
    assert famhp.subject_labels() == {"Acknowledgement of receipt", "Accusé de réception",
                                      "Ontvangstbevestiging", "Eingangsbestätigung"}


def test_shipped_strings_explain_the_shipped_checklists() -> None:
    # Without explicit ids the profile's own triage.toml says what must be explained.
    for profile in ("famhp", "ansm"):
        load_templates(PROFILES / profile)


def test_missing_language_template_falls_back_to_english(famhp_copy: Path) -> None:
    (famhp_copy / "templates" / "fr" / "enquiry.txt.j2").unlink()
    rendered = load_copy(famhp_copy).render("enquiry", "fr", context())
    assert rendered.language == "en"
    assert rendered.subject_label == "Acknowledgement of receipt"
    assert rendered.text.startswith("Dear Sir or Madam")


def test_unknown_template_name_is_refused(famhp: TemplateSet) -> None:
    with pytest.raises(ValueError, match="unknown template"):
        famhp.render("new_incompelte", "en", context())


def test_syntax_error_names_file_and_line(famhp_copy: Path) -> None:
    path = famhp_copy / "templates" / "nl" / "follow_up.txt.j2"
    path.write_text("Geachte mevrouw, geachte heer,\n\n{% if missing %}\nontbreekt\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_copy(famhp_copy)
    assert caught.value.path == str(path)
    assert caught.value.line == 4
    assert "syntax" in caught.value.reason


def test_syntax_error_in_a_partial_names_the_partial(famhp_copy: Path) -> None:
    path = famhp_copy / "templates" / "de" / "_summary.txt.j2"
    path.write_text("Aktenzeichen: {{ case_ref }\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_copy(famhp_copy)
    assert caught.value.path == str(path)
    assert caught.value.line == 1


def test_misspelt_variable_is_found_at_load(famhp_copy: Path) -> None:
    path = famhp_copy / "templates" / "fr" / "_signature.txt.j2"
    source = path.read_text(encoding="utf-8")
    path.write_text(source.replace("{{ contact_address }}", "{{ contact_adress }}", 1),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_copy(famhp_copy)
    assert caught.value.path == str(path)
    assert caught.value.line == 3
    assert "contact_adress" in caught.value.reason


def test_missing_include_is_found_at_load(famhp_copy: Path) -> None:
    path = famhp_copy / "templates" / "en" / "new_complete.txt.j2"
    path.write_text("Dear Sir or Madam,\n\n{% include '_sumary.txt.j2' %}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_copy(famhp_copy)
    assert caught.value.path == str(path)
    assert caught.value.line == 3
    assert "_sumary.txt.j2" in caught.value.reason


def test_strings_without_an_item_explanation_are_refused(famhp_copy: Path) -> None:
    path = famhp_copy / "templates" / "nl" / "strings.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith("mandate_proof")),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_copy(famhp_copy)
    assert caught.value.path == str(path)
    assert "mandate_proof" in caught.value.reason
    assert caught.value.line is not None


def test_strings_without_a_request_type_name_are_refused(famhp_copy: Path) -> None:
    with pytest.raises(ConfigError, match=r"no name for.*individual_derogation"):
        load_templates(famhp_copy, checklist_ids=FAMHP_ITEMS,
                       request_types=("individual_derogation",))


def test_broken_strings_file_names_its_line(famhp_copy: Path) -> None:
    path = famhp_copy / "templates" / "de" / "strings.toml"
    path.write_text('subject_label = "Eingangsbestätigung"\n[checklist\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_copy(famhp_copy)
    assert caught.value.path == str(path)
    assert caught.value.line == 2


def test_unknown_key_in_strings_is_refused(famhp_copy: Path) -> None:
    path = famhp_copy / "templates" / "en" / "strings.toml"
    path.write_text('subjet = "typo"\n' + path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'subjet'"):
        load_copy(famhp_copy)


def test_english_templates_are_all_required(famhp_copy: Path) -> None:
    (famhp_copy / "templates" / "en" / "unknown_ref.txt.j2").unlink()
    with pytest.raises(ConfigError, match=r"missing required template unknown_ref\.txt\.j2"):
        load_copy(famhp_copy)


def test_misnamed_template_file_is_refused(famhp_copy: Path) -> None:
    (famhp_copy / "templates" / "fr" / "enquiry.txt.j2").rename(
        famhp_copy / "templates" / "fr" / "enquiry.txt")
    with pytest.raises(ConfigError, match=r"unexpected file 'enquiry\.txt'"):
        load_copy(famhp_copy)


def test_html_without_plain_text_is_refused(famhp_copy: Path) -> None:
    (famhp_copy / "templates" / "fr" / "new_incomplete.txt.j2").unlink()
    with pytest.raises(ConfigError, match="plain-text twin"):
        load_copy(famhp_copy)


def test_unknown_language_folder_is_refused(famhp_copy: Path) -> None:
    shutil.copytree(famhp_copy / "templates" / "en", famhp_copy / "templates" / "es")
    with pytest.raises(ConfigError, match="unknown language folder 'es'"):
        load_copy(famhp_copy)


def test_missing_templates_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no templates folder"):
        load_templates(tmp_path, checklist_ids=(), request_types=())
