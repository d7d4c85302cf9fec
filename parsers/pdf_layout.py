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
from functools import cached_property
from typing import Any

import pdfplumber

from config.extraction_rules import ExtractionRules, LabelRule
from parsers.label_match import ends_open
from parsers.labels import (
    BELOW_CONFIDENCE,
    LINE_CONFIDENCE,
    LabelMatch,
    boxes_on_line,
    has_box,
    label_value,
    opens_dated_field,
    owns_label,
    run_on_label,
    says_signed,
    signature_label,
    split_line,
    value_of_label,
)
from parsers.pdf_marks import Mark, PageMarks, PdfiumFile
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

    # Worked out once: a page's pairing asks each segment for them many times.
    @cached_property
    def text(self) -> str:
        """The words joined by spaces."""
        return " ".join(w.text for w in self.words)

    @property
    def x0(self) -> float:
        """Left edge."""
        return self.words[0].x0

    @cached_property
    def x1(self) -> float:
        """Right edge."""
        return max(w.x1 for w in self.words)

    @cached_property
    def top(self) -> float:
        """Top edge."""
        return min(w.top for w in self.words)

    @cached_property
    def bottom(self) -> float:
        """Bottom edge."""
        return max(w.bottom for w in self.words)


# ZapfDingbats draws ticks and boxes with plain letters; read them as the glyphs they show.
_DINGBATS = {"4": "✔", "3": "✓", "8": "✘", "7": "✗", "5": "✕", "n": "■", "o": "❏",
             "p": "❏", "q": "❑", "r": "❑", "l": "●", "m": "❍", "u": "◆"}


def page_words(data: bytes, numbers: Sequence[int],
               pdfium_file: PdfiumFile | None) -> dict[int, list[Word]]:
    """Words with positions for the given 0-based pages; pages that fail give none.

    pdfium reads them (``pdfium_file``, the file opened in parsers.pdf_marks: several times
    faster than pdfplumber with the same words on the forms); a file pdfium cannot open
    (None) is read by pdfplumber instead.
    """
    if not numbers:
        return {}
    if pdfium_file is not None:
        return {n: marks_to_words(pdfium_file.marks(n)) for n in numbers}
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
        page = _Page(number, tuple(tuple(_run_ons(rules, _segments(line)))
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


def _run_ons(rules: ExtractionRules, segments: Sequence[Segment]) -> Iterator[Segment]:
    """Segments, a label run into its value ('Number of items requested 16 units') cut in two
    (a long label may come closer to its value than the gap that parts segments)."""
    for segment in segments:
        whole = split_line(rules, segment.text)
        cut = None if whole is not None and whole.value else run_on_label(
            rules, [w.text for w in segment.words])
        if cut is None:
            yield segment
        else:
            yield Segment(segment.words[:cut])
            yield Segment(segment.words[cut:])


def _page_pairs(rules: ExtractionRules, page: _Page,
                boxes: Sequence[tuple[float, float, float, float]],
                ) -> Iterator[tuple[FieldValue | None, LabelRule | None]]:
    # The second lines of labels wrapped in their cell, and lines of a free text that read as
    # its field's label: neither is a label of its own.
    tails: set[tuple[int, int]] = set()
    for row, line in enumerate(page.lines):
        header = _header(rules, line)
        taken: set[int] = set()
        for column, segment in enumerate(line):
            if column in taken or (row, column) in tails:
                continue
            match = split_line(rules, segment.text)
            if ((match is None or not match.decided or ends_open(segment.text))
                    and (wrapped := _wrapped_label(rules, page, row, segment))):
                segment, below = wrapped
                tails |= below
                match = split_line(rules, segment.text)
            if match is None or _owned_by_widget(segment, boxes) or _wrapped(match):
                continue
            found, used = _pair(rules, page, row, column, match, header, segment, tails)
            taken |= used
            yield found, (match.rule if match.score == 1.0 else None)


def _wrapped_label(rules: ExtractionRules, page: _Page, row: int, segment: Segment,
                   more: int = 1) -> tuple[Segment, set[tuple[int, int]]] | None:
    """A label wrapped in its cell ('Naam van het' over 'contactpunt'): the lines as one,
    when only together they make a label, and where the lines after the first are. A label
    cut on an article or preposition ('Gelieve aan te geven in welke' over 'hoedanigheid de
    organisatie deze aanvraag' over 'indient') may run on over longer lines, and one more."""
    if row + 1 >= len(page.lines) or segment.text.endswith(":"):
        return None
    height = segment.bottom - segment.top
    open_ = ends_open(segment.text)
    for column, below in enumerate(page.lines[row + 1]):
        if (abs(below.x0 - segment.x0) <= 2 and 0 <= below.top - segment.bottom <= 0.6 * height
                and len(below.words) <= (_OPEN_WRAP_WORDS if open_ else 3)):
            joined = Segment(segment.words + below.words)
            match = split_line(rules, joined.text)
            # (a label asking two fields is as clear: 'Extent of use' over '(units and time)')
            if match is not None and (match.decided or match.combined) and not match.value:
                return joined, {(row + 1, column)}
            if more and open_ and ends_open(joined.text):
                deeper = _wrapped_label(rules, page, row + 1, joined, more - 1)
                if deeper is not None:
                    return deeper[0], {(row + 1, column), *deeper[1]}
    return None


_OPEN_WRAP_WORDS = 8


_OPENING = "<([{'\"‘“«"  # brackets and quotes that open a placeholder or a quotation


def _wrapped(match: LabelMatch) -> bool:
    """Whether a lone lower-case 'label' is the tail of a wrapped sentence, not a label."""
    # e.g. a title wrapped as "... dans l'intérêt d'un" / "patient (usage compassionnel)";
    # or an instruction's placeholder wrapped as "... subject 'Compassionate Use -" /
    # "<hospital name> - <patient initials>'": lower case after its bracket or quote.
    return not match.value and match.label.lstrip(_OPENING)[:1].islower()


def _header(rules: ExtractionRules, line: Sequence[Segment]) -> bool:
    """Whether a line is a row of labels over their values: labels only, and none of them
    a value of the label before it ('Role of the applicant   Manufacturer')."""
    matches = [split_line(rules, s.text) for s in line]
    if len(line) < 2 or any(m is None or m.value for m in matches):
        return False
    return not any(value_of_label(rules, m, s.text)
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
          header: bool, segment: Segment, owned: set[tuple[int, int]],
          ) -> tuple[FieldValue | None, set[int]]:
    """The value of one label: after it, in the next segment, or below it."""
    multiline = _multiline(rules, match.rule.key)
    own = _Owner(match.rule.key if multiline else None, owned)
    source = Source(filename=None, sha256=None, channel="pdf_text", page=page.number + 1,
                    label=match.label)
    beside = None if header else _value_beside(rules, page.lines[row], column, match)
    used: set[int] = set()
    if match.value:
        # A 'Label: value' line that wraps carries on under the label, whatever the field.
        parts = [match.value, *_continued(rules, page, row, segment, own=own)]
        confidence = LINE_CONFIDENCE
    elif beside is not None:
        parts = [beside.text, *_continued(rules, page, row, beside, segment,
                                           wrap_only=not multiline, own=own)]
        confidence, used = LINE_CONFIDENCE, {column + 1}
    else:
        parts = _below(rules, page, row, segment, match, own)
        confidence = BELOW_CONFIDENCE
    raw = " ".join(parts)
    if not raw or has_box(raw):
        return None, used  # a row of boxes gives its value as ticked boxes
    return label_value(rules, match, raw, source, confidence), used


def _value_beside(rules: ExtractionRules, line: Sequence[Segment], column: int,
                  match: LabelMatch) -> Segment | None:
    """The next segment when it is a value; a label-like word counts only if last, or if it
    is the label's value all the same (``value_of_label``: 'Class III', 'Hôpital Erasme')."""
    if column + 1 >= len(line):
        return None
    text = line[column + 1].text
    following = split_line(rules, text)
    if (following is None or (not following.value and column + 2 == len(line))
            or value_of_label(rules, match, text)):
        return line[column + 1]
    # In a row of 'label value label value' cells, a value that looks like a label
    # ('Hospital name   Hôpital Erasme   Physician   Dr Benali') sits between two labels.
    if not following.value and split_line(rules, line[column + 2].text) is not None:
        return line[column + 1]
    return None


def _multiline(rules: ExtractionRules, key: str) -> bool:
    field_rule = rules.field_rule(key)
    return bool(field_rule and field_rule.multiline)


def _is_labelled(rules: ExtractionRules, line: Sequence[Segment], decided: bool = False,
                 ) -> bool:
    """Whether a line holds a label or boxes; ``decided``: a label clear of other fields."""
    return any(has_box(s.text) or ((match := split_line(rules, s.text)) is not None
                                   and (match.decided or not decided)) for s in line)


def _below(rules: ExtractionRules, page: _Page, row: int, label: Segment, match: LabelMatch,
           own: _Owner) -> list[str]:
    """Text under a label: the segment below that overlaps it, and more lines if free text."""
    reach = 2.5 * (label.bottom - label.top)
    for next_row in range(row + 1, min(row + 3, len(page.lines))):
        line = page.lines[next_row]
        if line[0].top - label.bottom > reach:
            return []
        under = [s for s in line if s.x0 <= label.x1 and s.x1 >= label.x0 - 2]
        if not under:
            continue
        if under[0].text.count(")") > under[0].text.count("("):
            return []  # the end of a label or title whose bracket opened above: 'Belgium)'
        labelled = split_line(rules, under[0].text) is not None or has_box(under[0].text)
        if labelled and not value_of_label(rules, match, under[0].text):
            return []
        more = _continued(rules, page, next_row, under[0], label, own=own) if own.key else []
        return [under[0].text, *more]
    return []


_LABEL_LIKE = re.compile(r"^[^:;.!?]{2,60}:\s")


_WRAP_CHARS = 3


@dataclass(frozen=True)
class _Owner:
    """The field of a free text being read (None: not free text), and where to note the
    lines inside it that read as that field's label ('Expected benefit: ...')."""

    key: str | None
    owned: set[tuple[int, int]]


def _continued(rules: ExtractionRules, page: _Page, row: int, start: Segment,
               label: Segment | None = None, wrap_only: bool = False,
               own: _Owner | None = None) -> list[str]:
    """Lines that carry a value on: aligned with it, at wrapped-text spacing, no label.

    ``label``: the value's label, when the value stands apart from it (beside it, or under
    it and indented); ``wrap_only``: one wrapped line at most, and only with nothing left of
    the value (an address that runs on to its country); ``own``: a free text's field, whose
    label on a line inside the text is the text's own (``owns_label``)."""
    # A 'Something: ...' line is taken for an unknown label and ends the value too, unless it
    # lines up with a value that stands to the right of where labels start: there it is the
    # value's own text ('Expected benefit: avoiding open surgery.').
    indented = label is not None and start.x0 > label.x0 + 2
    taken: list[str] = []
    previous = start
    first = row + 1
    for number, line in enumerate(page.lines[first:row + (2 if wrap_only else 40)], first):
        spacing = line[0].top - previous.top
        whole = " ".join(s.text for s in line)
        # (a line that ends a sentence, '2024. MDR conformity assessment ongoing.', is the
        # value's text even when its words sound like a label)
        sentence = whole.rstrip().endswith(".") and ":" not in whole
        columns = [c for c, s in enumerate(line) if s.x0 >= start.x0 - 4]
        ours = own is not None and _own_line(rules, line, columns, own.key)
        if spacing > 1.45 * (previous.bottom - previous.top) or (
                _is_labelled(rules, line, indented) and not line[0].text[:1].islower()
                and not sentence and not ours):
            break
        aligned = [s for s in line if abs(s.x0 - start.x0) <= 4]
        text = " ".join(line[c].text for c in columns)
        if wrap_only and (any(s.x0 < start.x0 - 4 for s in line) or len(text) < _WRAP_CHARS):
            break  # (a speck or a stray letter under a value is no wrapped word)
        # A wrapped sentence may carry a colon on ('... Expected benefit: significant.'):
        # a line that starts in lower case goes on, whatever it looks like.
        if not aligned or (not indented and not ours and (
                (_LABEL_LIKE.match(text) and not text[:1].islower()) or opens_dated_field(text))):
            break
        if ours and own is not None:
            own.owned.update((number, c) for c in columns)
        taken.append(text)
        previous = aligned[0]
    return taken


def _own_line(rules: ExtractionRules, line: Sequence[Segment], columns: Sequence[int],
              key: str | None) -> bool:
    """Whether a line inside a free text reads as a label of the text's own field only."""
    matches = [split_line(rules, line[c].text) for c in columns]
    return any(m is not None for m in matches) and all(
        m is None or owns_label(m, key) for m in matches)


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
        for column, segment in enumerate(line):
            if (not signature_label(rules, segment.text) or _owned_by_widget(segment, boxes)
                    or _tail_of_label(rules, page, row, column)):
                continue
            under = _under_signature(rules, page, row, segment)
            if under is None:
                continue
            source = Source(filename=None, sha256=None, channel="pdf_text",
                            page=page.number + 1, label=segment.text)
            yield Signature(segment.text, under, page.number + 1, source)


def _tail_of_label(rules: ExtractionRules, page: _Page, row: int, column: int) -> bool:
    """Whether a segment is the second line of a label wrapped in its cell ('Plaats en datum'
    over 'van ondertekening': the date of signing, not a line to sign on)."""
    for above in page.lines[row - 1] if row else ():
        wrapped = _wrapped_label(rules, page, row - 1, above)
        if wrapped is not None and (row, column) in wrapped[1]:
            return True
    return False


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

