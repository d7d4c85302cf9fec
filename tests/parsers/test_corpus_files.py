"""Every real PDF and Word file of the shared corpus comes back as a document, never raises.

Where the corpus's expectations.json states facts (passwords, form values, page counts,
check boxes, text), a sensible subset is checked against what a reviewer would see.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from config.extraction_rules import ExtractionRules, load_extraction_rules
from parsers.extract import file_to_document
from parsers.pdf import open_pdf
from parsers.pdf_form import read_form
from parsers.records import ExtractedDocument

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
FAMHP = ROOT / "config" / "profiles" / "famhp" / "extraction.toml"
KNOWN_REASONS = {None, "encrypted", "broken", "unsupported_format", "zip_bomb", "too_large"}
# Facts that give a password needed to open the file.
PASSWORD_FACTS = {"password", "user password", "user / owner password",
                  "password accepted by pdf2txt", "password given to decrypt()"}
# Encrypted with an empty user password (SOURCES.md notes): they open like plain PDFs.
EMPTY_USER_PASSWORD = {"pypdf_r2-empty-password.pdf", "pypdf_r5-owner-password.pdf",
                       "pdfjs_issue9972-1.pdf", "pdfjs_issue9972-2.pdf",
                       "pdfjs_bug1815476.pdf", "pdfjs_secHandler.pdf"}
# Not readable whatever the password: certificate encryption (SOURCES.md).
CERTIFICATE_ENCRYPTED = {"pyhanko_minimal-pubkey-aes256.pdf"}


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        raise FileNotFoundError(f"the shared corpus is missing: {CORPUS}")
    files = sorted([*(CORPUS / "pdfs").iterdir(), *(CORPUS / "docx").iterdir()])
    if len(files) < 100:
        raise FileNotFoundError(f"the shared corpus looks incomplete: {len(files)} files")
    return files


@cache
def expectations() -> dict[str, list[dict[str, Any]]]:
    data = json.loads((CORPUS / "expectations.json").read_text(encoding="utf-8"))
    return {path: entry["expect"] for path, entry in data["files"].items()}


@cache
def rules() -> ExtractionRules:
    return load_extraction_rules(FAMHP)


@cache
def document_of(path: Path) -> ExtractedDocument:
    return file_to_document(path.name, path.read_bytes(), rules())


def facts(path: Path) -> dict[str, Any]:
    key = f"{path.parent.name}/{path.name}"
    return {fact["what"]: fact["value"] for fact in expectations().get(key, [])}


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_file_gives_a_document(path: Path) -> None:
    document = document_of(path)
    assert isinstance(document, ExtractedDocument)
    assert document.error in KNOWN_REASONS
    assert document.filename == path.name and document.size == path.stat().st_size
    if document.error is not None:
        assert document.fields == () and document.text == ""
    for field in document.fields:
        assert field.source.filename == path.name and field.rule


def with_facts(*names: str) -> list[Path]:
    wanted = set(names)
    return [p for p in corpus_files() if wanted & set(facts(p))]


@pytest.mark.parametrize("path", with_facts(*PASSWORD_FACTS), ids=lambda p: p.name)
def test_password_protected_files_are_reported_encrypted(path: Path) -> None:
    document = document_of(path)
    if path.name in EMPTY_USER_PASSWORD:
        assert document.error is None and document.pages
    else:
        assert document.error == "encrypted"


@pytest.mark.parametrize("name", sorted(EMPTY_USER_PASSWORD | CERTIFICATE_ENCRYPTED))
def test_empty_user_passwords_open_and_certificates_do_not(name: str) -> None:
    document = document_of(CORPUS / "pdfs" / name)
    assert document.error == ("encrypted" if name in CERTIFICATE_ENCRYPTED else None)


@pytest.mark.parametrize("path", with_facts("text fields"), ids=lambda p: p.name)
def test_known_acroform_values_are_read_as_raw_form_values(path: Path) -> None:
    form = {f.name: f.value for f in read_form(open_pdf(path.read_bytes()))}
    assert form == facts(path)["text fields"]


FORM_FACTS = ("contains AcroForm interactive fields",
              "field 'Nationality' has an /Opt option list (dropdown)")


@pytest.mark.parametrize("path", with_facts(*FORM_FACTS), ids=lambda p: p.name)
def test_acroform_fields_are_listed(path: Path) -> None:
    names = [f.name for f in read_form(open_pdf(path.read_bytes()))]
    assert names
    if "libreoffice" in path.name:
        assert "Nationality" in names


def test_hierarchical_field_names_are_dotted() -> None:
    path = CORPUS / "pdfs" / "pyhanko_minimal-with-textfield-group.pdf"
    names = {f.name for f in read_form(open_pdf(path.read_bytes()))}
    assert {"TextInput.TextField1", "TextInput.TextField2", "Sig1"} <= names


def test_a_circular_field_tree_is_cut_not_followed() -> None:
    path = CORPUS / "pdfs" / "pyhanko_form-tree-circular-ref-input.pdf"
    document = document_of(path)
    assert document.error is None
    assert len(read_form(open_pdf(path.read_bytes()))) < 50


def needs_password(path: Path) -> bool:
    known = facts(path)
    return path.name not in EMPTY_USER_PASSWORD and any(known.get(f) for f in PASSWORD_FACTS)


@pytest.mark.parametrize("path", [p for p in with_facts(
    "pages", "pages / encrypted / forms", "number of pages (pdf.js, also with stopAtErrors)")
    if not needs_password(p)], ids=lambda p: p.name)
def test_page_counts(path: Path) -> None:
    known = facts(path)
    pages = known.get("pages") or (known.get("pages / encrypted / forms") or [None])[0] or \
        known.get("number of pages (pdf.js, also with stopAtErrors)")
    document = document_of(path)
    assert document.error is None and document.pages == pages
    if "pages / encrypted / forms" in known:
        assert read_form(open_pdf(path.read_bytes())) == []


@pytest.mark.parametrize(("name", "signed"), [
    ("pdfjs_signed_verified.pdf", [True]),
    ("pyhanko_tail-uncovered.pdf", [True]),
    ("pyhanko_minimal-two-fields-signed-twice.pdf", [True, True]),
    ("pyhanko_minimal-with-field.pdf", [False]),
    ("pyhanko_minimal-two-fields.pdf", [False, False]),
])
def test_signature_fields_and_whether_they_hold_a_signature(name: str,
                                                            signed: list[bool]) -> None:
    document = document_of(CORPUS / "pdfs" / name)
    assert [s.signed for s in document.signatures] == signed


@pytest.mark.parametrize("name", ["pdfplumber_empty.pdf", "pdfjs_bug1020226.pdf",
                                  "poi_truncated62886.docx",
                                  "poi_clusterfuzz-testcase-minimized-POIXWPFFuzzer-"
                                  "5313273089884160.docx"])
def test_files_other_readers_refuse_are_broken(name: str) -> None:
    folder = "docx" if name.endswith(".docx") else "pdfs"
    assert document_of(CORPUS / folder / name).error == "broken"


def test_a_macro_enabled_word_file_is_refused() -> None:
    document = document_of(CORPUS / "docx" / "poi_45690.docm")
    assert document.error == "unsupported_format"
    assert "PDF or DOCX" in document.error_detail


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


@pytest.mark.parametrize(("name", "fact"), [
    ("pdfminer_simple1.pdf", "extracted text"),
    ("pdfminer_zen_of_python_corrupted.pdf", "extracted text starts with"),
])
def test_pdf_text_holds_what_pdfminer_extracts(name: str, fact: str) -> None:
    document = document_of(CORPUS / "pdfs" / name)
    expected = facts(CORPUS / "pdfs" / name)[fact]
    assert all(word in document.text for word in words(expected))


# --- Word ----------------------------------------------------------------------------------------


def word_text(name: str) -> str:
    document = document_of(CORPUS / "docx" / name)
    assert document.error is None
    return document.text


def glyphs(text: str) -> list[str]:
    return [c for c in text if c in "☐☒"]


def test_content_control_paragraphs_are_read() -> None:
    text = word_text("docx2python_ControlTest.docx")
    for paragraph in facts(CORPUS / "docx" / "docx2python_ControlTest.docx")[
            "paragraphs with their SDT tag"]:
        assert paragraph.split("]: ", 1)[1].strip() in text


def test_check_boxes_and_drop_downs_of_both_kinds() -> None:
    known = facts(CORPUS / "docx" / "docx2python_check_drop_my.docx")
    text = word_text("docx2python_check_drop_my.docx")
    assert glyphs(text) == known["checkbox glyphs in order"]
    for value in known["dropdown values"]:
        assert value in text


def test_legacy_check_boxes_ticked_by_a_bare_checked_element() -> None:
    text = word_text("docx2python_checked_boxes.docx")
    for label in facts(CORPUS / "docx" / "docx2python_checked_boxes.docx")["checked boxes (12)"]:
        assert f"☒ {label}" in text
    assert glyphs(text).count("☒") == 12


def test_legacy_check_boxes_with_explicit_values() -> None:
    known = facts(CORPUS / "docx" / "docx2python_checked-true-false.docx")
    marks = glyphs(word_text("docx2python_checked-true-false.docx"))
    assert (marks.count("☒"), marks.count("☐")) == (known["checked count"],
                                                     known["unchecked count"])


@pytest.mark.parametrize(("name", "shown"), [
    ("docx2python_checked_drop1.docx", ["☒", "PIlihan A"]),
    ("docx2python_unchecked_drop0.docx", ["☐", "Piihan B"]),
    ("docx2python_list_index_a.docx", ["Silver"]),
    ("poi_tika-3816.docx", ["Note\tDetails"]),
    ("docx2python_renamed_document_xml.docx", ["my website"]),
    ("docx2python_strict.docx", ["Bullet1", "Number2", "Cellaa", "Cellbb"]),
    ("mammoth_strict-format.docx", ["Test"]),
    ("mammoth_text-box.docx", ["Datum plane"]),
    ("mammoth_utf8-bom.docx", ["This XML has a byte order mark."]),
    ("mammoth_tables.docx", ["Above", "Top left\tTop right", "Bottom left\tBottom right",
                             "Below"]),
    ("poi_Bug54849.docx", ["Rich_text", "Plain_text_no_newlines", "Watermelon", "Dirt",
                           "4/16/2013", "Rich_text_in_cell", "rich_text_in_paragraph_in_cell"]),
])
def test_word_text_shows_what_the_source_tests_assert(name: str, shown: list[str]) -> None:
    text = word_text(name)
    for piece in shown:
        assert piece in text


def test_merged_cells_are_read_once() -> None:
    text = word_text("docx2python_merged_cells.docx")
    rows = facts(CORPUS / "docx" / "docx2python_merged_cells.docx")[
        "body with duplicate_merged_cells=True"]
    for cell in {c for row in rows for c in row}:
        assert cell in text


def test_check_boxes_in_text_boxes_tables_and_sequences() -> None:
    expected = facts(CORPUS / "docx" / "poi_checkboxes.docx")["extracted text"]
    assert glyphs(word_text("poi_checkboxes.docx")) == glyphs(
        expected.replace("|_|", "☐").replace("|X|", "☒"))


def test_an_external_entity_is_not_expanded() -> None:
    known = facts(CORPUS / "docx" / "poi_ExternalEntityInText.docx")
    assert word_text("poi_ExternalEntityInText.docx").strip() == known[
        "extracted text (entity NOT expanded)"]


def test_tracked_changes_read_as_accepted() -> None:
    # POI also prints deleted text; a deleted statement is not what the applicant says now.
    deleted, kept = facts(CORPUS / "docx" / "poi_delins.docx")["text contains"]
    text = word_text("poi_delins.docx")
    assert kept in text and deleted not in text


def test_an_empty_document_is_empty_not_an_error() -> None:
    assert word_text("mammoth_empty.docx") == ""


def test_an_external_picture_is_not_fetched_and_no_error() -> None:
    assert document_of(CORPUS / "docx" / "mammoth_external-picture.docx").error is None
