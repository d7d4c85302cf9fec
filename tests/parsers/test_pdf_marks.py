"""pdfium's words against pdfplumber's: the same words where it matters, read much faster.

The fixture forms are what the label/value pairing was written for: there every word must
be the same, at the same place within a point. On the corpus's PDFs written by others the
two readers are compared too; they part where pdfplumber's 3-point gap rule and pdfium's
own word breaks disagree (kerned titles, rotated or broken pages), so a floor is checked
there, and that no file makes the reader raise.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pdfplumber
import pytest

from config.errors import ParseError
from parsers.pdf_marks import Mark, PageMarks, PdfiumFile

ROOT = Path(__file__).resolve().parents[2]
FORMS = sorted((ROOT / "tests" / "fixtures" / "forms").glob("*.pdf"))
CORPUS = sorted((ROOT.parent / "shared" / "corpus" / "pdfs").glob("*.pdf"))
PAGES = 5  # the pairing never reads more of a form


def pdf_to_marks(data: bytes, numbers: list[int]) -> dict[int, PageMarks]:
    """pdfium's marks of the given pages, each page loaded for its marks alone."""
    with PdfiumFile(data) as pdf:
        return {number: pdf.marks(number) for number in numbers}


def plumber_words(data: bytes) -> dict[int, list[Mark]] | None:
    """pdfplumber's words of the first pages, as marks; None when it cannot open the file."""
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            return {n: [Mark(w["text"], w["x0"], w["x1"], w["top"], w["bottom"])
                        for w in pdf.pages[n].extract_words()]
                    for n in range(min(len(pdf.pages), PAGES))}
    except Exception:
        return None


def matched(expected: list[Mark], found: list[Mark], tolerance: float) -> Iterator[Mark]:
    """The expected words found with the same text and box, each used once.

    The right edge may differ by 1.5 points more: at a line's end pdfium's box of an italic
    letter covers its slant, pdfminer's stops at the advance width.
    """
    left = list(found)
    for word in expected:
        twin = next((w for w in left if w.text == word.text
                     and abs(w.x0 - word.x0) <= tolerance and abs(w.top - word.top) <= tolerance
                     and abs(w.x1 - word.x1) <= tolerance + 1.5
                     and abs(w.bottom - word.bottom) <= tolerance), None)
        if twin is not None:
            left.remove(twin)
            yield word


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name)
def test_every_word_of_a_fixture_form_is_the_same(path: Path) -> None:
    data = path.read_bytes()
    expected = plumber_words(data)
    assert expected is not None
    found = pdf_to_marks(data, sorted(expected))
    for number, words in expected.items():
        assert len(found[number].words) == len(words), f"page {number + 1}"
        assert len(list(matched(words, list(found[number].words), 1.0))) == len(words)


def test_most_words_of_the_corpus_pdfs_are_the_same() -> None:
    assert len(CORPUS) > 50, "the shared corpus is missing"
    total = same = 0
    for path in CORPUS:
        data = path.read_bytes()
        expected = plumber_words(data)
        try:
            found = pdf_to_marks(data, sorted(expected or {0: []}))
        except ParseError as exc:
            assert exc.reason == "broken"
            continue
        if expected is None:
            continue
        for number, words in expected.items():
            total += len(words)
            same += len(list(matched(words, list(found[number].words), 2.0)))
    # Measured 0.83 (10,820 of 13,006 words on the corpus's first pages).
    assert total > 10_000
    assert same / total >= 0.80


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name)
def test_the_drawn_rectangles_are_the_same(path: Path) -> None:
    with pdfplumber.open(io.BytesIO(path.read_bytes())) as pdf:
        expected = [(r["x0"], r["top"], r["x1"], r["bottom"]) for r in pdf.pages[0].rects]
    found = pdf_to_marks(path.read_bytes(), [0])[0].rects
    # pdfium also gives lines and other paths; every rectangle of pdfplumber's is among them.
    for x0, top, x1, bottom in expected:
        assert any(abs(r.x0 - x0) <= 0.5 and abs(r.top - top) <= 0.5 and abs(r.x1 - x1) <= 0.5
                   and abs(r.bottom - bottom) <= 0.5 for r in found), (x0, top)


def test_a_page_that_does_not_exist_gives_no_marks() -> None:
    marks = pdf_to_marks(FORMS[0].read_bytes(), [99])[99]
    assert (marks.words, marks.rects, marks.images) == ((), (), ())


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name)
def test_a_page_kept_loaded_after_its_text_gives_the_same_marks(path: Path) -> None:
    data = path.read_bytes()
    with pdfplumber.open(io.BytesIO(data)) as plumber:
        pages = range(len(plumber.pages))
    with PdfiumFile(data, keep=2) as pdf:
        texts = [pdf.text(n) for n in pages]  # the first two stay loaded, the rest do not
        kept = {n: pdf.marks(n) for n in pages}
    assert all(texts[:1]) and kept == pdf_to_marks(data, list(pages))
