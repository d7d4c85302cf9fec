"""What is printed on a PDF page, read with pdfium: words with their boxes, small drawn
squares and pictures, in points with a top-left origin (pdfplumber's frame).

pdfium gives each character with its box about fifteen times faster than pdfplumber's
word extraction; the words are built here with pdfplumber's rules (a word ends at white
space, at a gap wider than ``X_TOLERANCE``, or where the next character sits on another
line), so that the label/value pairing sees the same words from either reader.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from config.errors import ParseError

X_TOLERANCE = 3.0  # points; pdfplumber's default for extract_words
Y_TOLERANCE = 3.0


@dataclass(frozen=True)
class Mark:
    """A box on the page, top-left origin, in points; ``text`` for words, "" otherwise."""

    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    fontname: str = ""

    @property
    def width(self) -> float:
        """Horizontal size."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """Vertical size."""
        return self.bottom - self.top


@dataclass(frozen=True)
class PageMarks:
    """The words, drawn rectangles and pictures of one page."""

    words: tuple[Mark, ...]
    rects: tuple[Mark, ...]
    images: tuple[Mark, ...]


def pdf_to_marks(data: bytes, numbers: Sequence[int]) -> dict[int, PageMarks]:
    """Marks of the given 0-based pages; a page that fails to read gives empty marks.

    Raises ParseError("broken") when pdfium cannot open the file at all.
    """
    if not numbers:
        return {}
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ParseError("broken", str(exc)) from exc
    try:
        return {number: _page_marks(pdf, number) for number in numbers}
    finally:
        pdf.close()


def _page_marks(pdf: pdfium.PdfDocument, number: int) -> PageMarks:
    try:
        page = pdf[number]
    except Exception:  # one unreadable page must not lose the others
        return PageMarks((), (), ())
    try:
        # pdfplumber measures down from the media box's height, whatever its origin.
        _, y0, _, y1 = page.get_mediabox()
        top_edge = abs(y1 - y0)
        return PageMarks(tuple(_words(page, top_edge)), *_objects(page, top_edge))
    except Exception:
        return PageMarks((), (), ())
    finally:
        page.close()


# --- words ----------------------------------------------------------------------------


@dataclass
class _Char:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    index: int


def _words(page: pdfium.PdfPage, top_edge: float) -> Iterator[Mark]:
    textpage = page.get_textpage()
    try:
        fonts = _FontNames(textpage.raw)
        word: list[_Char] = []
        for char in _chars(textpage, top_edge):
            if char.text.isspace() or (word and _begins_new_word(word[-1], char)):
                yield from _as_word(word, fonts)
                word = []
            if not char.text.isspace():
                word.append(char)
        yield from _as_word(word, fonts)
    finally:
        textpage.close()


def _chars(textpage: pdfium.PdfTextPage, top_edge: float) -> Iterator[_Char]:
    chars = list(_raw_chars(textpage, top_edge))
    for char, after in zip(chars, [*chars[1:], None], strict=True):
        # pdfminer's box ends at the advance width, where the next letter starts; the loose
        # box also covers the slant of an italic letter, so it only serves at a line's end.
        if after is not None and abs(after.top - char.top) < 0.5 and char.x0 < after.x0 < char.x1:
            char.x1 = after.x0
        yield char


def _raw_chars(textpage: pdfium.PdfTextPage, top_edge: float) -> Iterator[_Char]:
    count = textpage.count_chars()
    if count <= 0:
        return
    text = textpage.get_text_range(0, count)
    raw = textpage.raw
    matrix = pdfium_c.FS_MATRIX()
    origin_x, origin_y = ctypes.c_double(), ctypes.c_double()
    for index in range(min(count, len(text))):
        # Spaces and line breaks that pdfium infers are not in the file; as pdfplumber does,
        # words are split by the gaps between the characters that are.
        if pdfium_c.FPDFText_IsGenerated(raw, index) == 1:
            continue
        # The loose box spans the font's ascent and descent, as pdfminer's boxes do.
        rect = pdfium_c.FS_RECTF()
        if not pdfium_c.FPDFText_GetLooseCharBox(raw, index, rect):
            continue
        left = rect.left
        if pdfium_c.FPDFText_GetCharOrigin(raw, index, origin_x, origin_y):
            left = origin_x.value
        # pdfminer's box is one font size tall (the size as drawn, matrix applied), standing
        # on the font's descent, where the loose box ends too.
        size = pdfium_c.FPDFText_GetFontSize(raw, index) * _vertical_scale(raw, index, matrix)
        size = size or (rect.top - rect.bottom)
        yield _Char(text[index], left, max(rect.right, left), top_edge - rect.bottom - size,
                    top_edge - rect.bottom, index)


def _vertical_scale(raw: object, index: int, matrix: pdfium_c.FS_MATRIX) -> float:
    """How long one unit of text space upwards is on the page (the text matrix's scale)."""
    if not pdfium_c.FPDFText_GetMatrix(raw, index, matrix):
        return 1.0
    return math.hypot(matrix.c, matrix.d)


def _begins_new_word(last: _Char, char: _Char) -> bool:
    """pdfplumber's rule for upright text: a gap, a step back or another line."""
    return (char.x0 > last.x1 + X_TOLERANCE or char.x1 < last.x0 - X_TOLERANCE
            or abs(char.top - last.top) > Y_TOLERANCE)


def _as_word(chars: list[_Char], fonts: _FontNames) -> Iterator[Mark]:
    if chars:
        # The font of the first letter names the word's font (the dingbat test needs no more).
        yield Mark("".join(c.text for c in chars), min(c.x0 for c in chars),
                   max(c.x1 for c in chars), min(c.top for c in chars),
                   max(c.bottom for c in chars), fonts.of(chars[0].index))


class _FontNames:
    """The font name of a character of the text page."""

    def __init__(self, raw: object) -> None:
        self.raw = raw
        self.buffer = ctypes.create_string_buffer(256)
        self.flags = ctypes.c_int()

    def of(self, index: int) -> str:
        size = pdfium_c.FPDFText_GetFontInfo(self.raw, index, self.buffer, 256, self.flags)
        return self.buffer.value.decode("utf-8", "replace") if size else ""


# --- drawn rectangles and pictures ----------------------------------------------------


def _objects(page: pdfium.PdfPage, top_edge: float) -> tuple[tuple[Mark, ...], tuple[Mark, ...]]:
    rects: list[Mark] = []
    images: list[Mark] = []
    kinds = (pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_IMAGE)
    stroke = ctypes.c_float()
    for obj in page.get_objects(filter=kinds):
        left, bottom, right, top = obj.get_bounds()
        # pdfium's bounds include half the stroke on each side; pdfplumber gives the path.
        if pdfium_c.FPDFPageObj_GetStrokeWidth(obj.raw, stroke) and stroke.value > 0:
            half = stroke.value / 2
            left, bottom, right, top = left + half, bottom + half, right - half, top - half
        mark = Mark("", left, right, top_edge - top, top_edge - bottom)
        (images if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE else rects).append(mark)
    return tuple(rects), tuple(images)
