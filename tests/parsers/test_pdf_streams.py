"""PDF decompression bombs: streams are measured under a cap before any reader inflates them."""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Any

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

import parsers.pdf
from config.errors import ParseError
from config.extraction_rules import ExtractionRules, load_extraction_rules
from parsers.labels import FileInfo
from parsers.pdf import pdf_to_document
from parsers.pdf_streams import check_raw_streams
from parsers.records import ExtractedDocument, Limits
from tests.parsers.bombs import (
    MIB,
    flate_spaces,
    pdf_file,
    pdf_with_drawn_widget,
    pdf_with_streams,
    run_measured,
)

FAMHP = Path(__file__).resolve().parents[2] / "config" / "profiles" / "famhp" / "extraction.toml"
_LABELLED = b"BT /F1 12 Tf 72 720 Td (Device name: CardioFlow) Tj ET\n"


@pytest.fixture(scope="module")
def rules() -> ExtractionRules:
    return load_extraction_rules(FAMHP)


def read(data: bytes, rules: ExtractionRules, limits: Limits | None = None) -> ExtractedDocument:
    return pdf_to_document(FileInfo("form.pdf", "0" * 64, "application/pdf", len(data)), data,
                           rules, limits or Limits())


@pytest.fixture(scope="module")
def sixty_mb_of_spaces() -> bytes:
    return flate_spaces(60 * MIB)


def test_a_labelled_page_of_five_60_mb_streams_is_refused(
        rules: ExtractionRules, sixty_mb_of_spaces: bytes) -> None:
    # Each stream is under pypdf's own cap, so its text showed the label and pdfplumber was
    # asked for the page: pdfminer inflated all 300 MB.
    data = pdf_with_streams(_LABELLED, [sixty_mb_of_spaces] * 5)
    assert len(data) < 400_000
    document = read(data, rules)
    assert document.error == "decompression_bomb"
    assert "more than 134217728 bytes" in document.error_detail
    assert document.fields == ()


def test_one_stream_past_the_per_stream_limit_is_refused(
        rules: ExtractionRules, sixty_mb_of_spaces: bytes) -> None:
    document = read(pdf_with_streams(_LABELLED, [sixty_mb_of_spaces]), rules,
                    Limits(pdf_max_stream_bytes=32 * MIB))
    assert document.error == "decompression_bomb"
    assert "stream 6 decodes to more than 33554432 bytes" in document.error_detail


def test_streams_within_the_limits_are_read(rules: ExtractionRules) -> None:
    document = read(pdf_with_streams(_LABELLED, [flate_spaces(MIB)]), rules)
    assert document.error is None
    assert {f.key: f.value for f in document.fields}["device_name"] == "CardioFlow"


def test_a_widget_appearance_no_reader_draws_is_not_measured(
        rules: ExtractionRules, sixty_mb_of_spaces: bytes) -> None:
    # The page's text and words never decode its annotations' appearances.
    document = read_widget_page(rules, sixty_mb_of_spaces, scanned=False)
    assert document.error is None
    assert {f.key: f.value for f in document.fields}["device_name"] == "CardioFlow"


def test_a_widget_appearance_on_a_page_drawn_for_ocr_is_measured_first(
        rules: ExtractionRules, sixty_mb_of_spaces: bytes) -> None:
    # A scanned page is rendered with its annotations: their streams are measured before.
    document = read_widget_page(rules, sixty_mb_of_spaces, scanned=True)
    assert document.error == "decompression_bomb"
    assert "stream 8 decodes to more than 33554432 bytes" in document.error_detail


def read_widget_page(rules: ExtractionRules, appearance: bytes, *, scanned: bool,
                     ) -> ExtractedDocument:
    """A page with a widget whose appearance passes a 32 MB per-stream limit, read."""
    return read(pdf_with_drawn_widget(appearance, scanned=scanned), rules,
                Limits(pdf_max_stream_bytes=32 * MIB))


_READ_PDF = """
import json, sys
from config.extraction_rules import load_extraction_rules
from parsers.labels import FileInfo
from parsers.pdf import pdf_to_document
with open(sys.argv[1], "rb") as handle:
    data = handle.read()
rules = load_extraction_rules(__import__("pathlib").Path(sys.argv[2]))
found = pdf_to_document(FileInfo("bomb.pdf", "0" * 64, "application/pdf", len(data)), data, rules)
print(json.dumps({"error": found.error}))
"""


@pytest.mark.slow
def test_a_300_mb_stream_behind_a_form_field_is_refused_cheaply(tmp_path: Path) -> None:
    # pypdf gave up on the page's text (its own cap), but the unnamed field sent the page
    # to pdfplumber for its printed label, and pdfminer inflated the 300 MB whole.
    path = tmp_path / "bomb.pdf"
    path.write_bytes(pdf_with_streams(_LABELLED, [flate_spaces(300 * MIB)], field=True))
    assert path.stat().st_size < 400_000
    result, peak = run_measured(_READ_PDF, str(path), str(FAMHP))
    print(f"peak RSS refusing a PDF with a 300 MB stream: {peak:.0f} MB")
    assert result == {"error": "decompression_bomb"}
    assert peak < 250


def test_a_damaged_pdf_is_measured_from_its_raw_streams(sixty_mb_of_spaces: bytes) -> None:
    damaged = (b"%PDF-1.4\n1 0 obj << /Filter /FlateDecode >>\nstream\n" + sixty_mb_of_spaces
               + b"\nendstream\nendobj\n")
    with pytest.raises(ParseError) as refused:
        check_raw_streams(damaged, Limits(pdf_max_stream_bytes=32 * MIB))
    assert refused.value.reason == "decompression_bomb"
    check_raw_streams(damaged, Limits())  # 60 MB is within the default limits


# --- work per document ---------------------------------------------------------------------------


def _pages(texts: list[str]) -> bytes:
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    for text in texts:
        sheet.setFont("Helvetica", 4)
        for row, line in enumerate(text.splitlines()):
            sheet.drawString(20, 820 - 5 * row, line)
        sheet.showPage()
    sheet.save()
    return buffer.getvalue()


def test_word_positions_are_read_for_a_bounded_number_of_light_pages(
        rules: ExtractionRules, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[int]] = []
    real = parsers.pdf.page_words

    def spy(data: bytes, numbers: list[int], pdfium_file: Any) -> Any:
        asked.append(list(numbers))
        return real(data, numbers, pdfium_file)

    monkeypatch.setattr(parsers.pdf, "page_words", spy)
    dense = "\n".join(["Device name: CardioFlow " + "x" * 150] * 160)  # about 28,000 chars
    light = "Device name: CardioFlow"
    read(_pages([dense, *[light] * 14]), rules, Limits(pdf_max_word_pages=4))
    assert asked == [[1, 2, 3, 4]]


# --- the page tree ---------------------------------------------------------------------------


def _inheriting_pdf(packed: bytes, declared_count: int) -> bytes:
    """One labelled page whose resources, a font and a form XObject of ``packed`` content,
    are its parent's; the tree declares ``declared_count`` pages."""
    return pdf_file([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count %d /Resources << /Font << /F1 4 0 R >>"
        b" /XObject << /X1 6 0 R >> >> >>" % declared_count,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(_LABELLED) + _LABELLED + b"\nendstream",
        b"<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Length %d /Filter /FlateDecode"
        b" >>\nstream\n" % len(packed) + packed + b"\nendstream"])


def test_a_bomb_in_resources_a_page_inherits_is_refused(
        rules: ExtractionRules, sixty_mb_of_spaces: bytes) -> None:
    document = read(_inheriting_pdf(sixty_mb_of_spaces, 1), rules,
                    Limits(pdf_max_stream_bytes=32 * MIB))
    assert document.error == "decompression_bomb"
    assert "stream 6 decodes to more than 33554432 bytes" in document.error_detail


def test_a_page_count_the_tree_does_not_hold_is_counted_from_the_tree(
        rules: ExtractionRules) -> None:
    document = read(_inheriting_pdf(zlib.compress(b" "), 40), rules)
    assert document.error is None
    assert document.pages == 1
    assert {f.key: f.value for f in document.fields}["device_name"] == "CardioFlow"
