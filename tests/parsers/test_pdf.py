"""PDF forms made with reportlab (and pypdf for signatures and encryption), read back."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    TextStringObject,
)
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

import parsers.pdf
from config.extraction_rules import ExtractionRules, load_extraction_rules
from parsers.labels import FileInfo
from parsers.pdf import pdf_to_document
from parsers.records import ExtractedDocument, Limits

FAMHP = Path(__file__).resolve().parents[2] / "config" / "profiles" / "famhp" / "extraction.toml"
TOP = A4[1]


@pytest.fixture(scope="module")
def rules() -> ExtractionRules:
    return load_extraction_rules(FAMHP)


def draw(pages: list[Callable[[Any], None]], title: str = "") -> bytes:
    """A PDF whose pages are drawn by the given functions on a reportlab canvas."""
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    if title:
        sheet.setTitle(title)
    for page in pages:
        sheet.setFont("Helvetica", 10)
        page(sheet)
        sheet.showPage()
    sheet.save()
    return buffer.getvalue()


def read(data: bytes, rules: ExtractionRules, name: str = "form.pdf",
         limits: Limits | None = None) -> ExtractedDocument:
    return pdf_to_document(FileInfo(name, "0" * 64, "application/pdf", len(data)), data, rules,
                           limits or Limits())


def by_key(document: ExtractedDocument) -> dict[str, str]:
    return {f.key: f.value for f in document.fields}


def text_field(sheet: Any, name: str, value: str, x: float, y: float, height: float = 16,
               **extra: Any) -> None:
    sheet.acroForm.textfield(name=name, value=value, x=x, y=y, width=250, height=height,
                             fontSize=9, **extra)


# --- fillable forms ----------------------------------------------------------------------------


def named_form(sheet: Any) -> None:
    sheet.drawString(50, TOP - 80, "Part 1 - to be completed by the applicant")
    text_field(sheet, "device_name", "CardioFlow 3", 220, TOP - 130)
    text_field(sheet, "risk_class", "Class IIb", 220, TOP - 160)
    text_field(sheet, "contact_email", "Jane.Doe@Example.BE", 220, TOP - 190)
    text_field(sheet, "period", "from May to June", 220, TOP - 220)
    sheet.acroForm.checkbox(name="role_manufacturer", checked=False, x=220, y=TOP - 250)
    sheet.acroForm.checkbox(name="role_authorised_representative", checked=True, x=320,
                            y=TOP - 250)


def test_fields_named_by_the_rules(rules: ExtractionRules) -> None:
    document = read(draw([named_form]), rules, "request.pdf")
    assert document.error is None and document.pages == 1
    assert by_key(document) == {"device_name": "CardioFlow 3", "risk_class": "IIb",
                                "contact_email": "jane.doe@example.be",
                                "applicant_role": "authorised_representative"}
    device = next(f for f in document.fields if f.key == "device_name")
    assert device.rule.startswith("famhp.name.device_name.device-") and device.confidence == 0.95
    assert (device.source.filename, device.source.channel, device.source.page,
            device.source.form_field) == ("request.pdf", "acroform", 1, "device_name")
    assert device.source.describe() == "request.pdf p.1 field device_name"
    assert any("period" in miss for miss in document.near_misses)
    assert document.kind == "form_part1"


def unnamed_form(sheet: Any) -> None:
    sheet.drawString(50, TOP - 125, "Name of the device")
    text_field(sheet, "Text1", "PulmoValve Junior", 220, TOP - 130)
    sheet.drawString(50, TOP - 155, "Registered place of business")
    sheet.drawString(50, TOP - 166, "of the manufacturer")
    text_field(sheet, "Text2", "Parkmore West, Galway", 220, TOP - 170, height=26)
    sheet.drawString(50, TOP - 200, "Risikoklasse")
    text_field(sheet, "Text3", "Klasse III", 50, TOP - 222)
    sheet.acroForm.checkbox(name="Check Box1", checked=False, x=50, y=TOP - 260, size=10)
    sheet.drawString(65, TOP - 258, "Manufacturer")
    sheet.acroForm.checkbox(name="Check Box2", checked=True, x=200, y=TOP - 260, size=10)
    sheet.drawString(215, TOP - 258, "Authorised representative")
    text_field(sheet, "Field_9", "J.D.", 220, TOP - 300, tooltip="Patient initials")


def test_meaningless_names_are_read_by_the_printed_label_or_tooltip(
        rules: ExtractionRules) -> None:
    document = read(draw([unnamed_form]), rules)
    assert by_key(document) == {
        "device_name": "PulmoValve Junior",
        "manufacturer_address": "Parkmore West, Galway",
        "risk_class": "III",
        "applicant_role": "authorised_representative",
        "patient_reference": "J.D."}
    found = {f.key: f for f in document.fields}
    assert found["device_name"].source.label == "Name of the device"
    assert found["device_name"].rule == "famhp.label.device_name.en.name-of-the-device"
    assert found["manufacturer_address"].source.label == (
        "Registered place of business of the manufacturer")
    assert found["risk_class"].source.label == "Risikoklasse"
    assert found["applicant_role"].source.form_field == "Check Box2"
    assert found["patient_reference"].source.label == "Patient initials"
    assert found["patient_reference"].confidence == 0.9


def test_only_pages_with_labels_are_read_with_positions(
        rules: ExtractionRules, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[int]] = []
    real = parsers.pdf.page_words

    def spy(data: bytes, numbers: list[int], pdfium_file: Any) -> Any:
        asked.append(list(numbers))
        return real(data, numbers, pdfium_file)

    monkeypatch.setattr(parsers.pdf, "page_words", spy)

    def prose(sheet: Any) -> None:
        sheet.drawString(50, TOP - 100, "The device is delivered sterile.")

    document = read(draw([prose, unnamed_form, prose]), rules)
    assert asked == [[1]]
    assert by_key(document)["device_name"] == "PulmoValve Junior"


# --- signatures ----------------------------------------------------------------------------------


def with_signature_field(data: bytes, signed: bool) -> bytes:
    """Add a /FT /Sig widget (pypdf); a signed one gets a signature dictionary as /V."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    page = writer.pages[0]
    widget = DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Widget"),
        NameObject("/FT"): NameObject("/Sig"), NameObject("/T"): TextStringObject("Sig1"),
        NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (50, 100, 250, 150)]),
        NameObject("/P"): page.indirect_reference, NameObject("/F"): NumberObject(4)})
    if signed:
        widget[NameObject("/V")] = writer._add_object(DictionaryObject({
            NameObject("/Type"): NameObject("/Sig"),
            NameObject("/Filter"): NameObject("/Adobe.PPKLite"),
            NameObject("/Contents"): ByteStringObject(b"\x30\x82" + b"\x00" * 30)}))
    ref = writer._add_object(widget)
    page[NameObject("/Annots")] = ArrayObject([*page.get("/Annots", []), ref])
    form: Any = writer._root_object["/AcroForm"]
    form.get_object()["/Fields"].get_object().append(ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("signed", [True, False])
def test_signature_fields(rules: ExtractionRules, signed: bool) -> None:
    document = read(with_signature_field(draw([named_form]), signed), rules)
    assert [(s.name, s.signed, s.page) for s in document.signatures] == [("Sig1", signed, 1)]
    assert document.signatures[0].source.form_field == "Sig1"
    assert by_key(document)["device_name"] == "CardioFlow 3"


def printed_signature(stamp: str) -> Callable[[Any], None]:
    def page(sheet: Any) -> None:
        sheet.drawString(50, TOP - 100, "Signature of the treating physician")
        sheet.rect(50, TOP - 170, 230, 60)
        if stamp:
            sheet.drawString(56, TOP - 125, stamp)
        sheet.drawString(50, TOP - 200, "Date of signature: 24/02/2026")
    return page


def test_printed_signature_lines_on_a_flattened_form(rules: ExtractionRules) -> None:
    signed = read(draw([printed_signature("Digitaal ondertekend door Dr. Claes")]), rules)
    unsigned = read(draw([printed_signature("")]), rules)
    assert [(s.name, s.signed) for s in signed.signatures] == [
        ("Signature of the treating physician", True)]
    assert [s.signed for s in unsigned.signatures] == [False]
    assert by_key(signed)["signature_date"] == "2026-02-24"


def test_the_second_line_of_a_wrapped_date_label_is_no_signature_line(
        rules: ExtractionRules) -> None:
    # '... Plaats en datum' over 'van ondertekening' asks for the date of signing: no line to
    # sign on, so the form is not 'unsigned' for it.
    def wrapped(sheet: Any) -> None:
        sheet.drawString(50, TOP - 80, "Name of the device: FlowGuard ND")
        sheet.drawString(50, TOP - 100, "Lieu et date de signature / Plaats en datum")
        sheet.drawString(300, TOP - 100, "28.04.2026")
        sheet.drawString(50, TOP - 112, "van ondertekening")

    document = read(draw([wrapped]), rules)
    assert document.signatures == ()
    assert by_key(document)["signature_date"] == "2026-04-28"


# --- flattened forms ---------------------------------------------------------------------------


def flat_form(sheet: Any) -> None:
    sheet.drawString(50, TOP - 80, "Name of the device: FlowGuard ND")
    sheet.drawString(50, TOP - 100, "Model")
    sheet.drawString(250, TOP - 100, "FG-ND 4.5 x 20")
    sheet.drawString(50, TOP - 130, "Justification:")
    sheet.drawString(50, TOP - 145, "No CE-marked flow diverter of 4.5 mm is")
    sheet.drawString(50, TOP - 157.5, "available since November 2025.")
    sheet.drawString(50, TOP - 190, "Quantité demandée")
    sheet.drawString(250, TOP - 190, "Classe de risque")
    sheet.drawString(50, TOP - 205, "12 unités")
    sheet.drawString(250, TOP - 205, "Classe III")
    sheet.drawString(50, TOP - 240, "The applicant is the:")
    sheet.rect(58, TOP - 262, 9, 9)
    sheet.drawString(74, TOP - 261, "Manufacturer")
    sheet.rect(58, TOP - 276, 9, 9)
    sheet.setFont("Helvetica-Bold", 8)
    sheet.drawCentredString(62.5, TOP - 274.5, "X")
    sheet.setFont("Helvetica", 10)
    sheet.drawString(74, TOP - 275, "Mandated third party")


def test_flattened_form_labels_and_values_by_position(rules: ExtractionRules) -> None:
    document = read(draw([flat_form]), rules)
    assert by_key(document) == {
        "device_name": "FlowGuard ND", "device_model": "FG-ND 4.5 x 20",
        "justification": "No CE-marked flow diverter of 4.5 mm is available since "
                         "November 2025.",
        "quantity": "12", "risk_class": "III", "applicant_role": "mandated_third_party"}
    found = {f.key: f for f in document.fields}
    assert {f.source.channel for f in document.fields} == {"pdf_text"}
    assert found["device_model"].source.label == "Model"
    assert found["quantity"].rule == "famhp.label.quantity.fr.quantite-demandee"
    assert found["applicant_role"].raw == "Mandated third party"
    assert document.language == "en" or document.language is None


# --- long documents, limits, unreadable files -----------------------------------------------------


def numbered(number: int) -> Callable[[Any], None]:
    def page(sheet: Any) -> None:
        sheet.drawString(50, TOP - 100, f"Instructions for use, page marker P{number:03d}.")
    return page


def test_a_long_pdf_is_classified_from_its_first_pages(rules: ExtractionRules) -> None:
    data = draw([numbered(n) for n in range(1, 41)], title="Instructions for use")
    document = read(data, rules, "scan.pdf")
    assert document.pages == 40 and document.kind == "ifu"
    assert "P003" in document.text and "P004" not in document.text
    whole = read(data, rules, "scan.pdf", Limits(full_read_max_pages=50))
    assert "P040" in whole.text


def test_text_is_capped(rules: ExtractionRules) -> None:
    data = draw([numbered(n) for n in range(1, 6)])
    assert len(read(data, rules, limits=Limits(max_text_chars=60)).text) <= 60


def encrypted(data: bytes, user: str, owner: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user, owner_password=owner, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_password_protected_pdf_is_reported_encrypted(rules: ExtractionRules) -> None:
    document = read(encrypted(draw([named_form]), "secret", "owner"), rules, "part1.pdf")
    assert document.error == "encrypted" and document.fields == ()
    assert document.kind == "form_part1"  # from the file name alone


def test_an_empty_user_password_opens_like_a_plain_pdf(rules: ExtractionRules) -> None:
    document = read(encrypted(draw([named_form]), "", "owner"), rules)
    assert document.error is None
    assert by_key(document)["device_name"] == "CardioFlow 3"


@pytest.mark.parametrize("data", [b"", b"%PDF-1.7\n1 0 obj << /Type /Catalog", b"\x00" * 99,
                                  b"%PDF-1.4\n" + b"\xff" * 500 + b"\n%%EOF"])
def test_broken_files_come_back_as_broken(rules: ExtractionRules, data: bytes) -> None:
    document = read(data, rules)
    assert document.error == "broken" and document.fields == ()


def test_a_truncated_pdf_never_raises(rules: ExtractionRules) -> None:
    data = draw([named_form, flat_form])
    for cut in (len(data) // 3, len(data) // 2, len(data) - 200):
        document = read(data[:cut], rules)
        assert document.error in (None, "broken")


def german_form(sheet: Any) -> None:
    lines = ["Name des Antragstellers: NeuroVasc Dynamics GmbH",
             "Handelsname des Produkts: FlowGuard ND",
             "Risikoklasse: Klasse IIb",
             "Anzahl der beantragten Produkte: drei",
             "Datum der Unterschrift: 2. März 2026",
             "Der Antragsteller ist:"]
    for index, line in enumerate(lines):
        sheet.drawString(50, TOP - 80 - 15 * index, line)
    sheet.rect(58, TOP - 182, 9, 9)
    sheet.drawCentredString(62.5, TOP - 180.5, "X")
    sheet.drawString(74, TOP - 181, "Hersteller")


def test_a_german_flattened_form(rules: ExtractionRules) -> None:
    document = read(draw([german_form]), rules)
    assert by_key(document) == {
        "applicant_name": "NeuroVasc Dynamics GmbH", "device_name": "FlowGuard ND",
        "risk_class": "IIb", "quantity": "3", "signature_date": "2026-03-02",
        "applicant_role": "manufacturer"}
    assert document.language == "de"


def labels_then_values(sheet: Any) -> None:
    """A flattened form whose text layer holds every label first and every value after,
    in two columns; the role's value is a word that is itself a label ('Manufacturer')."""
    rows = [(50, 80, "Manufacturer", "Valvia Cardio Ltd"), (300, 80, "Model", "PVJ-18"),
            (300, 100, "Device trade name", "PulmoValve Junior"),
            (300, 140, "Regulation applicable", "MDR (EU) 2017/745"),
            (50, 160, "Status of the applicant", "Manufacturer")]
    for x, down, label, _ in rows:
        sheet.drawString(x, TOP - down, label)
    for x, down, _, value in rows:
        sheet.drawString(x + 120, TOP - down, value)


def test_values_after_all_labels_in_the_text_layer_are_paired_by_position(
        rules: ExtractionRules) -> None:
    document = read(draw([labels_then_values]), rules)
    assert by_key(document) == {
        "applicant_role": "manufacturer", "manufacturer_name": "Valvia Cardio Ltd",
        "device_name": "PulmoValve Junior", "device_model": "PVJ-18", "regulation": "MDR"}


def xfa_form(datasets: bytes) -> bytes:
    """A one-page PDF whose form is an XFA form holding the given datasets packet."""
    writer = PdfWriter(clone_from=io.BytesIO(draw([lambda sheet: sheet.drawString(
        50, TOP - 80, "Application form (please fill in with Adobe Reader)")])))
    packets = ArrayObject()
    for name, body in (("template", b"<template xmlns='http://www.xfa.org/schema/xfa-template/3.3/'/>"),
                       ("datasets", datasets)):
        stream = DecodedStreamObject()
        stream.set_data(body)
        packets.extend([TextStringObject(name), writer._add_object(stream)])
    writer.root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject(), NameObject("/XFA"): packets})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_the_data_of_an_xfa_form_is_read_like_form_fields(rules: ExtractionRules) -> None:
    data = (b"<xfa:datasets xmlns:xfa='http://www.xfa.org/schema/xfa-data/1.0/'><xfa:data>"
            b"<form1><Device><DeviceName>PulmoValve Junior</DeviceName><DeviceModel>PVJ-18"
            b"</DeviceModel></Device><Regulation>MDR</Regulation><Notes/></form1>"
            b"</xfa:data></xfa:datasets>")
    document = read(xfa_form(data), rules)
    assert by_key(document) == {"device_name": "PulmoValve Junior", "device_model": "PVJ-18",
                                "regulation": "MDR"}
    assert next(f for f in document.fields if f.key == "device_name").source.form_field == \
        "form1.Device.DeviceName"
    assert document.page_problems == ()


@pytest.mark.parametrize("datasets", [
    b"<xfa:datasets><broken",
    b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>",
])
def test_an_xfa_form_whose_data_cannot_be_read_is_said_so(
        rules: ExtractionRules, datasets: bytes) -> None:
    document = read(xfa_form(datasets), rules)
    assert document.fields == ()
    assert [p.detail for p in document.page_problems] == ["XFA form: values not read"]


def wrapped_justification(sheet: Any) -> None:
    sheet.drawString(50, TOP - 80, "Justification")
    sheet.drawString(250, TOP - 80, "No CE-marked device of this size exists. Expected")
    sheet.drawString(250, TOP - 92.5, "benefit: avoiding open surgery.")
    sheet.drawString(50, TOP - 120, "Model")
    sheet.drawString(250, TOP - 120, "PVJ-18")


def test_a_wrapped_line_with_a_colon_carries_the_value_on(rules: ExtractionRules) -> None:
    assert by_key(read(draw([wrapped_justification]), rules)) == {
        "justification": "No CE-marked device of this size exists. Expected benefit: avoiding "
                         "open surgery.",
        "device_model": "PVJ-18"}


def test_a_form_with_a_mandate_from_page_two_is_two_parts(rules: ExtractionRules) -> None:
    def form(sheet: Any) -> None:
        sheet.drawString(50, TOP - 40, "Request form - Belgium")
        sheet.drawString(50, TOP - 80, "Name of the device: FlowGuard ND")
        sheet.drawString(50, TOP - 100, "Role of the applicant: Mandated third party")

    def mandate(sheet: Any) -> None:
        sheet.drawString(50, TOP - 40, "Mandate agreement")
        sheet.drawString(50, TOP - 60, "NeuroVasc Dynamics GmbH mandates Clinreg BV to submit "
                                       "the request.")

    document = read(draw([form, mandate]), rules, name="national_form.pdf")
    assert [(p.kind, p.where) for p in document.parts] == [
        ("national_form", "pages 1-1"), ("mandate", "pages 2-2")]


def test_a_label_wrapped_over_three_lines_keeps_its_value(rules: ExtractionRules) -> None:
    # Three rows of the form, as on the real one: a page whose plain text starts only one
    # line with a label is no form to read with positions (the page's text is pdfium's,
    # which holds a label and the value printed beside it on one line).
    def form(sheet: Any) -> None:
        sheet.drawString(50, TOP - 80, "Gelieve aan te geven in welke")
        sheet.drawString(250, TOP - 80, "Wij zijn de wettelijke fabrikant van het hulpmiddel")
        sheet.drawString(50, TOP - 92.5, "hoedanigheid de organisatie deze aanvraag")
        sheet.drawString(50, TOP - 105, "indient")
        sheet.drawString(50, TOP - 130, "Naam van het hulpmiddel")
        sheet.drawString(250, TOP - 130, "FlowGuard ND")
        sheet.drawString(50, TOP - 155, "Naam van de fabrikant")
        sheet.drawString(250, TOP - 155, "NeuroVasc Dynamics GmbH")

    assert by_key(read(draw([form]), rules)) == {
        "applicant_role": "manufacturer", "device_name": "FlowGuard ND",
        "manufacturer_name": "NeuroVasc Dynamics GmbH"}


def test_the_end_of_a_title_wrapped_in_its_bracket_is_no_value(rules: ExtractionRules) -> None:
    # '... procedure (national' over 'derogation, Belgium)': the second line closes the
    # bracket the first opened, so it ends the title and answers nothing.
    def title(sheet: Any) -> None:
        sheet.drawString(50, TOP - 60, "Request for exemption from the conformity assessment "
                                       "procedure (national")
        sheet.drawString(50, TOP - 72, "derogation, Belgium)")
        sheet.drawString(50, TOP - 100, "Name of the device: FlowGuard ND")

    found = by_key(read(draw([title]), rules))
    assert "derogation, Belgium)" not in found.values()
    assert found["device_name"] == "FlowGuard ND"


def test_a_wrapped_label_asking_two_fields_gives_both(rules: ExtractionRules) -> None:
    # 'Extent of the exceptional use' over '(units and duration)': neither line alone is the
    # label; together they ask for the quantity and the period, and the value answers both.
    def form(sheet: Any) -> None:
        sheet.drawString(50, TOP - 80, "Étendue de l'utilisation exceptionnelle")
        sheet.drawString(250, TOP - 80, "26 pièces pour une durée de 18 mois")
        sheet.drawString(50, TOP - 92.5, "(unités et durée)")
        sheet.drawString(50, TOP - 130, "Nom du dispositif")
        sheet.drawString(250, TOP - 130, "FlowGuard ND")

    found = by_key(read(draw([form]), rules))
    assert found == {"quantity": "26", "period": "P18M", "device_name": "FlowGuard ND"}


@pytest.mark.parametrize("heading", ["Part 2 - to be completed by the treating physician",
                                     "Section 2 - to be completed by the treating physician"])
def test_issue_14_a_part_heading_and_its_instructions_give_no_field(
        rules: ExtractionRules, heading: str) -> None:
    # 'Part 2 - to be completed by the treating physician' names who fills the part in: it is
    # no label of the physician's name or e-mail. A heading no kind rule knows ('Section 2')
    # comes near those labels without being one: the instructions under it, which mention
    # the agency's mailbox, answer neither. A placeholder of the instructions wrapped to a
    # line of its own ('<hospital name> - <patient', the rest of the line apart) is no label.
    def form(sheet: Any) -> None:
        sheet.drawString(50, TOP - 60, heading)
        sheet.drawString(50, TOP - 72, "Send the completed and signed form to "
                                       "derogation.meddev@fagg-afmps.be. For compassionate use,")
        sheet.drawString(50, TOP - 84, "use the subject 'Compassionate Use -")
        sheet.drawString(50, TOP - 96, "<hospital name> - <patient")
        sheet.drawString(250, TOP - 96, "Do not mention the patient's full name.")
        sheet.drawString(50, TOP - 130, "Name of the treating physician")
        sheet.drawString(250, TOP - 130, "Prof. Dr. Katrien Vandenberghe")

    assert by_key(read(draw([form]), rules)) == {
        "physician_name": "Prof. Dr. Katrien Vandenberghe"}
