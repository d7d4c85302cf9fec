"""A message to an Extraction: every attachment read, the body's labelled lines found."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from PIL import Image

from config.extraction_rules import ExtractionRules, load_extraction_rules
from parsers.extract import body_to_fields, extract_message, file_to_document
from parsers.mime import message_to_parts
from parsers.records import Attachment, ParsedMessage

ROOT = Path(__file__).resolve().parents[2]
FAMHP = ROOT / "config" / "profiles" / "famhp" / "extraction.toml"
FORMS = ROOT / "tests" / "fixtures" / "forms"

BODY = """Dear FAMHP,

Please find attached our request for compassionate use.

Device name: PulmoValve Junior
Risk class: Class III
Patient: L.M.
> Device name: an older quoted value

Kind regards,
Ciara Walsh
"""


@pytest.fixture(scope="module")
def rules() -> ExtractionRules:
    return load_extraction_rules(FAMHP)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, format="PNG")
    return out.getvalue()


def request_mail() -> bytes:
    mail = EmailMessage()
    mail["From"] = "Ciara Walsh <ciara.walsh@valvia-cardio.ie>"
    mail["To"] = "derogation.meddev@fagg-afmps.be"
    mail["Subject"] = "Compassionate Use - UZ Leuven - L.M."
    mail["Message-ID"] = "<req-1@valvia-cardio.ie>"
    mail.set_content(BODY)
    for name in ("part1_en_fillable.pdf", "part2_en_sdt.docx"):
        maintype, subtype = (("application", "pdf") if name.endswith(".pdf") else
                             ("application", "octet-stream"))
        mail.add_attachment((FORMS / name).read_bytes(), maintype=maintype, subtype=subtype,
                            filename=name)
    mail.add_attachment(png(), maintype="image", subtype="png", filename="IFU_label.png")
    return mail.as_bytes()


def test_a_request_mail_gives_documents_and_body_fields(rules: ExtractionRules) -> None:
    extraction = extract_message(message_to_parts(request_mail()), rules)
    kinds = [(d.filename, d.kind, d.error) for d in extraction.documents]
    assert kinds == [("part1_en_fillable.pdf", "form_part1", None),
                     ("part2_en_sdt.docx", "form_part2", None),
                     ("IFU_label.png", "ifu", None)]
    assert extraction.rules_version == ""
    body = {f.key: f for f in extraction.body_fields}
    assert {k: f.value for k, f in body.items()} == {
        "device_name": "PulmoValve Junior", "risk_class": "III", "patient_reference": "L.M."}
    assert (body["device_name"].source.channel, body["device_name"].source.line) == ("body", 5)
    assert body["device_name"].source.describe() == "body line 5"
    part1 = extraction.documents[0]
    assert part1.sha256 == hashlib.sha256((FORMS / "part1_en_fillable.pdf").read_bytes()
                                          ).hexdigest()
    everything = extraction.all_fields()
    assert everything[:3] == extraction.body_fields
    assert {f.source.filename for f in everything[3:]} == {"part1_en_fillable.pdf",
                                                            "part2_en_sdt.docx"}


def test_an_attachment_that_could_not_be_unpacked_keeps_its_error(
        rules: ExtractionRules) -> None:
    bomb = Attachment(filename="docs.zip", declared_type="application/zip",
                      content_type="application/zip", data=b"", sha256="0" * 64, size=42,
                      error="zip_bomb", error_detail="ratio 1000")
    parsed = ParsedMessage(
        message_id="x@y", in_reply_to=(), references=(), sender="a@b.be", sender_name=None,
        reply_to=None, return_path=None, to=(), cc=(), subject="", date=datetime(2026, 3, 1),
        headers=(), content_type="multipart/mixed", body_text="", body_html=None,
        attachments=(bomb,))
    extraction = extract_message(parsed, rules)
    document = extraction.documents[0]
    assert (document.filename, document.error, document.error_detail, document.size) == (
        "docs.zip", "zip_bomb", "ratio 1000", 42)
    assert extraction.body_fields == ()


def test_file_to_document_reads_a_bare_file(rules: ExtractionRules) -> None:
    data = (FORMS / "national_fr_above.docx").read_bytes()
    document = file_to_document("national_fr_above.docx", data, rules)
    assert document.kind == "national_form" and document.language == "fr"
    assert document.content_type == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    assert {f.key: f.value for f in document.fields}["risk_class"] == "D"


def test_file_to_document_never_raises_on_rubbish(rules: ExtractionRules) -> None:
    for name, data in (("a.pdf", b"%PDF-"), ("b.docx", b"PK\x03\x04"), ("c.bin", b"\x00\x01"),
                       ("d.txt", b"Device name: X")):
        document = file_to_document(name, data, rules)
        assert document.error in (None, "broken")


def test_a_value_may_carry_a_second_field(rules: ExtractionRules) -> None:
    fields = body_to_fields("Aanvrager: Respira Medical BV (fabrikant)\n"
                            "Verordening: MDR, klasse IIa\n", rules)
    found = {f.key: (f.value, f.rule, f.source.line) for f in fields}
    assert found == {
        "applicant_name": ("Respira Medical BV (fabrikant)",
                           "famhp.label.applicant_name.nl.aanvrager", 1),
        "applicant_role": ("manufacturer", "famhp.also.applicant_name.applicant_role", 1),
        "regulation": ("MDR", "famhp.label.regulation.nl.verordening", 2),
        "risk_class": ("IIa", "famhp.also.regulation.risk_class", 2)}
    derived = next(f for f in fields if f.key == "risk_class")
    assert derived.confidence < next(f for f in fields if f.key == "regulation").confidence
