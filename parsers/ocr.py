"""A page image to words with boxes and confidences (Tesseract), after clean-up and deskew.

``clean_page`` flattens uneven lighting, removes speckles and straightens a page turned by
a few degrees (Pillow and NumPy); ``image_to_page`` runs Tesseract (pytesseract's
``image_to_data``) in the profile's languages and returns the words in the ``Word`` shape of
the PDF layout reader, in points, so that one label/value pairing serves typed and scanned
pages. A page that cannot be read raises ``ParseError`` ("ocr_unavailable", "ocr_failed",
"ocr_timeout"); the caller records it and goes on.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytesseract  # type: ignore[import-untyped]
from PIL import Image, ImageFilter, ImageOps

from config.errors import ParseError
from parsers.pdf_layout import Word

__all__ = ["OcrPage", "OcrWord", "clean_page", "image_to_page", "ocr_languages"]

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


@dataclass(frozen=True)
class OcrWord:
    """One word Tesseract read, with its box in points and its confidence (0-100)."""

    word: Word  # as tall as its line, like a word of a PDF's text layer
    confidence: float
    line: tuple[int, int, int]  # Tesseract's block, paragraph and line numbers
    ink: Word  # the box of the word's own ink


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
        """Tesseract's mean word confidence over the page (0 when nothing was read)."""
        return statistics.fmean(w.confidence for w in self.words) if self.words else 0.0

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
    flat = flat.point(lambda v: min(255, v * 255 // _PAPER_LEVEL))
    angle = skew_angle(flat)
    if abs(angle) >= 0.05:
        flat = flat.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    return flat, angle


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
                  points_per_pixel: float) -> OcrPage:
    """Clean a page image and read its words; ParseError when Tesseract fails or times out."""
    scale = _READING_DPI * points_per_pixel / 72.0
    if scale > 1.05:  # Tesseract reads small print best with letters 20 pixels high
        image = image.resize((round(image.width * scale), round(image.height * scale)),
                             Image.Resampling.BICUBIC)
        points_per_pixel /= scale
    cleaned, angle = clean_page(image)
    # Field boxes and rules make Tesseract take a form for a table of pictures and skip the
    # values inside the boxes: it reads a copy without them.
    ruled = ruled_mask(np.asarray(cleaned) < _RULE_LEVEL, _RULE_POINTS / points_per_pixel)
    unruled = np.where(ruled, np.uint8(255), np.asarray(cleaned, dtype=np.uint8))
    data = _tesseract(Image.fromarray(unruled), languages, timeout)
    words = tuple(_words(data, points_per_pixel))
    return OcrPage(number, words, cleaned, ruled, points_per_pixel, angle)


def _tesseract(image: Image.Image, languages: str, timeout: float) -> dict[str, list[str]]:
    try:
        data: dict[str, list[str]] = pytesseract.image_to_data(
            image, lang=languages, config="--psm 3", output_type=pytesseract.Output.DICT,
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


def _words(data: dict[str, list[str]], scale: float) -> list[OcrWord]:
    """Tesseract's word rows as OcrWords in points, each as tall as its line."""
    rows: dict[tuple[int, int, int], list[int]] = {}
    for i, text in enumerate(data["text"]):
        if str(text).strip() and float(data["conf"][i]) >= 0:
            key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
            rows.setdefault(key, []).append(i)
    words = []
    for line, indexes in rows.items():
        top, bottom = _line_band(data, indexes)
        for i in indexes:
            left, width = float(data["left"][i]), float(data["width"][i])
            text = _unframed(str(data["text"][i]))
            word = Word(text, left * scale, (left + width) * scale, top * scale, bottom * scale)
            ink_top = float(data["top"][i])
            ink = Word(text, word.x0, word.x1, ink_top * scale,
                       (ink_top + float(data["height"][i])) * scale)
            words.append(OcrWord(word, float(data["conf"][i]), line, ink))
    return words


def _unframed(text: str) -> str:
    """The word without the edge of a printed field box read as a bar or bracket ('[Joris')."""
    stripped = text.strip()
    inner = stripped.lstrip("|[").rstrip("|]")
    return inner if inner and "[" not in inner and "]" not in inner else stripped


def _line_band(data: dict[str, list[str]], indexes: list[int]) -> tuple[float, float]:
    """The line's top and bottom, as a font's box gives them to every word of a text layer."""
    # Tesseract boxes the ink: a dash is one pixel high and would fall out of its line.
    sized = [i for i in indexes if len(str(data["text"][i]).strip()) > 1] or indexes
    tops = [float(data["top"][i]) for i in sized]
    bottoms = [float(data["top"][i]) + float(data["height"][i]) for i in sized]
    return min(tops), max(bottoms)
