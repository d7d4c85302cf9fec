"""A page image to words with boxes and confidences (Tesseract), after clean-up and deskew.

``clean_page`` flattens uneven lighting, removes speckles and straightens a page turned by
a few degrees (Pillow and NumPy); ``image_to_page`` runs Tesseract (pytesseract's
``image_to_data``) in the profile's languages and returns the words in the ``Word`` shape of
the PDF layout reader, in points, so that one label/value pairing serves typed and scanned
pages. A page that cannot be read raises ``ParseError`` ("ocr_unavailable", "ocr_failed",
"ocr_timeout"); the caller records it and goes on.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
import pytesseract  # type: ignore[import-untyped]
from PIL import Image, ImageFilter, ImageOps

from config.errors import ParseError
from parsers.pdf_layout import Word

__all__ = ["OcrPage", "OcrWord", "clean_page", "image_to_page", "ink_mask", "line_mask",
           "ocr_languages"]

# The worker pool already keeps every core busy: Tesseract's own OpenMP threads would only
# fight it (measured: 4.4 s a page with them, 1.8 s without, on 2 cores).
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

TESSERACT_LANGUAGES = {"en": "eng", "fr": "fra", "nl": "nld", "de": "deu"}
INK_LEVEL = 140  # grey level (0-255) under which a pixel of a cleaned page is ink
MIN_WORD_CONFIDENCE = 30.0  # below this a "word" is a smudge, a scribble or a box edge
_DESKEW_WIDTH = 1000  # pixels: the angle is searched on a copy of this width
_MAX_SKEW = 6.0  # degrees
_READING_DPI = 300  # pages of lower resolution are enlarged to this before reading
_RULE_POINTS = 24.0  # a straight run of ink this long is a printed line, not a letter
_RULE_LEVEL = 225  # grey level under which a pixel may belong to a (thin, light) printed rule
_PAPER_LEVEL = 215  # grey level from which a cleaned pixel is paper (light tints and fills)
_BLOCK = 6  # Tesseract's page segmentation mode for one block of text
_SECOND_CONFIDENCE = 80.0  # a word found on a second look must be read this surely
_SECOND_BLOCKS = 10_000  # block numbers of the second look, apart from the first's
_PIECE_HEIGHTS = (4.0, 16.0)  # points: the height of a short printed word left unread
_PIECE_WIDTH = 120.0  # points
_PIECE_GAP = 6.0  # points between two letters of one piece
_PIECE_INK = 3.0  # square points of ink at least (a '1' is about 6)
_MAX_PIECES = 30
_EDGE_GAP = 0.35  # a bar this far (share of the word's height) from the next letter is an edge
_DOUBT = 60.0  # a short word read less surely than this is looked at again
_ASCENDER = 0.1  # share of a word's height: an ascender's top is this near the word's top
_DESCENDER = 0.3  # a font's descent below the baseline, as a share of its height above it


@dataclass(frozen=True)
class OcrWord:
    """One word Tesseract read, with its box in points and its confidence (0-100)."""

    word: Word  # as tall as its line, like a word of a PDF's text layer
    confidence: float
    line: tuple[int, int, int]  # Tesseract's block, paragraph and line numbers
    ink: Word  # the box of the word's own ink
    second_look: bool = False  # read from ink the first reading left out (may be handwriting)


@dataclass(frozen=True, eq=False)
class OcrPage:
    """What OCR read on one page, and the cleaned image its boxes refer to."""

    number: int  # 0-based
    words: tuple[OcrWord, ...]
    image: Image.Image  # cleaned and deskewed, grey levels
    ruled: np.ndarray  # pixels of printed lines and box borders (boolean, as the image)
    points_per_pixel: float
    skew: float  # degrees the page was turned back by

    @property
    def mean_confidence(self) -> float:
        """Tesseract's mean word confidence over the page's first reading (0 when nothing
        was read): the second look only reads surely, and would hide a page read badly."""
        first = [w.confidence for w in self.words if not w.second_look]
        return statistics.fmean(first) if first else 0.0

    @property
    def legible(self) -> tuple[OcrWord, ...]:
        """The words read with some confidence (not smudges, scribbles or box edges)."""
        return tuple(w for w in self.words if w.confidence >= MIN_WORD_CONFIDENCE)

    @property
    def text(self) -> str:
        """The legible words as lines, in Tesseract's reading order."""
        lines: dict[tuple[int, int, int], list[str]] = {}
        for w in self.legible:
            lines.setdefault(w.line, []).append(w.word.text)
        return "\n".join(" ".join(words) for words in lines.values())


# --- languages ---------------------------------------------------------------------------


@cache
def installed_languages() -> frozenset[str]:
    """Tesseract's installed language data; empty when Tesseract itself is not installed."""
    try:
        return frozenset(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError, RuntimeError):
        return frozenset()


def ocr_languages(languages: Iterable[str]) -> str:
    """Tesseract's '-l' argument for the profile's languages ('en' ... -> 'eng+fra')."""
    installed = installed_languages()
    if not installed:
        raise ParseError("ocr_unavailable", "Tesseract is not installed")
    wanted = [TESSERACT_LANGUAGES[x] for x in languages if x in TESSERACT_LANGUAGES]
    usable = [x for x in dict.fromkeys(wanted or ["eng"]) if x in installed]
    if not usable:
        raise ParseError("ocr_unavailable",
                         f"no Tesseract language data for {', '.join(wanted) or 'eng'}")
    return "+".join(usable)


# --- clean-up and deskew ------------------------------------------------------------------


def clean_page(image: Image.Image) -> tuple[Image.Image, float]:
    """Grey levels, even lighting, no speckles, straightened; return it and the angle."""
    grey = ImageOps.exif_transpose(image).convert("L")
    flat = _even_lighting(grey).filter(ImageFilter.MedianFilter(3))
    flat = _without_specks(flat.point(lambda v: min(255, v * 255 // _PAPER_LEVEL)))
    angle = skew_angle(flat)
    if abs(angle) >= 0.05:
        flat = flat.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    return flat, angle


def _without_specks(grey: Image.Image) -> Image.Image:
    """White out specks the median filter left: ink that fits a 3x3 square with no other
    ink in the 9x9 square around it (a full stop is larger, a letter's dot nearer)."""
    ink = np.asarray(grey, dtype=np.uint8) < _RULE_LEVEL
    inner, outer = _box_sums(ink, 1), _box_sums(ink, 4)
    speck = ink & (inner == outer)
    del inner, outer
    if not speck.any():
        return grey
    spread = speck.copy()  # the speck's centre found, its whole 3x3 square goes
    spread[1:] |= speck[:-1]
    spread[:-1] |= speck[1:]
    wide = spread.copy()
    wide[:, 1:] |= spread[:, :-1]
    wide[:, :-1] |= spread[:, 1:]
    return Image.fromarray(np.where(wide, np.uint8(255), np.asarray(grey, dtype=np.uint8)))


def _box_sums(ink: np.ndarray, radius: int) -> np.ndarray:
    """How many ink pixels each (2r+1)-square around a pixel holds (integral image)."""
    # Slices of one table, summed in place: a 300 dpi page is 9 million pixels.
    side = 2 * radius + 1
    table = np.pad(ink, ((radius + 1, radius), (radius + 1, radius))).cumsum(
        axis=0, dtype=np.int32)
    table.cumsum(axis=1, out=table)
    sums = table[side:, side:].copy()
    sums -= table[:-side, side:]
    sums -= table[side:, :-side]
    sums += table[:-side, :-side]
    return sums


def _even_lighting(grey: Image.Image) -> Image.Image:
    """Divide by the page's background (a blurred maximum) so shadows and tints go white."""
    # A phone photograph is darker at one side; the quotient is white paper everywhere.
    small = grey.reduce(8) if min(grey.size) >= 400 else grey
    background = small.filter(ImageFilter.MaxFilter(7)).filter(ImageFilter.GaussianBlur(6))
    background = background.resize(grey.size, Image.Resampling.BILINEAR)
    # In place, in 32-bit floats: a 300 dpi page is 9 million pixels, each copy 35 MB.
    pixels = np.asarray(grey, dtype=np.float32)
    pixels *= 255.0
    pixels /= np.maximum(np.asarray(background, dtype=np.float32), 1.0)
    np.clip(pixels, 0, 255, out=pixels)
    return Image.fromarray(pixels.astype(np.uint8))


def ink_mask(grey: Image.Image) -> np.ndarray:
    """Boolean array: which pixels of a cleaned page are ink."""
    return np.asarray(grey, dtype=np.uint8) < INK_LEVEL


def line_mask(grey: Image.Image) -> np.ndarray:
    """Boolean array: which pixels of a cleaned page may belong to a thin printed line."""
    return np.asarray(grey, dtype=np.uint8) < _RULE_LEVEL


def skew_angle(grey: Image.Image) -> float:
    """The angle (degrees) that makes text lines horizontal: the sharpest row profile."""
    scale = min(1.0, _DESKEW_WIDTH / grey.width)
    small = grey.resize((max(1, int(grey.width * scale)), max(1, int(grey.height * scale))))
    ink = Image.fromarray(ink_mask(small).astype(np.uint8) * 255)
    best = max(np.arange(-_MAX_SKEW, _MAX_SKEW + 0.01, 0.5), key=lambda a: _sharpness(ink, a))
    fine = np.arange(best - 0.4, best + 0.41, 0.1)
    return round(float(max(fine, key=lambda a: _sharpness(ink, a))), 2)


def ruled_mask(ink: np.ndarray, length: float) -> np.ndarray:
    """Pixels on straight horizontal or vertical runs of ink at least `length` long, widened."""
    # Vertical rules (the sides of a one-line field box) are shorter than horizontal ones.
    ruled = _runs(ink, max(20, int(length))) | _runs(ink.T, max(20, int(length * 0.65))).T
    widened = ruled.copy()
    for shift in (1, 2):  # the blurred edges of a line are half ink
        widened[shift:] |= ruled[:-shift]
        widened[:-shift] |= ruled[shift:]
        widened[:, shift:] |= ruled[:, :-shift]
        widened[:, :-shift] |= ruled[:, shift:]
    return np.asarray(widened, dtype=bool)


def _runs(ink: np.ndarray, length: int) -> np.ndarray:
    """Pixels covered by a horizontal run of at least `length` ink pixels."""
    width = ink.shape[1]
    if width < length:
        return np.zeros_like(ink)
    # Running counts along a row fit 16 bits for any page narrower than 32,767 pixels.
    kind = np.int16 if width < 32_767 else np.int32
    counts = np.pad(np.cumsum(ink, axis=1, dtype=kind), ((0, 0), (1, 0)))
    full = (counts[:, length:] - counts[:, :-length]) == length  # a run starts at column j
    del counts
    starts = np.pad(np.cumsum(full, axis=1, dtype=kind), ((0, 0), (1, 0)))
    column = np.arange(width)
    high = np.minimum(column + 1, full.shape[1])
    low = np.maximum(0, column - length + 1)
    return np.asarray((starts[:, high] - starts[:, low]) > 0)


def _sharpness(ink: Image.Image, angle: float) -> float:
    """How crisply the rows of a rotated page alternate between text and white."""
    rows = np.asarray(ink.rotate(float(angle), resample=Image.Resampling.NEAREST),
                      dtype=np.float32).sum(axis=1)
    return float(np.square(np.diff(rows)).sum())


# --- Tesseract ----------------------------------------------------------------------------


def image_to_page(image: Image.Image, number: int, languages: str, timeout: float,
                  points_per_pixel: float, turned: bool = False) -> OcrPage:
    """Clean a page image and read its words; ParseError when Tesseract fails or times out.

    A page read badly is looked at once more for its orientation: a sheet fed upside down
    or sideways into the copier is turned upright and read again."""
    scale = _READING_DPI * points_per_pixel / 72.0
    if scale > 1.05:  # Tesseract reads small print best with letters 20 pixels high
        image = image.resize((round(image.width * scale), round(image.height * scale)),
                             Image.Resampling.BICUBIC)
        points_per_pixel /= scale
    cleaned, angle = clean_page(image)
    # Field boxes and rules make Tesseract take a form for a table of pictures and skip the
    # values inside the boxes: it reads a copy without them.
    ruled = ruled_mask(line_mask(cleaned), _RULE_POINTS / points_per_pixel)
    unruled = np.where(ruled, np.uint8(255), np.asarray(cleaned, dtype=np.uint8))
    started = time.monotonic()
    data = _tesseract(Image.fromarray(unruled), languages, timeout)
    turn = 0 if turned else _upright_turn(cleaned, data, timeout - (time.monotonic() - started))
    if turn:
        # (Tesseract gives the clockwise turn that sets the page upright; Pillow turns
        # counter-clockwise)
        return image_to_page(image.rotate(-turn, expand=True), number, languages,
                             timeout - (time.monotonic() - started), points_per_pixel,
                             turned=True)
    ink = unruled < INK_LEVEL
    words = _words(data, points_per_pixel, ink)
    # A second look, alone on a white sheet, at what the page's layout left out (a lone '1'
    # or 'C' in a box, taken for a speck) and at short words read with doubt ('TVD.').
    unread = _unread(unruled, data, points_per_pixel)
    doubtful = _doubtful(data)
    if unread or doubtful:
        more = _words(_second_look(unruled, [*unread, *doubtful], languages,
                                   timeout - (time.monotonic() - started)),
                      points_per_pixel, ink)
        sure = [w for w in more if w.confidence >= _SECOND_CONFIDENCE
                and any(c.isalnum() for c in w.word.text)]
        words = _reread(words, [w for w in sure if w.line[0] >= len(unread)],
                        [_points(p, points_per_pixel) for p in doubtful], len(unread))
        words += [replace(w, line=(w.line[0] + _SECOND_BLOCKS, *w.line[1:]), second_look=True)
                  for w in sure if w.line[0] < len(unread)]
    return OcrPage(number, tuple(words), cleaned, ruled, points_per_pixel, angle)


# A page whose words read at this mean confidence or less, or that gives fewer words, may be
# on its side or upside down; Tesseract's orientation guess is taken above this confidence.
_UPRIGHT_CONFIDENCE = 70.0
_UPRIGHT_WORDS = 20
_ORIENTATION_CONFIDENCE = 2.0


def _upright_turn(cleaned: Image.Image, data: dict[str, list[str]], timeout: float) -> int:
    """The clockwise quarter turns (90, 180, 270) that set a badly read page upright; 0."""
    read = [float(c) for c, t in zip(data.get("conf", []), data.get("text", []), strict=False)
            if str(t).strip() and float(c) >= 0]
    if len(read) >= _UPRIGHT_WORDS and sum(read) / len(read) > _UPRIGHT_CONFIDENCE:
        return 0
    try:
        found = pytesseract.image_to_osd(cleaned, config="--psm 0",
                                         output_type=pytesseract.Output.DICT,
                                         timeout=max(1.0, timeout))
    except (pytesseract.TesseractError, RuntimeError, OSError, ValueError):
        return 0  # too little text to tell: the page is read as it is
    turn = int(found.get("rotate", 0)) % 360
    sure = float(found.get("orientation_conf", 0.0)) >= _ORIENTATION_CONFIDENCE
    return turn if sure and turn in (90, 180, 270) else 0


def _doubtful(data: dict[str, list[str]]) -> list[Piece]:
    """The boxes of short words Tesseract read with doubt (initials, codes, a class)."""
    return [(int(data["top"][i]), int(data["top"][i]) + int(data["height"][i]),
             int(data["left"][i]), int(data["left"][i]) + int(data["width"][i]))
            for i, text in enumerate(data["text"])
            if 0 <= float(data["conf"][i]) < _DOUBT and 2 <= len(str(text).strip()) <= 12
            and any(c.isalnum() for c in str(text))][:_MAX_PIECES]


def _points(piece: Piece, points_per_pixel: float) -> Word:
    top, bottom, x0, x1 = (v * points_per_pixel for v in piece)
    return Word("", x0, x1, top, bottom)


def _reread(words: list[OcrWord], second: list[OcrWord], boxes: list[Word],
            first_block: int) -> list[OcrWord]:
    """The words read with doubt, replaced by what the second look read surely of them."""
    by_box: dict[int, list[OcrWord]] = {}
    for w in second:
        by_box.setdefault(w.line[0] - first_block, []).append(w)
    found = []
    for w in words:
        middle_x, middle_y = (w.ink.x0 + w.ink.x1) / 2, (w.ink.top + w.ink.bottom) / 2
        # The same word, not one joined to or cut from it since ('jan.' of 'jan.peeters@').
        width = max(w.ink.x1 - w.ink.x0, 1e-6)
        index = next((i for i, b in enumerate(boxes)
                      if b.x0 <= middle_x <= b.x1 and b.top <= middle_y <= b.bottom
                      and 0.8 <= (b.x1 - b.x0) / width <= 1.25), None)
        again = by_box.get(index, []) if index is not None else []
        if len(again) == 1 and again[0].confidence > w.confidence:
            # Read twice, it may still be handwriting: it never counts as printed text.
            w = replace(w, word=replace(w.word, text=again[0].word.text),
                        ink=replace(w.ink, text=again[0].word.text),
                        confidence=again[0].confidence, second_look=True)
        found.append(w)
    return found


Piece = tuple[int, int, int, int]  # top, bottom, x0, x1 in pixels


def _unread(unruled: np.ndarray, data: dict[str, list[str]], points_per_pixel: float,
            ) -> list[Piece]:
    """Pieces of ink the reading left out that are the size of a short printed word."""
    left = unruled < INK_LEVEL
    for i, text in enumerate(data["text"]):
        if str(text).strip():
            x0, top = int(data["left"][i]), int(data["top"][i])
            x1, bottom = x0 + int(data["width"][i]), top + int(data["height"][i])
            left[max(0, top - 3):bottom + 3, max(0, x0 - 3):x1 + 3] = False
    scale = 1.0 / points_per_pixel
    pieces = []
    for top, bottom in _runs_of(np.asarray(left.any(axis=1)), 2):
        band = left[top:bottom]
        for x0, x1 in _runs_of(np.asarray(band.any(axis=0)), int(_PIECE_GAP * scale)):
            inked = np.flatnonzero(band[:, x0:x1].any(axis=1))
            piece = (top + int(inked[0]), top + int(inked[-1]) + 1, x0, x1)
            height, width = (piece[1] - piece[0]) / scale, (x1 - x0) / scale
            if (_PIECE_HEIGHTS[0] <= height <= _PIECE_HEIGHTS[1] and width <= _PIECE_WIDTH
                    and int(band[:, x0:x1].sum()) >= _PIECE_INK * scale * scale):
                pieces.append(piece)
    return pieces[:_MAX_PIECES]


def _runs_of(filled: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Runs of True (start, end), joined across gaps of at most `gap` False values."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], filled.astype(np.int8), [0]))))
    runs: list[tuple[int, int]] = []
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if runs and start - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], int(end))
        else:
            runs.append((int(start), int(end)))
    return runs


def _second_look(unruled: np.ndarray, pieces: list[Piece], languages: str, timeout: float,
                 ) -> dict[str, list[str]]:
    """Read the pieces pasted one under the other on a white sheet (one Tesseract run),
    and return the words in the page's pixels, each piece its own block."""
    margin = 30
    width = max(x1 - x0 for _, _, x0, x1 in pieces) + 2 * margin
    offsets, y = [], margin
    for top, bottom, _, _ in pieces:
        offsets.append(y)
        y += bottom - top + 2 * margin
    sheet = np.full((y, width), 255, dtype=np.uint8)
    for (top, bottom, x0, x1), offset in zip(pieces, offsets, strict=True):
        sheet[offset:offset + bottom - top, margin:margin + x1 - x0] = unruled[top:bottom, x0:x1]
    data = _tesseract(Image.fromarray(sheet), languages, timeout, _BLOCK)
    for i in range(len(data["text"])):
        middle = int(data["top"][i]) + int(data["height"][i]) // 2
        index = max(0, int(np.searchsorted(offsets, middle, side="right")) - 1)
        top, _, x0, _ = pieces[index]
        data["left"][i] = str(int(data["left"][i]) - margin + x0)
        data["top"][i] = str(int(data["top"][i]) - offsets[index] + top)
        data["block_num"][i] = str(index)
    return data


def _tesseract(image: Image.Image, languages: str, timeout: float,
               mode: int = 3) -> dict[str, list[str]]:
    try:
        data: dict[str, list[str]] = pytesseract.image_to_data(
            image, lang=languages, config=f"--psm {mode}", output_type=pytesseract.Output.DICT,
            timeout=max(1.0, timeout))
    except pytesseract.TesseractNotFoundError as exc:
        raise ParseError("ocr_unavailable", "Tesseract is not installed") from exc
    except RuntimeError as exc:  # pytesseract's way of saying the time limit was reached
        if "timeout" in str(exc).lower():
            raise ParseError("ocr_timeout", f"OCR stopped after {timeout:.0f} s") from exc
        raise ParseError("ocr_failed", str(exc)[:200]) from exc
    except (pytesseract.TesseractError, OSError, ValueError) as exc:
        raise ParseError("ocr_failed", f"{type(exc).__name__}: {exc}"[:200]) from exc
    return data


def _words(data: dict[str, list[str]], scale: float, ink: np.ndarray) -> list[OcrWord]:
    """Tesseract's word rows as OcrWords in points, each as tall as its line."""
    rows: dict[tuple[int, int, int], list[int]] = {}
    for i, text in enumerate(data["text"]):
        if str(text).strip() and float(data["conf"][i]) >= 0:
            key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
            rows.setdefault(key, []).append(i)
    words = []
    for line, indexes in rows.items():
        top, bottom = _line_band(data, indexes)
        read = []
        for i in indexes:
            left, width = float(data["left"][i]), float(data["width"][i])
            ink_top, height = float(data["top"][i]), float(data["height"][i])
            read.append(_Read(_unframed(str(data["text"][i])), float(data["conf"][i]),
                              left, left + width, ink_top, ink_top + height))
        read = _bars_counted(_spaced_digits(_joined_addresses(read), ink), ink)
        read = [_address_head(_address_bar(r, ink), ink) for r in read]
        read = [_capital_bar(_semicolon(_diaeresis(_dotless_i(r, ink), ink), ink))
                for r in read]
        read = [_tail_of_q(r, ink) for r in read]
        read[0] = _capital_i(read[0], ink)
        for r in read:
            word = Word(r.text, r.x0 * scale, r.x1 * scale, top * scale, bottom * scale)
            ink_box = Word(r.text, word.x0, word.x1, r.top * scale, r.bottom * scale)
            words.append(OcrWord(word, r.confidence, line, ink_box))
    return words


@dataclass(frozen=True)
class _Read:
    """One word as Tesseract read it, in pixels of the image it read."""

    text: str
    confidence: float
    x0: float
    x1: float
    top: float
    bottom: float


_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+\.?", re.UNICODE)
# An address already whole before a full stop ('x@afmps.be.'): the stop may end a sentence.
_WHOLE_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)*\.([A-Za-z]{2,})\.", re.UNICODE)
# Top-level domains: a country's two letters, or one of these generic names (those of
# addresses on a medical-device form); a word of running text is none ('for', 'pour').
_GENERIC_DOMAIN_TEXT = """
com org net edu gov int mil info biz pro name eus health care clinic hospital swiss brussels
vlaanderen gent paris berlin wien amsterdam
"""
_GENERIC_DOMAINS = frozenset(_GENERIC_DOMAIN_TEXT.split())


def _joined_addresses(read: list[_Read]) -> list[_Read]:
    """An e-mail address Tesseract cut in two at a dot or the '@' ('jan. peeters@x.be'),
    made one word again: an address holds no space."""
    joined: list[_Read] = []
    for r in read:
        last = joined[-1] if joined else None
        text = f"{last.text}{r.text}" if last else ""
        if last is not None and "@" in text and _ADDRESS.fullmatch(text) and (
                last.text.endswith((".", "@", "-", "_")) or r.text.startswith(("@", "."))
        ) and _domain_goes_on(last.text, r.text):
            joined[-1] = _Read(text, min(last.confidence, r.confidence), last.x0, r.x1,
                               min(last.top, r.top), max(last.bottom, r.bottom))
        else:
            joined.append(r)
    return joined


def _domain_goes_on(head: str, tail: str) -> bool:
    """Whether a word carries on the domain of the address before it ('jan@uzleuven.' and
    'be'): it ends on a top-level domain, and after an address already whole it is no
    capitalised word, which starts the next sentence ('x@afmps.be.' and 'For ...')."""
    if "@" not in head or "@" in tail:
        return True  # cut in the name or at the '@': the domain is read whole
    if not _top_level(tail.rstrip(".").rsplit(".", 1)[-1]):
        return False
    sentence = tail[:1].isupper() and not tail.isupper()
    whole = _WHOLE_ADDRESS.fullmatch(head)
    return not (sentence and whole is not None and _top_level(whole.group(1)))


def _top_level(label: str) -> bool:
    return label.isascii() and label.isalpha() and (
        len(label) == 2 or label.lower() in _GENERIC_DOMAINS)


_BARS = re.compile(r"[Il|1!]{1,3}")
_PAIR_OF_BARS = re.compile(r"[Il|1]{2}([ab])")


def _bars_counted(read: list[_Read], ink: np.ndarray) -> list[_Read]:
    """A class written in bars ('III', 'IIa') as Tesseract cannot tell I, l, | and 1 apart
    in a sans-serif font: the strokes are counted on the page. Only a word standing alone
    or after a label's colon, where a class is written, never a word of running text."""
    found = []
    for index, r in enumerate(read):
        before = read[index - 1].text if index else ""
        # 'III', 'Class: III', 'Classe III' (a box's content), never 'Il' in a sentence.
        alone = len(read) == 1 or (index == len(read) - 1 and (
            before.endswith(":") or len(read) == 2))
        suffix = _PAIR_OF_BARS.fullmatch(r.text)
        if alone and suffix:
            r = replace(r, text="II" + suffix.group(1))
        elif alone and _BARS.fullmatch(r.text):
            strokes = _strokes(ink[int(r.top):math.ceil(r.bottom),
                                   int(r.x0):math.ceil(r.x1)])
            if 2 <= strokes <= 3:
                r = replace(r, text="I" * strokes)
        found.append(r)
    return found


def _strokes(ink: np.ndarray) -> int:
    """How many upright bars of the box's full height stand side by side; 0 if anything
    else is there."""
    runs = _column_runs(ink)
    for start, end in runs:
        filled = ink[:, start:end].any(axis=1).mean()
        if filled < 0.8 or end - start > ink.shape[0] / 3:
            return 0
    return len(runs)


def _address_bar(r: _Read, ink: np.ndarray) -> _Read:
    """An address's first bar: a field box's edge when it stands apart from the next letter
    (the box is left out), an 'l' when it is as close as a letter ('l.hartmann@')."""
    if "@" not in r.text or not r.text.startswith("|"):
        return r
    if r.text[1:2] == ".":  # no address starts with a dot: the bar is a letter of it
        return replace(r, text="l" + r.text[1:])
    box = ink[int(r.top):math.ceil(r.bottom), int(r.x0):math.ceil(r.x1)]
    runs = _column_runs(box)
    height = box.shape[0]
    # No dark bar at all: the faint edge of a box, which cleaning left out.
    bar = len(runs) >= 2 and runs[0][1] - runs[0][0] <= 0.25 * height
    if bar and runs[1][0] - runs[0][1] < _EDGE_GAP * height:
        return replace(r, text="l" + r.text[1:])
    return replace(r, text=r.text[1:])


def _address_head(r: _Read, ink: np.ndarray) -> _Read:
    """An address read from its first dot ('.hartmann@'): no address starts with one, so a
    bar of ink as close before it as a letter, which the reading left out, is its 'l'."""
    if "@" not in r.text or not r.text.startswith("."):
        return r
    height = r.bottom - r.top
    x0 = max(0, int(r.x0 - 0.6 * height))
    box = ink[int(r.top):math.ceil(r.bottom), x0:int(r.x0)]
    runs = _column_runs(box)
    if not runs or box.shape[1] - runs[-1][1] > _EDGE_GAP * height:
        return r
    start, end = runs[-1]
    rows = np.flatnonzero(box[:, start:end].any(axis=1))
    if end - start <= 0.25 * height and rows.size >= 0.6 * box.shape[0]:
        return replace(r, text="l" + r.text, x0=x0 + start)
    return r


def _letters(r: _Read, ink: np.ndarray) -> list[np.ndarray] | None:
    """The ink of each letter of a word, when every letter stands apart on the page."""
    if not r.text.isprintable() or " " in r.text:
        return None
    # A little above the word's box: the marks over a capital ('Ö') may stand out of it.
    top = max(0, int(r.top - 0.25 * (r.bottom - r.top)))
    box = ink[top:math.ceil(r.bottom), int(r.x0):math.ceil(r.x1)]
    runs = _column_runs(box)
    return [box[:, a:b] for a, b in runs] if len(runs) == len(r.text) else None


def _rows(letter: np.ndarray) -> list[tuple[int, int]]:
    """Runs of rows that hold ink (start, end), top to bottom."""
    return _column_runs(letter.T)


def _dotless_i(r: _Read, ink: np.ndarray) -> _Read:
    """An 'i' inside a word that the page prints as one unbroken bar from the height of the
    word's ascenders, without the dot of an 'i': an 'l' ('valganciciovir')."""
    letters = _letters(r, ink) if "i" in r.text[1:] else None
    if letters is None:
        return r
    tops = [rows[0][0] for rows in map(_rows, letters) if rows]
    height = r.bottom - r.top
    # As high as the tallest letter, and well above the small ones (an 'i' is as tall as
    # an 'n' without its dot).
    high = min(min(tops, default=0) + _ASCENDER * height,
               statistics.median(tops or [0]) - 0.15 * height)
    text = list(r.text)
    for index, letter in enumerate(letters):
        rows = _rows(letter)
        if index and text[index] == "i" and len(rows) == 1 and rows[0][0] <= high:
            text[index] = "l"
    return replace(r, text="".join(text))


def _semicolon(r: _Read, ink: np.ndarray) -> _Read:
    """A word's last ':' whose lower dot has a comma's tail below the line: a ';'."""
    if not r.text.endswith(":") or len(r.text) < 2:
        return r
    height = r.bottom - r.top
    box = ink[int(r.top):math.ceil(r.bottom + 0.3 * height), int(r.x0):math.ceil(r.x1)]
    runs = _column_runs(box)
    rows = _rows(box[:, runs[-1][0]:runs[-1][1]]) if len(runs) >= 2 else []
    if len(rows) == 2 and rows[1][1] - rows[1][0] >= 1.6 * (rows[0][1] - rows[0][0]):
        return replace(r, text=r.text[:-1] + ";")
    return r


def _tail_of_q(r: _Read, ink: np.ndarray) -> _Read:
    """A 'g' or 'q' told by its tail below the line: a 'q' hangs one straight stem at its
    right, a 'g' curls back under its bowl ('leclercg' for 'leclercq')."""
    letters = _letters(r, ink) if "g" in r.text or "q" in r.text else None
    if letters is None:
        return r
    bottoms = sorted(rows[-1][1] for rows in map(_rows, letters) if rows)
    line = bottoms[len(bottoms) // 2]  # most letters stand on the line
    text = list(r.text)
    for index, letter in enumerate(letters):
        if text[index] not in "gq" or letter.shape[0] <= line + 2:
            continue
        tail = _column_runs(letter[line + 2:])
        if not tail:
            continue
        width = tail[-1][1] - tail[0][0]
        straight = width <= 0.4 * letter.shape[1] and tail[0][0] >= 0.5 * letter.shape[1]
        text[index] = "q" if straight else "g"
    return replace(r, text="".join(text))


_DIAERESIS = {"a": "ä", "o": "ö", "u": "ü", "e": "ë", "A": "Ä", "O": "Ö", "U": "Ü"}


def _diaeresis(r: _Read, ink: np.ndarray) -> _Read:
    """A vowel read without the two dots the page prints over it ('Munchen' read in
    English for 'München'): two specks side by side, apart from the letter below them."""
    letters = _letters(r, ink) if any(c in _DIAERESIS for c in r.text) else None
    if letters is None:
        return r
    text = list(r.text)
    word_top = int(r.top) - max(0, int(r.top - 0.25 * (r.bottom - r.top)))
    for index, letter in enumerate(letters):
        rows = _rows(letter)
        if text[index] not in _DIAERESIS or len(rows) != 2:
            continue
        dots = _column_runs(letter[rows[0][0]:rows[0][1]])
        small = rows[0][1] - rows[0][0] <= 0.5 * (rows[1][1] - rows[1][0])
        # Over a small letter, the dots stay under the word's tallest letters.
        placed = text[index].isupper() or rows[0][0] >= word_top - 1
        alike = len(dots) == 2 and (
            max(b - a for a, b in dots) <= 2 * min(b - a for a, b in dots))
        if small and placed and alike:
            text[index] = _DIAERESIS[text[index]]
    return replace(r, text="".join(text))


_LOWER_I = re.compile(r"i[a-zà-ÿ]{2,}")


def _capital_i(r: _Read, ink: np.ndarray) -> _Read:
    """A line's first word read with a small 'i' whose first stroke is one bar as tall as
    the word, without the dot of an 'i' ('identification' for 'Identification')."""
    if not _LOWER_I.fullmatch(r.text):
        return r
    box = ink[int(r.top):math.ceil(r.bottom), int(r.x0):math.ceil(r.x1)]
    runs = _column_runs(box)
    if not runs:
        return r
    rows = np.flatnonzero(box[:, runs[0][0]:runs[0][1]].any(axis=1))
    solid = rows.size > 0 and rows.size == rows[-1] - rows[0] + 1
    return replace(r, text="I" + r.text[1:]) if solid and rows.size >= 0.75 * box.shape[0] else r


# An 'l' before a consonant that starts a word of small letters: Tesseract's reading of a
# capital 'I' in a sans-serif font ('lreland', 'lnstitute'). No word of the profile's
# languages starts so (Tesseract's own English, French, Dutch and German word lists hold
# only abbreviations and user names: 'ldap', 'lspci'); 'lh' and 'lj' are left alone
# ('lherzolite', Slavic 'lj'), and so are a short abbreviation ('ltd.') and an address.
_BAR_CAPITAL = re.compile(r"l([bcdfgkmnpqrstvwxz][a-zà-ÿ]{2,}[.,;:)]?)")


def _capital_bar(r: _Read) -> _Read:
    """A word read with a first 'l' that only a capital 'I' can be ('lreland')."""
    found = _BAR_CAPITAL.fullmatch(r.text)
    return replace(r, text="I" + found.group(1)) if found else r


_DIGIT_GROUPS = re.compile(r"\+?\d{3,}")
_SPACE = 0.3  # a gap this wide (share of the digits' height) between two digits is a space


def _spaced_digits(read: list[_Read], ink: np.ndarray) -> list[_Read]:
    """Groups of digits Tesseract ran together ('+329' for '+32 9'), split where the page
    shows a space between them: one stroke per digit, and a gap as wide as a space."""
    found = []
    for r in read:
        if not _DIGIT_GROUPS.fullmatch(r.text):
            found.append(r)
            continue
        box = ink[int(r.top):math.ceil(r.bottom), int(r.x0):math.ceil(r.x1)]
        runs = _column_runs(box)
        if len(runs) != len(r.text):  # touching or broken digits: leave the word as read
            found.append(r)
            continue
        cuts = [i for i in range(1, len(runs))
                if runs[i][0] - runs[i - 1][1] >= _SPACE * box.shape[0]]
        for start, end in zip([0, *cuts], [*cuts, len(runs)], strict=True):
            found.append(replace(r, text=r.text[start:end], x0=r.x0 + runs[start][0],
                                 x1=r.x0 + runs[end - 1][1]))
    return found


def _column_runs(ink: np.ndarray) -> list[tuple[int, int]]:
    """Runs of columns that hold ink (start, end), left to right."""
    if ink.size == 0:
        return []
    columns = ink.any(axis=0).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], columns, [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _unframed(text: str) -> str:
    """The word without the edge of a printed field box read as a bar or bracket ('[Joris')."""
    stripped = text.strip()
    if "@" in stripped:  # no bar inside an address: an 'l' was read as a bar
        return stripped[:1] + stripped[1:].replace("|", "l")
    inner = stripped.lstrip("|[\\_").rstrip("|]")
    return inner if inner and "[" not in inner and "]" not in inner else stripped


def _line_band(data: dict[str, list[str]], indexes: list[int]) -> tuple[float, float]:
    """The line's top and bottom, as a font's box gives them to every word of a text layer."""
    # Tesseract boxes the ink: a dash is one pixel high and would fall out of its line, and
    # a line without descenders ('III', 'treatment of the') is a quarter lower than one
    # with them, which would make ordinary line spacing look like a paragraph's.
    sized = [i for i in indexes if len(str(data["text"][i]).strip()) > 1] or indexes
    tops = [float(data["top"][i]) for i in sized]
    bottoms = sorted(float(data["top"][i]) + float(data["height"][i]) for i in sized)
    top, baseline = min(tops), bottoms[len(bottoms) // 4]
    return top, max(bottoms[-1], baseline + _DESCENDER * (baseline - top))
