"""Ink on a scanned page: is a signature line signed, is a printed box ticked.

A signature counts as signed when there is ink in the signing area beside or under its
printed label ("Signature", "Handtekening", ...) that is neither printed text Tesseract
read with confidence nor a printed line or box border; the area is kept as a small PNG
so that a reviewer sees the signature at a glance. Boxes are the small squares Tesseract
reads as odd words ("[X]", "O", "Ea") in front of an option: a drawn square with ink
inside is ticked.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from config.extraction_rules import ExtractionRules
from parsers.labels import signature_label, split_line
from parsers.ocr import MIN_WORD_CONFIDENCE, OcrPage, OcrWord, ink_mask, line_mask
from parsers.pdf_layout import CHECKED_MARK, UNCHECKED_MARK, Word
from parsers.records import Signature, Source

__all__ = ["SIGNED_INK", "layout_words", "page_signatures"]

SIGNED_INK = 30.0  # square points of ink (a 1 pt stroke 30 pt long) that make a signature
_MIN_SPREAD = 0.15  # a signature runs across at least this share of the area's width
_BELOW_REACH, _BELOW_WIDTH, _RIGHT_WIDTH = 90.0, 300.0, 250.0  # points
_PRINTED_CONFIDENCE = 70.0  # words read this surely are printed text, not handwriting
_PICTURE_WIDTH = 240  # pixels: the picture on the case page
_MAX_LABEL_WORDS = 7
_COLUMN_GAP = 12.0  # points between two words that start a new column of a line
_HEADING_GAP = 3.0  # label heights: a signature label this close over another is a heading


@dataclass(frozen=True)
class Area:
    """A rectangle of a page in points (x0, top, x1, bottom)."""

    x0: float
    top: float
    x1: float
    bottom: float

    def describe(self) -> str:
        """Return e.g. 'x 57-287 pt, y 640-700 pt'."""
        return (f"x {self.x0:.0f}-{self.x1:.0f} pt, y {self.top:.0f}-{self.bottom:.0f} pt")


# --- signatures ----------------------------------------------------------------------------


def page_signatures(rules: ExtractionRules, page: OcrPage) -> list[Signature]:
    """One Signature per printed signature label on the page, signed when ink is there."""
    labels = list(_signature_labels(rules, page))
    found = []
    for index, (text, label) in enumerate(labels):
        following = labels[index + 1:index + 2]
        if following and following[0][1].top - label.bottom <= _HEADING_GAP * (
                label.bottom - label.top):
            continue  # a heading ("C. Signature of the physician") over the real label
        found.append(_signature(rules, page, text, label))
    return found


def _signature_labels(rules: ExtractionRules, page: OcrPage) -> Iterator[tuple[str, Word]]:
    """Each printed signature label (at a line's or a column's start), top to bottom."""
    for line in _lines(page.legible):
        words = [w.word for w in line]
        starts = [i for i, w in enumerate(words)
                  if i == 0 or w.x0 - words[i - 1].x1 > _COLUMN_GAP]
        for start in starts:
            for end in range(min(len(words), start + _MAX_LABEL_WORDS), start, -1):
                text = " ".join(w.text for w in words[start:end])
                if signature_label(rules, text.rstrip(":")):
                    yield text, _box(words[start:end])
                    break


def _signature(rules: ExtractionRules, page: OcrPage, text: str, label: Word) -> Signature:
    """Measure the ink beside and under one label."""
    areas = [a for a in (_area_right(page, label), _area_below(rules, page, label)) if a]
    measured = [(_ink(page, area), area) for area in areas]
    (amount, spread), area = max(measured, key=lambda m: m[0][0]) if measured else (
        (0.0, 0.0), Area(label.x0, label.bottom, label.x1, label.bottom))
    signed = amount >= SIGNED_INK and spread >= _MIN_SPREAD
    evidence = (f"p.{page.number + 1} area {area.describe()} by '{text}': {amount:.0f} pt² "
                f"of ink across {spread:.0%} of its width ({'signed' if signed else 'empty'})")
    source = Source(filename=None, sha256=None, channel="ocr", page=page.number + 1,
                    label=text)
    return Signature(text, signed, page.number + 1, source, evidence, _picture(page, area))


def _area_right(page: OcrPage, label: Word) -> Area | None:
    """The rest of the label's line up to the next printed word ('Signature: ______')."""
    height = label.bottom - label.top
    top, bottom = label.top - height, label.bottom + 0.6 * height
    after = [w.word.x0 for w in page.words if w.word.x0 > label.x1 + 2
             and top <= (w.word.top + w.word.bottom) / 2 <= bottom
             and w.confidence >= _PRINTED_CONFIDENCE and not w.second_look]
    x1 = min([label.x1 + _RIGHT_WIDTH, *after]) - 2
    return Area(label.x1 + 4, top, x1, bottom) if x1 - label.x1 > 60 else None


def _area_below(rules: ExtractionRules, page: OcrPage, label: Word) -> Area | None:
    """Under the label, down to the next labelled line or the reach of a signing box."""
    x0, x1 = label.x0 - 4, label.x0 + _BELOW_WIDTH
    limit = label.bottom + _BELOW_REACH
    for line in _lines(page.legible):
        first = line[0].word
        if first.top > label.bottom + 2 and first.top < limit and first.x0 < x1 and (
                split_line(rules, " ".join(w.word.text for w in line)) is not None):
            limit = first.top
    return Area(x0, label.bottom + 2, x1, limit - 2) if limit - label.bottom > 12 else None


def _ink(page: OcrPage, area: Area) -> tuple[float, float]:
    """Square points of ink in the area, and the share of its width the ink spans."""
    ink = _area_ink(page, area)
    if ink.size == 0:
        return 0.0, 0.0
    columns = np.flatnonzero(ink.any(axis=0))
    spread = (columns[-1] - columns[0] + 1) / ink.shape[1] if columns.size else 0.0
    return float(ink.sum()) * page.points_per_pixel ** 2, float(spread)


def _area_ink(page: OcrPage, area: Area) -> np.ndarray:
    """Ink pixels of an area without printed words, printed lines and box borders."""
    scale = 1.0 / page.points_per_pixel
    box = _pixels(area, scale, page.image.size)
    ink = ink_mask(page.image.crop(box)) & ~page.ruled[box[1]:box[3], box[0]:box[2]]
    for w in page.words:
        if w.confidence >= _PRINTED_CONFIDENCE and len(w.word.text) > 1 and not w.second_look:
            x0, y0, x1, y1 = _pixels(Area(w.word.x0, w.word.top, w.word.x1, w.word.bottom),
                                     scale, page.image.size)
            ink[max(0, y0 - box[1]):max(0, y1 - box[1]), max(0, x0 - box[0]):
                max(0, x1 - box[0])] = False
    return np.asarray(ink, dtype=bool)


def _pixels(area: Area, scale: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The area in pixels, inside the image (empty when the area lies outside it)."""
    width, height = size
    x0 = min(width, max(0, int(area.x0 * scale)))
    top = min(height, max(0, int(area.top * scale)))
    return (x0, top, max(x0, min(width, int(area.x1 * scale))),
            max(top, min(height, int(area.bottom * scale))))


def _picture(page: OcrPage, area: Area) -> str:
    """The area as a small grey PNG data: URI (a few kilobytes)."""
    crop = page.image.crop(_pixels(area, 1.0 / page.points_per_pixel, page.image.size))
    if crop.width == 0 or crop.height == 0:
        return ""
    if crop.width > _PICTURE_WIDTH:
        crop = crop.resize((_PICTURE_WIDTH, max(1, crop.height * _PICTURE_WIDTH // crop.width)),
                           Image.Resampling.LANCZOS)
    out = io.BytesIO()
    crop.quantize(8).save(out, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


# --- ticked boxes --------------------------------------------------------------------------


def layout_words(page: OcrPage) -> list[Word]:
    """The legible words of a page, and each printed box as the glyph ☐ or ☒ in its place."""
    words = []
    for run in (run for line in _lines(page.words) for run in _runs(line)):
        mark, run = _leading_mark(page, run)
        if mark is not None:
            words.append(mark)
        for w in run:
            mark_text = None if _real(w) else _box_mark(page, w.ink)
            if mark_text:
                words.append(Word(mark_text, w.word.x0, w.word.x1, w.word.top, w.word.bottom))
            elif w.confidence >= MIN_WORD_CONFIDENCE and not _FRAME_ONLY.fullmatch(
                    w.word.text):
                words.append(w.word)
    return words


def _runs(line: list[OcrWord]) -> list[list[OcrWord]]:
    """A line cut where a wide gap parts its columns (a label, then the options beside it)."""
    runs = [line[:1]]
    for w in line[1:]:
        previous = runs[-1][-1].word
        if w.word.x0 - previous.x1 > _RUN_GAP * (previous.bottom - previous.top):
            runs.append([w])
        else:
            runs[-1].append(w)
    return runs


# What Tesseract makes of a box's edge or a photographed page's border: no word.
_FRAME_ONLY = re.compile(r"[|\\\[\]{}]+")
_MAX_MARK_WORDS = 2
_ENUMERATOR = re.compile(r"[A-Z0-9][.)]")
_RUN_GAP = 1.5  # line heights between two columns of a line
_MIN_MARK_WIDTH = 2.0  # points: ink narrower than this beside a line is a speckle


def _leading_mark(page: OcrPage, line: list[OcrWord]) -> tuple[Word | None, list[OcrWord]]:
    """A box or round button in front of a line's first word, and the words after it.

    Tesseract reads a ticked box as 'X', '><', 'DX' or '(X', an empty one as '_', 'C' or
    'LJ', a round button as 'o' or '©', or leaves it out: the ink before the first real
    word is measured instead."""
    start = next((i for i, w in enumerate(line[:_MAX_MARK_WORDS + 1]) if _real(w)), None)
    if start is None:
        return None, line
    first = line[start].word
    height = first.bottom - first.top
    x0 = line[0].word.x0 - height if start else first.x0 - 3 * height
    area = Area(x0, first.top - 0.3 * height, first.x0 - 1, first.bottom + 0.3 * height)
    found = _ink_box(page, area)
    mark = found and (_box_mark(page, found) or _round_mark(page, found))
    if not found or not mark:
        return None, line
    # Where a text layer prints a box's glyph: one space before its option.
    x1 = first.x0 - 0.3 * height
    return Word(mark, x1 - 0.8 * height, x1, first.top, first.bottom), line[start:]


def _real(w: OcrWord) -> bool:
    """A word of text, not a misread box: three letters, two read with confidence, or a
    section's number ('B.', '2.')."""
    letters = sum(c.isalnum() for c in w.word.text)
    return letters >= 3 or (letters == 2 and w.confidence >= 80) or bool(
        _ENUMERATOR.fullmatch(w.word.text) and w.confidence >= 80)


def _ink_box(page: OcrPage, area: Area) -> Word | None:
    """The box around the ink in an area (printed lines left out), as an empty word."""
    box = _pixels(area, 1.0 / page.points_per_pixel, page.image.size)
    ink = line_mask(page.image.crop(box)) & ~page.ruled[box[1]:box[3], box[0]:box[2]]
    if not ink.any():
        return None
    # The box of the line above or below may reach into the area: the band of inked rows
    # nearest the area's middle is the one of this line.
    inked = np.flatnonzero(ink.any(axis=1))
    bands = np.split(inked, np.flatnonzero(np.diff(inked) > 2) + 1)
    middle = ink.shape[0] / 2
    band = min(bands, key=lambda b: 0 if b[0] <= middle <= b[-1] else min(
        abs(b[0] - middle), abs(b[-1] - middle)))
    # ... and of the ink along it, the piece nearest the word: not a speckle further left.
    scale = page.points_per_pixel
    inked = np.flatnonzero(ink[band[0]:band[-1] + 1].any(axis=0))
    pieces = [p for p in np.split(inked, np.flatnonzero(np.diff(inked) > 2) + 1)
              if (p[-1] - p[0] + 1) * scale >= _MIN_MARK_WIDTH]
    if not pieces:
        return None
    columns = pieces[-1]
    rows = np.flatnonzero(ink[band[0]:band[-1] + 1, columns[0]:columns[-1] + 1].any(axis=1))
    return Word("", area.x0 + columns[0] * scale, area.x0 + (columns[-1] + 1) * scale,
                area.top + (band[0] + rows[0]) * scale, area.top + (band[0] + rows[-1] + 1) * scale)


def _round_mark(page: OcrPage, ink_box: Word) -> str | None:
    """☒ or ☐ when the ink is a round button (3-12 pt): a dot in its middle is ticked."""
    width, height = ink_box.x1 - ink_box.x0, ink_box.bottom - ink_box.top
    if not (3 <= width <= 12 and 3 <= height <= 12 and abs(width - height) <= 2):
        return None
    x0, y0, x1, y1 = _pixels(Area(ink_box.x0, ink_box.top, ink_box.x1, ink_box.bottom),
                             1.0 / page.points_per_pixel, page.image.size)
    ink = ink_mask(page.image.crop((x0, y0, x1, y1)))
    if ink.shape[0] < 8 or ink.shape[1] < 8:
        return None
    rows, columns = ink.shape
    centre_y, centre_x, radius = (rows - 1) / 2, (columns - 1) / 2, min(rows, columns) / 2
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    on_ring = 0
    for angle in angles:  # the ring: ink a little inside the outer edge all round
        hit = False
        for depth in (0.65, 0.8, 0.95):
            y = round(centre_y + np.sin(angle) * radius * depth)
            x = round(centre_x + np.cos(angle) * radius * depth)
            hit = hit or bool(ink[min(rows - 1, max(0, y)), min(columns - 1, max(0, x))])
        on_ring += hit
    if on_ring < 0.8 * len(angles):
        return None
    middle = ink[int(rows * 0.35):math.ceil(rows * 0.65),
                 int(columns * 0.35):math.ceil(columns * 0.65)]
    return CHECKED_MARK if middle.size and middle.mean() > 0.3 else UNCHECKED_MARK


def _box_mark(page: OcrPage, ink_box: Word) -> str | None:
    """☒ or ☐ when the ink of a word is a drawn square (5-18 pt), else None."""
    width, height = ink_box.x1 - ink_box.x0, ink_box.bottom - ink_box.top
    if not (5 <= width <= 18 and 5 <= height <= 18 and abs(width - height) <= 4) or (
            ink_box.text.isalnum() and len(ink_box.text) > 2):
        return None
    x0, y0, x1, y1 = _pixels(Area(ink_box.x0 - 1, ink_box.top - 1, ink_box.x1 + 1,
                                  ink_box.bottom + 1), 1.0 / page.points_per_pixel,
                             page.image.size)
    crop = page.image.crop((x0, y0, x1, y1))
    # A box's thin border prints light grey: its sides are looked for at a printed line's
    # level, the tick inside it at ink's.
    lines, ink = line_mask(crop), ink_mask(crop)
    if ink.shape[0] < 6 or ink.shape[1] < 6:
        return None
    edge = max(1, ink.shape[0] // 6)
    sides = (lines[:edge * 2].any(axis=0).mean(), lines[-edge * 2:].any(axis=0).mean(),
             lines[:, :edge * 2].any(axis=1).mean(), lines[:, -edge * 2:].any(axis=1).mean())
    corners = (lines[:edge * 2, :edge * 2], lines[:edge * 2, -edge * 2:],
               lines[-edge * 2:, :edge * 2], lines[-edge * 2:, -edge * 2:])
    if min(sides) < 0.75 or not all(c.any() for c in corners):  # a 'B' or 'D' is rounded
        return None
    inside = ink[edge * 2:-edge * 2, edge * 2:-edge * 2]
    return CHECKED_MARK if inside.size and inside.mean() > 0.08 else UNCHECKED_MARK


# --- helpers -------------------------------------------------------------------------------


def _lines(words: Sequence[OcrWord]) -> list[list[OcrWord]]:
    """Words grouped by Tesseract's lines, each left to right, lines top to bottom."""
    lines: dict[tuple[int, int, int], list[OcrWord]] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w)
    ordered = [sorted(line, key=lambda w: w.word.x0) for line in lines.values()]
    return sorted(ordered, key=lambda line: line[0].word.top)


def _box(words: Sequence[Word]) -> Word:
    """The box around some words, as one word."""
    return Word(" ".join(w.text for w in words), min(w.x0 for w in words),
                max(w.x1 for w in words), min(w.top for w in words),
                max(w.bottom for w in words))
