"""The printed page of a PDF (pdfplumber): words with positions, lines, label-value pairs.

``page_words`` reads the words of the pages asked for, drawn check boxes and pictures among
them; ``layout_values`` groups them into lines and column segments and pairs each printed
label with its value (same line, 'Label: value', or below), ticked boxes and signature lines;
``labels_beside`` gives the texts printed next to a form widget.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pdfplumber

from config.errors import ParseError
from config.extraction_rules import ExtractionRules, LabelRule
from parsers.labels import (
    BELOW_CONFIDENCE,
    LINE_CONFIDENCE,
    LabelMatch,
    boxes_on_line,
    has_box,
    label_value,
    reads_as_value,
    says_signed,
    signature_label,
    split_line,
)
from parsers.pdf_marks import Mark, PageMarks, pdf_to_marks
from parsers.records import FieldValue, FormField, Signature, Source

CHECKED_MARK, UNCHECKED_MARK = "☒", "☐"
IMAGE_MARK = "\ufffc"  # object replacement character: where a picture is


# --- words with positions (pdfplumber) ----------------------------------------------------


@dataclass(frozen=True)
class Word:
    """A word with its box, top-left origin, in points."""

    text: str
    x0: float
    x1: float
    top: float
    bottom: float


@dataclass(frozen=True)
class Segment:
    """Words of one line that sit close together: a label, a value, a table cell."""

    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        """The words joined by spaces."""
        return " ".join(w.text for w in self.words)

    @property
    def x0(self) -> float:
        """Left edge."""
        return self.words[0].x0

    @property
    def x1(self) -> float:
        """Right edge."""
        return self.words[-1].x1

    @property
    def top(self) -> float:
        """Top edge."""
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> float:
        """Bottom edge."""
        return max(w.bottom for w in self.words)


# ZapfDingbats draws ticks and boxes with plain letters; read them as the glyphs they show.
_DINGBATS = {"4": "✔", "3": "✓", "8": "✘", "7": "✗", "5": "✕", "n": "■", "o": "❏",
             "p": "❏", "q": "❑", "r": "❑", "l": "●", "m": "❍", "u": "◆"}


def page_words(data: bytes, numbers: Sequence[int]) -> dict[int, list[Word]]:
    """Words with positions for the given 0-based pages; pages that fail give none.

    pdfium reads them (parsers.pdf_marks, several times faster than pdfplumber with the
    same words on the forms); a file pdfium cannot open is read by pdfplumber instead.
    """
    if not numbers:
        return {}
    try:
        return {n: marks_to_words(m) for n, m in pdf_to_marks(data, numbers).items()}
    except ParseError:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            return {number: plumber_page_words(pdf, number) for number in numbers}


def marks_to_words(marks: PageMarks) -> list[Word]:
    """The words of a page, with drawn check boxes as ☐/☒ and pictures as placeholders."""
    words = [Word(_glyphs(w.text, w.fontname), w.x0, w.x1, w.top, w.bottom)
             for w in marks.words]
    pictures = [Word(IMAGE_MARK, i.x0, i.x1, i.top, i.bottom) for i in marks.images]
    return [*_with_drawn_boxes(words, marks.rects), *pictures]


def plumber_page_words(pdf: Any, number: int) -> list[Word]:
    """pdfplumber's reading of a page, for files pdfium cannot open."""
    try:
        page = pdf.pages[number]
        words = tuple(Mark(w["text"], float(w["x0"]), float(w["x1"]), float(w["top"]),
                           float(w["bottom"]), str(w.get("fontname", "")))
                      for w in page.extract_words(extra_attrs=["fontname"]))
        rects = tuple(Mark("", float(r["x0"]), float(r["x1"]), float(r["top"]),
                           float(r["bottom"])) for r in page.rects)
    except Exception:  # one unreadable page must not lose the others
        return []
    return marks_to_words(PageMarks(words, rects, _images(page)))


def _images(page: Any) -> tuple[Mark, ...]:
    """Pictures on the page (a scanned signature, a stamp)."""
    try:
        return tuple(Mark("", float(i["x0"]), float(i["x1"]), float(i["top"]),
                          float(i["bottom"])) for i in page.images)
    except Exception:  # a broken image dictionary is no picture
        return ()


def _text_words(words: Sequence[Word]) -> list[Word]:
    return [w for w in words if w.text != IMAGE_MARK]


_TICKS = {"x", "X", "✓", "✔", "✗", "✘", "■"}


_MAX_DRAWN_BOXES = 400  # a page of comb fields is no list of check boxes


def _with_drawn_boxes(words: list[Word], rects: Sequence[Mark]) -> list[Word]:
    """Small drawn squares become ☐, or ☒ when a tick is written inside them."""
    boxes = [r for r in rects if 5 <= r.width <= 16 and 5 <= r.height <= 16
             and abs(r.width - r.height) <= 2][:_MAX_DRAWN_BOXES]
    marks: list[Word] = []
    inked: set[int] = set()
    for box in boxes:
        x0, x1, top, bottom = box.x0, box.x1, box.top, box.bottom
        inside = [i for i, w in enumerate(words) if w.x0 >= x0 - 1 and w.x1 <= x1 + 1
                  and w.top >= top - 2 and w.bottom <= bottom + 2]
        ticked = any(words[i].text in _TICKS for i in inside)
        inked.update(inside)
        marks.append(Word(CHECKED_MARK if ticked else UNCHECKED_MARK, x0, x1, top, bottom))
    return [w for i, w in enumerate(words) if i not in inked] + marks


def _glyphs(text: str, fontname: str) -> str:
    if "dingbat" not in fontname.lower():
        return text
    return "".join(_DINGBATS.get(c, c) for c in text)


def _lines(words: Sequence[Word]) -> list[list[Word]]:
    """Words grouped into lines by their vertical position, each sorted left to right."""
    lines: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (round(w.top), w.x0)):
        line = lines[-1] if lines else None
        if line and abs(word.top - line[0].top) <= max(2.0, 0.4 * (word.bottom - word.top)):
            line.append(word)
        else:
            lines.append([word])
    return [sorted(line, key=lambda w: w.x0) for line in lines]


def _segments(line: Sequence[Word]) -> list[Segment]:
    """Split a line where the gap is wider than about one letter height (a column gap)."""
    if not line:
        return []
    height = sorted(w.bottom - w.top for w in line)[len(line) // 2]
    gap = max(6.0, 0.9 * height)
    groups: list[list[Word]] = [[line[0]]]
    for word in line[1:]:
        if word.x0 - groups[-1][-1].x1 > gap:
            groups.append([word])
        else:
            groups[-1].append(word)
    return [Segment(tuple(g)) for g in groups]


def labels_beside(words: Sequence[Word], rect: tuple[float, float, float, float],
                  right_first: bool = False) -> list[str]:
    """Texts printed next to a widget, nearest first: left, right (first for boxes), above."""
    # A label on the left may wrap over the widget's height: its lines are joined.
    x0, top, x1, bottom = rect
    words = _text_words(words)
    beside = [w for w in words if top - 2 <= (w.top + w.bottom) / 2 <= bottom + 2]
    left = _nearest_block([w for w in beside if w.x1 <= x0 + 2], from_right=True)
    right = _nearest_block([w for w in beside if w.x0 >= x1 - 2], from_right=False)
    found = [*right, *left] if right_first else [*left, *right]
    return [*found, *_above(words, rect)]


def _nearest_block(words: Sequence[Word], from_right: bool) -> list[str]:
    """The segment nearest the widget on each line; the first line alone, then all joined."""
    parts = []
    for line in _lines(words):
        segments = _segments(line)
        if segments:
            parts.append((segments[-1] if from_right else segments[0]).text)
    return list(dict.fromkeys([*parts[:1], " ".join(parts)])) if parts else []


def _above(words: Sequence[Word], rect: tuple[float, float, float, float]) -> list[str]:
    """The nearest line just above a widget, the part of it over the widget."""
    x0, top, x1, bottom = rect
    reach = max(24.0, 2.5 * (bottom - top))
    near = [w for w in words if top - reach <= w.bottom <= top + 2]
    for line in reversed(_lines(near)):
        over = [s for s in _segments(line) if s.x0 <= x1 and s.x1 >= x0 - 2]
        if over:
            return [over[0].text]
    return []


# --- labels and values laid out on the page -------------------------------------------------


@dataclass(frozen=True)
class _Page:
    """One page's lines of segments, for pairing labels with values."""

    number: int  # 0-based
    lines: tuple[tuple[Segment, ...], ...]
    images: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Layout:
    """What the printed page shows: values by their labels, labels hit, signature lines."""

    values: tuple[FieldValue, ...]
    labels: tuple[LabelRule, ...]
    signatures: tuple[Signature, ...]


def layout_values(rules: ExtractionRules, words: dict[int, list[Word]],
                  widgets: Sequence[FormField] = ()) -> Layout:
    """Printed 'label value' pairs: same line, 'Label: value', or value on the line below."""
    values: list[FieldValue] = []
    labels: list[LabelRule] = []
    signatures: list[Signature] = []
    for number, page_words in sorted(words.items()):
        page = _Page(number, tuple(tuple(_segments(line))
                                   for line in _lines(_text_words(page_words))),
                     tuple(w for w in page_words if w.text == IMAGE_MARK))
        boxes = [f.rect for f in widgets if f.page == number + 1 and f.rect]
        for found, label in _page_pairs(rules, page, boxes):
            if label is not None:  # labels read word for word: they tell the language
                labels.append(label)
            if found is not None:
                values.append(found)
        values.extend(_page_boxes(rules, page))
        signatures.extend(_printed_signatures(rules, page, boxes))
    return Layout(tuple(values), tuple(labels), tuple(signatures))


def _page_pairs(rules: ExtractionRules, page: _Page,
                boxes: Sequence[tuple[float, float, float, float]],
                ) -> Iterator[tuple[FieldValue | None, LabelRule | None]]:
    for row, line in enumerate(page.lines):
        header = _header(rules, line)
        taken: set[int] = set()
        for column, segment in enumerate(line):
            if column in taken:
                continue
            match = split_line(rules, segment.text)
            if match is None or _owned_by_widget(segment, boxes) or _wrapped(match):
                continue
            found, used = _pair(rules, page, row, column, match, header)
            taken |= used
            yield found, (match.rule if match.score == 1.0 else None)


def _wrapped(match: LabelMatch) -> bool:
    """Whether a lone lower-case 'label' is the tail of a wrapped sentence, not a label."""
    # e.g. a title wrapped as "... dans l'intérêt d'un" / "patient (usage compassionnel)".
    return not match.value and match.label[:1].islower()


def _header(rules: ExtractionRules, line: Sequence[Segment]) -> bool:
    """Whether a line is a row of labels over their values: labels only, and none of them
    a value of the label before it ('Role of the applicant   Manufacturer')."""
    matches = [split_line(rules, s.text) for s in line]
    if len(line) < 2 or any(m is None or m.value for m in matches):
        return False
    return not any(m is not None and reads_as_value(rules, m.rule.key, s.text)
                   for m, s in zip(matches, line[1:], strict=False))


def _bare_label(rules: ExtractionRules, segment: Segment) -> bool:
    match = split_line(rules, segment.text)
    return match is not None and not match.value


def _owned_by_widget(segment: Segment, boxes: Sequence[tuple[float, float, float, float]],
                     ) -> bool:
    """A printed label whose value is a form field (read from the form, not the page)."""
    for x0, top, x1, bottom in boxes:
        middle = (segment.top + segment.bottom) / 2
        beside = top - 2 <= middle <= bottom + 2 and x0 >= segment.x1 - 2
        below = 0 <= top - segment.bottom <= 30 and x0 <= segment.x1 and x1 >= segment.x0
        if beside or below:
            return True
    return False


def _pair(rules: ExtractionRules, page: _Page, row: int, column: int, match: LabelMatch,
          header: bool) -> tuple[FieldValue | None, set[int]]:
    """The value of one label: after it, in the next segment, or below it."""
    segment = page.lines[row][column]
    multiline = _multiline(rules, match.rule.key)
    source = Source(filename=None, sha256=None, channel="pdf_text", page=page.number + 1,
                    label=match.label)
    beside = None if header else _value_beside(rules, page.lines[row], column, match.rule.key)
    used: set[int] = set()
    if match.value:
        # A 'Label: value' line that wraps carries on under the label, whatever the field.
        parts = [match.value, *_continued(rules, page, row, segment)]
        confidence = LINE_CONFIDENCE
    elif beside is not None:
        parts = [beside.text, *(_continued(rules, page, row, beside) if multiline else [])]
        confidence, used = LINE_CONFIDENCE, {column + 1}
    else:
        parts = _below(rules, page, row, segment, multiline, match.rule.key)
        confidence = BELOW_CONFIDENCE
    raw = " ".join(parts)
    if not raw or has_box(raw):
        return None, used  # a row of boxes gives its value as ticked boxes
    return label_value(rules, match, raw, source, confidence), used


def _value_beside(rules: ExtractionRules, line: Sequence[Segment], column: int,
                  key: str) -> Segment | None:
    """The next segment when it is a value; a label-like word counts only if last, or if
    it reads as a value of the field ('Class III')."""
    if column + 1 >= len(line):
        return None
    text = line[column + 1].text
    following = split_line(rules, text)
    if (following is None or (not following.value and column + 2 == len(line))
            or reads_as_value(rules, key, text)):
        return line[column + 1]
    return None


def _multiline(rules: ExtractionRules, key: str) -> bool:
    field_rule = rules.field_rule(key)
    return bool(field_rule and field_rule.multiline)


def _is_labelled(rules: ExtractionRules, line: Sequence[Segment]) -> bool:
    return any(split_line(rules, s.text) is not None or has_box(s.text) for s in line)


def _below(rules: ExtractionRules, page: _Page, row: int, label: Segment,
           multiline: bool, key: str) -> list[str]:
    """Text under a label: the segment below that overlaps it, and more lines if free text."""
    reach = 2.5 * (label.bottom - label.top)
    for next_row in range(row + 1, min(row + 3, len(page.lines))):
        line = page.lines[next_row]
        if line[0].top - label.bottom > reach:
            return []
        under = [s for s in line if s.x0 <= label.x1 and s.x1 >= label.x0 - 2]
        if not under:
            continue
        labelled = split_line(rules, under[0].text) is not None or has_box(under[0].text)
        if labelled and not reads_as_value(rules, key, under[0].text):
            return []
        more = _continued(rules, page, next_row, under[0]) if multiline else []
        return [under[0].text, *more]
    return []


_LABEL_LIKE = re.compile(r"^[^:;.!?]{2,60}:\s")


def _continued(rules: ExtractionRules, page: _Page, row: int, start: Segment) -> list[str]:
    """Lines that carry a value on: aligned with it, at wrapped-text spacing, no label."""
    # A 'Something: ...' line is taken for an unknown label and ends the value too.
    taken: list[str] = []
    previous = start
    for line in page.lines[row + 1:row + 40]:
        spacing = line[0].top - previous.top
        if spacing > 1.45 * (previous.bottom - previous.top) or (
                _is_labelled(rules, line) and not line[0].text[:1].islower()):
            break
        aligned = [s for s in line if abs(s.x0 - start.x0) <= 4]
        text = " ".join(s.text for s in line if s.x0 >= start.x0 - 4)
        # A wrapped sentence may carry a colon on ('... Expected benefit: significant.'):
        # a line that starts in lower case goes on, whatever it looks like.
        if not aligned or (_LABEL_LIKE.match(text) and not text[:1].islower()):
            break
        taken.append(text)
        previous = aligned[0]
    return taken


def _page_boxes(rules: ExtractionRules, page: _Page) -> list[FieldValue]:
    """Ticked boxes printed as glyphs on the page (☒ Manufacturer)."""
    found: list[FieldValue] = []
    source = Source(filename=None, sha256=None, channel="pdf_text", page=page.number + 1)
    for line in page.lines:
        found.extend(boxes_on_line(rules, " ".join(s.text for s in line), source))
    return found


# --- printed signature lines --------------------------------------------------------------

_SIGNATURE_REACH = 90.0
_ABOVE_REACH = 40.0


def _printed_signatures(rules: ExtractionRules, page: _Page,
                        boxes: Sequence[tuple[float, float, float, float]],
                        ) -> Iterator[Signature]:
    """A printed 'Signature' line with a picture or a signing stamp under it: signed."""
    for row, line in enumerate(page.lines):
        for segment in line:
            if not signature_label(rules, segment.text) or _owned_by_widget(segment, boxes):
                continue
            under = _under_signature(rules, page, row, segment)
            if under is None:
                continue
            source = Source(filename=None, sha256=None, channel="pdf_text",
                            page=page.number + 1, label=segment.text)
            yield Signature(segment.text, under, page.number + 1, source)


def _under_signature(rules: ExtractionRules, page: _Page, row: int,
                     label: Segment) -> bool | None:
    """Signed or not, from what lies under the label; None if the label is a heading."""
    # A heading ("C. Signature of the physician") is followed at once by the real line.
    texts: list[str] = []
    for line in page.lines[row + 1:]:
        if line[0].top - label.bottom > _SIGNATURE_REACH:
            break
        if any(signature_label(rules, s.text) for s in line) and not texts:
            return None
        if _is_labelled(rules, line) and not says_signed(rules, " ".join(texts)):
            break
        texts.append(" ".join(s.text for s in line))
    # A drawn or scanned signature may sit under the label, or over the printed line beside
    # it and the space just above it.
    pictured = any(i.bottom >= label.top - _ABOVE_REACH and i.top - label.bottom <= _SIGNATURE_REACH
                   and i.x1 >= label.x0 for i in page.images)
    return pictured or says_signed(rules, " ".join(texts))

