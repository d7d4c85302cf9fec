"""Scanned and photographed forms read by OCR: fields, signatures on paper, honest limits.

The scans are made at test time from the fixture forms (``tests.parsers.scans``: printed,
signed by hand or not, turned, blurred, speckled; one photographed JPEG; one multi-page
TIFF). OCR costs seconds a page, so a handful of pages is read here; the whole set is
measured by ``python -m tests.parsers.measure_scans`` (figures in the README).
"""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from functools import cache
from pathlib import Path

import pdfplumber
import pytesseract  # type: ignore[import-untyped]
import pytest
from PIL import Image, ImageDraw

import parsers.scan
from parsers.ocr import installed_languages
from parsers.records import ExtractedDocument, Limits
from tests.parsers.measure_scans import Tally, read_scan, render, score
from tests.parsers.scans import FORMS, Scan, make_scan

pytestmark = pytest.mark.slow

HANDFUL = (("part2_en_flat", "scan", True), ("part2_nl_flat", "scan", False),
           ("part2_fr_flat", "photo", True), ("part1_fr_flat", "tiff", None),
           ("part2_nl_fillable", "scan", False))


@cache
def scanned(name: str, style: str, signed: bool | None) -> tuple[Scan, ExtractedDocument]:
    scan = make_scan(FORMS / f"{name}.pdf", style, seed=0, signed=signed)
    return scan, read_scan(scan)[0]


@cache
def tally() -> Tally:
    result = Tally()
    for name, style, signed in HANDFUL:
        scan, _ = scanned(name, style, signed)
        score([scan], result)
    return result


def test_a_scanned_part2_gives_its_fields_marked_as_read_from_a_scan() -> None:
    _, document = scanned("part2_en_flat", "scan", True)
    assert document.error is None and document.kind == "form_part2"
    assert document.language == "en" and document.page_problems == ()
    found = {f.key: f for f in document.fields}
    assert found["hospital_name"].value == "UZ Leuven"
    assert found["intended_use_date"].value == "2026-03-23"
    for value in found.values():
        assert value.source.channel == "ocr" and value.source.page == 1
        assert value.source.ocr_confidence is not None and value.source.ocr_confidence > 60
        assert value.confidence < 0.85  # a typed 'label value' line counts 0.85
        assert "read from a scan" in value.source.describe()


def test_a_signature_drawn_on_the_line_is_seen_with_its_picture() -> None:
    _, document = scanned("part2_en_flat", "scan", True)
    [signature] = document.signatures
    assert signature.signed and signature.page == 1 and signature.source.channel == "ocr"
    assert "p.1 area" in signature.evidence and "signed" in signature.evidence
    prefix = "data:image/png;base64,"
    assert signature.picture.startswith(prefix) and len(signature.picture) < 16_000
    picture = Image.open(io.BytesIO(base64.b64decode(signature.picture[len(prefix):])))
    assert picture.width <= 240


def test_an_empty_signature_line_is_unsigned() -> None:
    _, document = scanned("part2_nl_flat", "scan", False)
    assert document.signatures and not any(s.signed for s in document.signatures)
    assert "empty" in document.signatures[0].evidence


def test_a_photographed_form_is_read_despite_perspective_and_shadow() -> None:
    scan, document = scanned("part2_fr_flat", "photo", True)
    assert scan.path.suffix == ".jpg" and document.kind == "form_part2"
    found = {f.key: f.value for f in document.fields}
    right = [k for k, v in scan.expected["fields"].items() if found.get(k) == v]
    # A photograph loses a word now and then (here a label in the shadow's edge).
    assert len(right) >= len(scan.expected["fields"]) - 1, found
    assert all(found[k] == scan.expected["fields"][k] for k in found)
    assert any(s.signed for s in document.signatures)


def test_every_page_of_a_multipage_tiff_is_read() -> None:
    _, document = scanned("part1_fr_flat", "tiff", None)
    assert document.pages == 2 and document.kind == "form_part1"
    pages = {f.source.page for f in document.fields}
    assert pages == {1, 2}


def test_quality_on_a_handful_of_scans(request: pytest.FixtureRequest) -> None:
    result = tally()
    report = render(result) + "\n" + "\n".join(result.misses)
    print("\n" + report)
    request.node.add_report_section("call", "OCR quality", report)
    assert result.recall >= 0.90, report
    assert result.precision >= 0.97, report
    assert result.signature_accuracy >= 0.95, report


# --- limits ---------------------------------------------------------------------------------


def test_without_tesseract_a_scanned_page_is_flagged_not_fatal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    scan = make_scan(FORMS / "part2_en_flat.pdf", "scan", seed=0)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    installed_languages.cache_clear()
    try:
        document, _ = read_scan(scan)
    finally:
        installed_languages.cache_clear()
    assert document.error is None and document.fields == ()
    [problem] = document.page_problems
    assert (problem.page, problem.reason) == (1, "ocr_unavailable")
    assert "Tesseract is not installed" in problem.detail


def test_ocr_turned_off_flags_the_page() -> None:
    scan = make_scan(FORMS / "part2_en_flat.pdf", "scan", seed=0)
    document, _ = read_scan(scan, Limits(ocr=False))
    assert [p.reason for p in document.page_problems] == ["ocr_unavailable"]


def test_pages_past_the_time_limit_are_reported_not_read() -> None:
    scan = make_scan(FORMS / "part1_fr_flat.pdf", "scan", seed=0)
    document, _ = read_scan(scan, Limits(ocr_max_seconds=0.5))
    assert [(p.page, p.reason) for p in document.page_problems] == [
        (1, "ocr_timeout"), (2, "ocr_timeout")]
    assert document.fields == ()


def test_a_long_scanned_document_that_is_no_form_costs_one_page(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [_text_page(f"Instructions for use, page {n}. Sterilise before use.")
             for n in range(1, 21)]
    out = io.BytesIO()
    pages[0].save(out, "PDF", resolution=150.0, save_all=True, append_images=pages[1:])
    read: list[int] = []
    original = parsers.scan.image_to_page

    def counted(image: Image.Image, number: int, *args: object) -> object:
        read.append(number)
        return original(image, number, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(parsers.scan, "image_to_page", counted)
    from parsers.extract import file_to_document
    from tests.parsers.measure_scans import _rules

    document = file_to_document("ifu-scan.pdf", out.getvalue(), _rules())
    # Page 1 only (read twice: its top to tell the language, then whole).
    assert set(read) == {0} and document.pages == 20 and document.page_problems == ()
    assert "Instructions for use" in document.text


def test_a_page_read_badly_is_reported_with_its_confidence() -> None:
    page = _text_page("Name of the hospital UZ Leuven. " * 30, blur=2.6)
    out = io.BytesIO()
    page.save(out, "PNG", dpi=(150, 150))
    from parsers.extract import file_to_document
    from tests.parsers.measure_scans import _rules

    document = file_to_document("blurred.png", out.getvalue(), _rules())
    assert [p.reason for p in document.page_problems] == ["ocr_low_confidence"]
    assert "low OCR confidence" in document.page_problems[0].detail


def _text_page(text: str, blur: float = 0.0) -> Image.Image:
    """An A4 page at 150 dpi with the text written over it in lines."""
    from PIL import ImageFilter

    page = Image.new("L", (1240, 1754), 255)
    pen = ImageDraw.Draw(page)
    words, line, y = text.split(), "", 120
    for word in words:
        if len(line) + len(word) > 60:
            pen.text((110, y), line, fill=0, font_size=28)
            line, y = "", y + 44
        line += word + " "
    pen.text((110, y), line, fill=0, font_size=28)
    return page.filter(ImageFilter.GaussianBlur(blur)) if blur else page


def test_tesseract_and_the_profile_languages_are_installed() -> None:
    # make test-deps installs them; without them every test above would only see flags.
    assert {"eng", "fra", "nld", "deu"} <= installed_languages()


def test_what_tesseract_misreads_on_a_form_is_read_as_printed() -> None:
    # A class written in bars ('Ill'), digit groups run together ('+329'), a lone digit in a
    # box and a round button ticked: each as the form prints them.
    page = Image.new("L", (1654, 2339), 255)
    pen = ImageDraw.Draw(page)
    lines = (("Risk class", "III"), ("Telephone number", "+32 9 241 77 30"),
             ("E-mail address", "l.hartmann@neurovasc-dynamics.de"),
             ("Number of devices requested", "1"))
    for row, (label, value) in enumerate(lines):
        y = 300 + row * 90
        pen.text((160, y), label, fill=0, font_size=30)
        pen.rectangle((760, y - 14, 1500, y + 44), outline=90, width=2)
        pen.text((780, y), value, fill=0, font_size=30)
    for row, (ticked, option) in enumerate(((False, "Manufacturer"),
                                            (True, "Authorised representative"))):
        y = 700 + row * 60
        pen.ellipse((780, y + 4, 806, y + 30), outline=0, width=3)
        if ticked:
            pen.ellipse((787, y + 11, 799, y + 23), fill=0)
        pen.text((830, y), option, fill=0, font_size=30)
    pen.text((160, 700), "The applicant is the", fill=0, font_size=30)
    out = io.BytesIO()
    page.save(out, "PNG", dpi=(200, 200))
    from parsers.extract import file_to_document
    from tests.parsers.measure_scans import _rules

    document = file_to_document("form.png", out.getvalue(), _rules())
    found = {f.key: f.value for f in document.fields}
    assert found["risk_class"] == "III", found
    assert found["contact_phone"] == "+32 9 241 77 30", found
    assert found["quantity"] == "1", found
    assert found["applicant_role"] == "authorised_representative", found


def test_issue_14_the_agency_address_in_the_instructions_is_no_physician_e_mail() -> None:
    # A Part 2 heading, then the instructions naming the agency's mailbox at the end of a
    # sentence: the next sentence's first word is not glued to the address ('...be.For'),
    # and the address is not the physician's. An address Tesseract cuts at a dot of its
    # domain ('jan.peeters@uzleuven.' and 'be') is still made one word.
    page = Image.new("L", (1654, 2339), 255)
    pen = ImageDraw.Draw(page)
    pen.text((160, 200), "Part 2 - to be completed by the treating physician", fill=0,
             font_size=34)
    pen.text((160, 260), "Send the completed and signed form to derogation.meddev@fagg-afmps.be."
             " For compassionate use, use", fill=0, font_size=26)
    pen.text((160, 296), "the subject 'Compassionate Use'. Do not mention the patient's name.",
             fill=0, font_size=26)
    lines = (("Name of the treating physician", "Prof. Dr. Katrien Vandenberghe"),
             ("E-mail address of the treating physician", "katrien.vandenberghe@uzleuven.be"),
             ("E-mail of the contact person", "jan.peeters@uzleuven.   be"))
    for row, (label, value) in enumerate(lines):
        pen.text((160, 400 + row * 90), label, fill=0, font_size=30)
        pen.text((900, 400 + row * 90), value, fill=0, font_size=30)
    out = io.BytesIO()
    page.save(out, "PNG", dpi=(200, 200))
    from parsers.extract import file_to_document
    from tests.parsers.measure_scans import _rules

    document = file_to_document("part2.png", out.getvalue(), _rules())
    found = {f.key: f.value for f in document.fields}
    assert "derogation.meddev@fagg-afmps.be." in document.text.split(), document.text
    assert found["physician_email"] == "katrien.vandenberghe@uzleuven.be", found
    assert found["physician_name"] == "Prof. Dr. Katrien Vandenberghe", found
    assert found["contact_email"] == "jan.peeters@uzleuven.be", found


@pytest.mark.parametrize("turn", [180, 90])
def test_a_page_fed_upside_down_or_sideways_is_turned_upright(turn: int,
                                                               tmp_path: Path) -> None:
    scan, upright = scanned("part2_en_flat", "scan", True)
    with pdfplumber.open(scan.path) as pdf:
        page = pdf.pages[0].to_image(resolution=200).original.convert("L")
    turned = tmp_path / f"turned{turn}.png"
    page.rotate(turn, expand=True).save(turned, dpi=(200, 200))
    document, _ = read_scan(replace(scan, name=turned.stem, path=turned))
    found = {f.key: f.value for f in document.fields}
    assert found["hospital_name"] == "UZ Leuven"
    assert found["intended_use_date"] == "2026-03-23"
    expected = {f.key: f.value for f in upright.fields}
    assert len(set(found.items()) & set(expected.items())) >= len(expected) - 1
