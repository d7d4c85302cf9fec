"""Scanned pages and images: which pages to OCR, and their fields, signatures and problems.

A PDF page with no usable text layer, and every page of a JPEG, PNG or TIFF, is read by OCR
(``parsers.ocr``) within the document's page and time limits. Only the pages the document
needs are read: the first one always (its kind and language), the following ones only
while the document looks like a form, so a long scanned study costs one page. The words
go through the same label/value pairing as a PDF's text layer
(``parsers.pdf_layout.layout_values``); values keep the channel "ocr" and Tesseract's
confidence, and count for less than typed ones. A page that fails, times out, is over
the limit or reads badly is reported in ``page_problems``, never fatal.
"""

from __future__ import annotations

import io
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace

import pypdfium2 as pdfium
from PIL import Image, ImageSequence

from config.errors import ParseError
from config.extraction_rules import ExtractionRules, LabelRule
from parsers.ink import layout_words, page_signatures
from parsers.labels import (
    FileInfo,
    Findings,
    failed_document,
    guess_language,
    mentions_labels,
    to_document,
)
from parsers.ocr import TESSERACT_LANGUAGES, OcrPage, image_to_page, ocr_languages
from parsers.pdf_layout import Word, layout_values
from parsers.records import ExtractedDocument, FieldValue, Limits, PageProblem, Signature

__all__ = ["ScanReading", "image_to_document", "needs_ocr", "pdf_page_images",
           "read_scanned"]

OCR_FACTOR = 0.85  # a value read from a scan counts for less than the same value typed
# A value whose words Tesseract read this doubtfully, on average, is more often a misread
# ('s.leclercg@' at 32, '(LM.' for 'L.M.' at 33) than not: left out rather than given wrong.
MIN_VALUE_CONFIDENCE = 35.0
MIN_PAGE_PIXELS = 500  # an image narrower than this is a logo or a photo, not a page
_USABLE_TEXT = 25  # letters and digits a page's text layer needs to be read as text
_MIN_WORDS_TO_JUDGE = 15  # fewer words than this: a picture, not a page read badly
_A4_WIDTH = 595.0  # points
_FORM_PAGES_PROBLEM = "ocr_page_limit"
_PROBE_SHARE = 30  # per cent of the first page read to tell its language (title, heading)

# A page number (0-based) to its image and the size of a pixel in points.
PageImage = Callable[[int], tuple[Image.Image, float]]


@dataclass(frozen=True)
class ScanReading:
    """What OCR found on the pages it read."""

    texts: dict[int, str]  # 0-based page -> text
    values: tuple[FieldValue, ...] = ()
    labels: tuple[LabelRule, ...] = ()
    signatures: tuple[Signature, ...] = ()
    problems: tuple[PageProblem, ...] = ()


def profile_languages(rules: ExtractionRules) -> list[str]:
    """The languages the profile's labels are written in ("en", "fr", ...)."""
    found = {lang for langs in rules.label_languages.values() for lang in langs}
    return [lang for lang in TESSERACT_LANGUAGES if lang in found]


def needs_ocr(text: str) -> bool:
    """Whether a page's text layer is too thin to read (a scan, or a picture of text)."""
    # (counted only as far as the threshold: a page of text reaches it in its first words)
    found = 0
    for char in text:
        if char.isalnum():
            found += 1
            if found >= _USABLE_TEXT:
                return False
    return True


# --- the plan: which pages, within which limits ----------------------------------------------


def read_scanned(rules: ExtractionRules, candidates: Sequence[int], render: PageImage,
                 limits: Limits) -> ScanReading:
    """OCR the candidate pages the document needs, within its page and time limits."""
    if not candidates:
        return ScanReading({})
    try:
        if not limits.ocr:
            raise ParseError("ocr_unavailable", "OCR is turned off in the settings")
        languages = ocr_languages(profile_languages(rules))
    except ParseError as exc:
        more = f" (and {len(candidates) - 1} more pages without text)" if len(
            candidates) > 1 else ""
        detail = f"has no text layer and was not read: {exc.detail}{more}"
        return ScanReading({}, problems=(PageProblem(candidates[0] + 1, exc.reason, detail),))
    return _Reader(rules, render, limits, languages).read(candidates)


class _Reader:
    """Reads pages one after the other while the document needs them and time remains."""

    def __init__(self, rules: ExtractionRules, render: PageImage, limits: Limits,
                 languages: str) -> None:
        self.rules, self.render, self.limits, self.languages = rules, render, limits, languages
        self.started = time.monotonic()
        self.pages: list[OcrPage] = []
        self.problems: list[PageProblem] = []
        self.form = False
        self.probed = False

    def read(self, candidates: Sequence[int]) -> ScanReading:
        """Read the pages, then pair labels and values and look for signatures."""
        for index, number in enumerate(candidates):
            if self.pages and not self.form:
                break  # not a form: its first page told its kind and language
            if len(self.pages) >= self.limits.ocr_max_pages:
                self._over(candidates[index:], _FORM_PAGES_PROBLEM,
                           f"not read: over the limit of {self.limits.ocr_max_pages} OCR pages")
                break
            remaining = self.limits.ocr_max_seconds - (time.monotonic() - self.started)
            if remaining < 1:
                self._over(candidates[index:], "ocr_timeout", "not read: the document's OCR "
                           f"time limit ({self.limits.ocr_max_seconds:.0f} s) was reached")
                break
            self._page(number, remaining)
        return self._reading()

    def _page(self, number: int, remaining: float) -> None:
        try:
            image, scale = self.render(number)
            if not self.probed:
                self._probe_language(image, number, remaining, scale)
            page = image_to_page(image, number, self.languages, remaining, scale)
        except ParseError as exc:
            self.problems.append(PageProblem(number + 1, exc.reason, exc.detail))
            return
        except Exception as exc:  # a page image that cannot be decoded
            self.problems.append(PageProblem(number + 1, "ocr_failed",
                                             f"{type(exc).__name__}: {exc}"[:200]))
            return
        self._judge(page)
        self.pages.append(page)
        self.form = self.form or mentions_labels(self.rules, page.text)

    def _probe_language(self, image: Image.Image, number: int, remaining: float,
                        scale: float) -> None:
        """Read the top of the first page in every language, then use the one it is in."""
        # Reading in one language is twice as fast, and its accents come out right (with
        # French data in the mix, a Dutch 'ë' is read 'é').
        self.probed = True
        top = image.crop((0, 0, image.width, image.height * _PROBE_SHARE // 100))
        probe = image_to_page(top, number, self.languages, remaining, scale)
        language = guess_language(self.rules, (), probe.text)
        if language:
            with suppress(ParseError):  # no data for it: keep every language of the profile
                self.languages = ocr_languages([language])

    def _judge(self, page: OcrPage) -> None:
        """Report a page read with a low mean confidence."""
        if (len(page.words) >= _MIN_WORDS_TO_JUDGE
                and page.mean_confidence < self.limits.ocr_min_confidence):
            self.problems.append(PageProblem(
                page.number + 1, "ocr_low_confidence",
                f"read from a scan with low OCR confidence (mean {page.mean_confidence:.0f}%)"))

    def _over(self, numbers: Sequence[int], reason: str, detail: str) -> None:
        self.problems.extend(PageProblem(n + 1, reason, detail) for n in numbers)

    def _reading(self) -> ScanReading:
        words: dict[int, list[Word]] = {}
        signatures: list[Signature] = []
        for page in self.pages:
            try:
                words[page.number] = layout_words(page)
                signatures.extend(page_signatures(self.rules, page))
            except Exception as exc:  # one odd page must not lose the others
                self.problems.append(PageProblem(page.number + 1, "ocr_failed",
                                                 f"{type(exc).__name__}: {exc}"[:200]))
        layout = layout_values(self.rules, words)
        by_number = {p.number: p for p in self.pages}
        values = tuple(v for v in (_from_scan(v, by_number) for v in layout.values)
                       if (v.source.ocr_confidence or 0.0) >= MIN_VALUE_CONFIDENCE)
        stamped = {(s.page, s.name) for s in layout.signatures if s.signed}
        return ScanReading({p.number: p.text for p in self.pages}, values, layout.labels,
                           tuple(replace(s, signed=True) if (s.page, s.name) in stamped else s
                                 for s in signatures), tuple(self.problems))


def _from_scan(value: FieldValue, pages: dict[int, OcrPage]) -> FieldValue:
    """A value of the layout pairing, marked as read by OCR with Tesseract's confidence."""
    page = pages[(value.source.page or 1) - 1]
    tokens = set(value.raw.split())
    confidences = [w.confidence for w in page.legible if w.word.text in tokens]
    ocr = statistics.fmean(confidences) if confidences else page.mean_confidence
    source = replace(value.source, channel="ocr", ocr_confidence=round(ocr, 1))
    return replace(value, source=source,
                   confidence=round(value.confidence * OCR_FACTOR * ocr / 100.0, 3))


# --- page images ------------------------------------------------------------------------------


@contextmanager
def pdf_page_images(data: bytes, dpi: int) -> Iterator[PageImage]:
    """Render pages of a PDF in grey levels at the given resolution (pdfium)."""
    pdf = pdfium.PdfDocument(data)
    try:
        def render(number: int) -> tuple[Image.Image, float]:
            bitmap = pdf[number].render(scale=dpi / 72.0, grayscale=True)
            return bitmap.to_pil(), 72.0 / dpi

        yield render
    finally:
        pdf.close()


def image_to_document(info: FileInfo, data: bytes, rules: ExtractionRules,
                      limits: Limits) -> ExtractedDocument:
    """Read a JPEG, PNG or TIFF (every page of a multi-page TIFF) by OCR; never raises."""
    try:
        image = Image.open(io.BytesIO(data))
        frames = getattr(image, "n_frames", 1)
        small = min(image.size) < MIN_PAGE_PIXELS
    except Image.DecompressionBombError as exc:
        return failed_document(rules, info, "too_large", str(exc)[:200])
    except Exception as exc:  # Pillow raises many types on a damaged image
        return failed_document(rules, info, "broken", f"{type(exc).__name__}: {exc}"[:200])
    if small:  # a logo, an icon or a photo of a device: no page to read
        return to_document(rules, info, Findings(text="", first_text="", pages=None,
                                                 fields=()))
    reading = read_scanned(rules, range(min(frames, limits.ocr_max_pages + 1)),
                           _frames(image), limits)
    text = "\n\n".join(reading.texts[n] for n in sorted(reading.texts))
    findings = Findings(text=text[:limits.max_text_chars], first_text=text[:1500],
                        pages=frames, fields=reading.values, labels_hit=reading.labels,
                        signatures=reading.signatures, page_problems=reading.problems)
    return to_document(rules, info, findings)


def _frames(image: Image.Image) -> PageImage:
    """The frames of an image as pages, sized in points from its resolution or as A4."""
    def render(number: int) -> tuple[Image.Image, float]:
        frame = ImageSequence.Iterator(image)[number].copy()
        return frame, _points_per_pixel(frame)

    return render


def _points_per_pixel(image: Image.Image) -> float:
    """72/dpi when the image says a believable resolution, else the width of an A4 page."""
    dpi = image.info.get("dpi")
    resolution = float(dpi[0]) if isinstance(dpi, tuple) and dpi and dpi[0] else 0.0
    inches = image.width / resolution if resolution > 0 else math.inf
    # Phones write 72 dpi whatever the picture: a page 25 inches wide is no page.
    return 72.0 / resolution if 4.0 <= inches <= 13.0 else _A4_WIDTH / image.width
