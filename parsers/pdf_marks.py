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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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


class PdfiumFile:
    """A PDF opened once in pdfium, for the plain text of its pages and then their marks.

    The first ``keep`` pages whose text is read stay loaded with their text page, so that a
    page then read for its words is not loaded and parsed a second time (loading a page and
    its text page was a fifth of the time its words took). Raises ParseError("broken")
    when pdfium cannot open the file.
    """

    def __init__(self, data: bytes, keep: int = 0) -> None:
        try:
            self._pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise ParseError("broken", str(exc)) from exc
        self._keep = keep
        self._loaded: dict[int, tuple[pdfium.PdfPage, pdfium.PdfTextPage]] = {}

    def __enter__(self) -> PdfiumFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def text(self, number: int) -> str:
        """pdfium's plain text of a 0-based page, lines ending in "\\n"."""
        page, textpage = self._load(number)
        try:
            text = str(textpage.get_text_range())
        except BaseException:
            _close(page, textpage)
            raise
        if len(self._loaded) < self._keep and number not in self._loaded:
            self._loaded[number] = (page, textpage)
        else:
            _close(page, textpage)
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def marks(self, number: int) -> PageMarks:
        """The marks of a 0-based page; a page that fails to read gives empty marks."""
        loaded = self._loaded.pop(number, None)
        try:
            page, textpage = loaded if loaded is not None else self._load(number)
        except Exception:  # one unreadable page must not lose the others
            return PageMarks((), (), ())
        try:
            return _page_marks(page, textpage)
        except Exception:
            return PageMarks((), (), ())
        finally:
            _close(page, textpage)

    def close(self) -> None:
        """Close the pages kept, then the document."""
        for page, textpage in self._loaded.values():
            _close(page, textpage)
        self._loaded.clear()
        self._pdf.close()

    def _load(self, number: int) -> tuple[pdfium.PdfPage, pdfium.PdfTextPage]:
        page = self._pdf[number]
        try:
            return page, page.get_textpage()
        except BaseException:
            page.close()
            raise


def _close(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage) -> None:
    textpage.close()
    page.close()


def capped_texts(numbers: Sequence[int], cap: int,
                 read: Callable[[int], str]) -> dict[int, str]:
    """Each page's text by ``read``, stopping once ``cap`` characters are read.

    A page that fails to read gives "": one unreadable page must not lose the others.
    """
    texts: dict[int, str] = {}
    total = 0
    for number in numbers:
        if total >= cap:
            break
        try:
            texts[number] = read(number)
        except Exception:  # one unreadable page must not lose the others
            texts[number] = ""
        total += len(texts[number])
    return texts


def _page_marks(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage) -> PageMarks:
    # pdfplumber measures down from the media box's height, whatever its origin.
    _, y0, _, y1 = page.get_mediabox()
    top_edge = abs(y1 - y0)
    words = _words(textpage, top_edge)
    if words is None:
        # A page without a character has always come back with no marks at all (the
        # reading of its words failed), its pictures and boxes neither: kept as it was.
        return PageMarks((), (), ())
    return PageMarks(tuple(words), *_objects(page, top_edge))


# --- words ----------------------------------------------------------------------------

# A character of the page: text, x0, x1, top, bottom and its index in the text page. Plain
# tuples: a form page has thousands of characters, read once each.
_Char = tuple[str, float, float, float, float, int]


def _words(textpage: pdfium.PdfTextPage, top_edge: float) -> list[Mark] | None:
    """The words of a page; None when it has no character at all."""
    chars = _raw_chars(textpage, top_edge)
    return _chars_to_words(chars, _FontNames(textpage.raw)) if chars else None


def _chars_to_words(chars: Sequence[_Char], fonts: _FontNames) -> list[Mark]:
    """pdfplumber's words for upright text: a word ends at white space, at a gap wider than
    ``X_TOLERANCE``, at a step back, or where the next character sits on another line."""
    words: list[Mark] = []
    texts: list[str] = []  # the letters of the word being read
    x0 = x1 = top = bottom = 0.0  # its box so far
    last_x0 = last_x1 = last_top = 0.0  # its last letter's box
    first = 0  # the index of its first letter, whose font names the word's font
    for (text, left, right, char_top, char_bottom, index), after in zip(
            chars, [*chars[1:], None], strict=True):
        # pdfminer's box ends at the advance width, where the next letter starts; the loose
        # box also covers the slant of an italic letter, so it only serves at a line's end.
        if after is not None and abs(after[3] - char_top) < 0.5 and left < after[1] < right:
            right = after[1]
        space = text.isspace()
        if texts and (space or left > last_x1 + X_TOLERANCE or right < last_x0 - X_TOLERANCE
                      or abs(char_top - last_top) > Y_TOLERANCE):
            words.append(Mark("".join(texts), x0, x1, top, bottom, fonts.of(first)))
            texts = []
        if space:
            continue
        if texts:  # (compared as min() and max() compare: only a value beyond replaces)
            x0 = left if left < x0 else x0
            x1 = right if right > x1 else x1
            top = char_top if char_top < top else top
            bottom = char_bottom if char_bottom > bottom else bottom
        else:
            x0, x1, top, bottom, first = left, right, char_top, char_bottom, index
        texts.append(text)
        last_x0, last_x1, last_top = left, right, char_top
    if texts:
        words.append(Mark("".join(texts), x0, x1, top, bottom, fonts.of(first)))
    return words


def _by_address(function: Any) -> Any:
    """A pdfium function of a text page that takes the page by its address: ctypes passes a
    plain address faster than it checks a typed pointer, and pdfium is asked five things of
    every character of a page. The same function, arguments and result otherwise."""
    prototype = ctypes.CFUNCTYPE(function.restype, ctypes.c_void_p, *function.argtypes[1:])
    address = ctypes.cast(function, ctypes.c_void_p).value
    if address is None:  # (a function of the loaded library never is)
        raise ImportError(f"pdfium's {function.__name__} has no address")
    return prototype(address)


_IS_GENERATED, _LOOSE_BOX, _CHAR_ORIGIN, _FONT_SIZE, _TEXT_MATRIX = (
    _by_address(f) for f in (
        pdfium_c.FPDFText_IsGenerated, pdfium_c.FPDFText_GetLooseCharBox,
        pdfium_c.FPDFText_GetCharOrigin, pdfium_c.FPDFText_GetFontSize,
        pdfium_c.FPDFText_GetMatrix))


def _raw_chars(textpage: pdfium.PdfTextPage, top_edge: float) -> list[_Char]:
    count = textpage.count_chars()
    if count <= 0:
        return []
    text = textpage.get_text_range(0, count)
    raw = ctypes.cast(textpage.raw, ctypes.c_void_p).value
    # (local names: looked up once per page, not five times per character)
    generated, loose_box, char_origin = _IS_GENERATED, _LOOSE_BOX, _CHAR_ORIGIN
    font_size, text_matrix, hypot = _FONT_SIZE, _TEXT_MATRIX, math.hypot
    rect, matrix = pdfium_c.FS_RECTF(), pdfium_c.FS_MATRIX()
    origin_x, origin_y = ctypes.c_double(), ctypes.c_double()
    chars: list[_Char] = []
    for index in range(min(count, len(text))):
        # Spaces and line breaks that pdfium infers are not in the file; as pdfplumber does,
        # words are split by the gaps between the characters that are. The loose box spans
        # the font's ascent and descent, as pdfminer's boxes do.
        if generated(raw, index) == 1 or not loose_box(raw, index, rect):
            continue
        left = origin_x.value if char_origin(raw, index, origin_x, origin_y) else rect.left
        # pdfminer's box is one font size tall (the size as drawn: the text matrix's
        # vertical scale applied), standing on the font's descent, where the loose box ends.
        scale = hypot(matrix.c, matrix.d) if text_matrix(raw, index, matrix) else 1.0
        bottom = rect.bottom
        size = font_size(raw, index) * scale or (rect.top - bottom)
        chars.append((text[index], left, max(rect.right, left), top_edge - bottom - size,
                      top_edge - bottom, index))
    return chars


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
